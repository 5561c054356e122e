#!/usr/bin/env node
// Where each door's CPU goes, by thread: ferry pinned to core 1 (one core, as a 1-vCPU VM), wrk
// -t1 on core 0, one worker thread, lz4 → directory, 100 events a request. For W1 (/v1/events),
// WO (the OTLP records as ferry maps them, as NDJSON to /v1/events), OTLP (/v1/logs, protobuf),
// WB (/_bulk) and WBID (/_bulk, an `_id` per document): µs of CPU (utime + stime from
// /proc/PID/task/*/stat) per request on the main thread, the pipeline worker (the busiest other
// thread), and every other thread together (V8's GC helpers, libuv's pool: the write-ahead log's
// writes and fsyncs, the sink's files), and events per CPU-second against W1's; and context
// switches per request (all threads: each one a sleep or a preemption). Rounds alternate the
// workloads; medians are shown.
//
// usage: npm run build && node bench/thread-split.mjs [--duration 8] [--connections 64] [--rounds 2] [--ack durable] [--only W1,WB] [--commit-delay MS]
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_NODE_FLAGS, startServer, stopServer, threadCpu } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';
import { writeOtlpBody, writeOtlpMappedBody } from './lib/otlp-payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    connections: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '2' },
    ack: { type: 'string', default: 'durable' },
    only: { type: 'string' },
    /** wal.commit_delay_ms (the default when not given). */
    'commit-delay': { type: 'string' },
  },
});
requireWrk();

const work = mkdtempSync(join(tmpdir(), 'ferry-thread-split-'));
const bodies = writeBodies(work);
const mapped = writeOtlpMappedBody(work);
/** @type {Record<string, { path: string, body: string, type: string }>} */
const LOADS = {
  W1: { path: '/v1/events', body: bodies.w1, type: 'application/x-ndjson' },
  WO: { path: '/v1/events', body: mapped.file, type: 'application/x-ndjson' },
  OTLP: { path: '/v1/logs', body: writeOtlpBody(work), type: 'application/x-protobuf' },
  WB: { path: '/_bulk', body: bodies.wb, type: 'application/x-ndjson' },
  WBID: { path: '/_bulk', body: bodies.wbid, type: 'application/x-ndjson' },
};
const names = opt.only ? opt.only.split(',') : Object.keys(LOADS);

/** @param {string} name */
async function measure(name) {
  const load = LOADS[name];
  const dir = mkdtempSync(join(work, `${name}-`));
  const port = 18700 + Math.floor(Math.random() * 90);
  const cfg = join(dir, 'ferry.yaml');
  writeFileSync(
    cfg,
    JSON.stringify({
      state_dir: dir,
      listen: { host: '127.0.0.1', port },
      http: { ack: opt.ack },
      otlp: { enabled: true },
      workers: { threads: 1 },
      ...(opt['commit-delay'] !== undefined
        ? { wal: { commit_delay_ms: Number(opt['commit-delay']) } }
        : {}),
      batch: { codec: 'lz4' },
      sinks: [{ name: 'local', type: 'directory', path: join(dir, 'out') }],
      log: { level: 'info' },
    }),
  );
  const p = await startServer({
    argv: [process.execPath, ...FERRY_NODE_FLAGS, 'dist/src/cli.js', 'run', '--config', cfg],
    cwd: ROOT,
    readyMsg: 'ferry listening',
    wrap: (argv) => ['taskset', '-c', '1', ...argv],
  });
  try {
    const w = {
      url: `http://127.0.0.1:${port}${load.path}`,
      bodyFile: load.body,
      contentType: load.type,
      connections: Number(opt.connections),
      threads: 1,
      cpus: '0',
    };
    wrk({ ...w, seconds: 3 }); // warm-up
    const before = threadCpu(p.pid);
    const r = wrk({ ...w, seconds: Number(opt.duration) });
    const after = threadCpu(p.pid);
    if (r.non2xx > 0) throw new Error(`${name}: ${r.non2xx} answers were not 2xx`);
    const main = String(p.pid);
    /** @type {[string, number][]} */
    const used = [...after.cpu].map(([tid, s]) => [tid, s - (before.cpu.get(tid) ?? 0)]);
    const others = used.filter(([tid]) => tid !== main).sort((a, b) => b[1] - a[1]);
    const us = (/** @type {number} */ s) => (s * 1e6) / r.requests;
    const mainUs = us(used.find(([tid]) => tid === main)?.[1] ?? 0);
    const workerUs = us(others[0]?.[1] ?? 0);
    const restUs = us(others.slice(1).reduce((n, [, s]) => n + s, 0));
    return {
      main: mainUs,
      worker: workerUs,
      rest: restUs,
      total: mainUs + workerUs + restUs,
      switches: (after.switches - before.switches) / r.requests,
    };
  } finally {
    await stopServer(p);
  }
}

/** @type {Record<string, { main: number, worker: number, rest: number, total: number, switches: number }[]>} */
const runs = Object.fromEntries(names.map((n) => [n, []]));
for (let round = 0; round < Number(opt.rounds); round++)
  for (const n of names) {
    console.error(`bench: ${n}, round ${round + 1} …`);
    runs[n].push(await measure(n));
  }

/** @param {number[]} xs */
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
/** @param {string} n @param {'main' | 'worker' | 'rest' | 'total' | 'switches'} k */
const med = (n, k) => median(runs[n].map((r) => r[k]));
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
console.log(
  `Thread split: ferry under taskset -c 1, wrk -t1 -c${opt.connections} on core 0, ack=${opt.ack}${opt['commit-delay'] !== undefined ? `, wal.commit_delay_ms ${opt['commit-delay']}` : ''}, ${opt.duration} s after a 3 s warm-up, ${opt.rounds} round(s), medians; ${EVENTS_PER_REQ} events a request (W1 ~${bodies.avgEventBytes} B, WO ~${mapped.avgEventBytes} B).\nMachine: ${machine}\n`,
);
console.log(
  '| door | main µs/req | worker µs/req | other threads µs/req | total µs/req | context switches/req | events per CPU-second | vs W1 |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
const w1 = runs.W1 ? med('W1', 'total') : undefined;
for (const n of names) {
  const total = med(n, 'total');
  const perCpuS = (EVENTS_PER_REQ * 1e6) / total;
  console.log(
    `| ${n} | ${med(n, 'main').toFixed(1)} | ${med(n, 'worker').toFixed(1)} | ${med(n, 'rest').toFixed(1)} | ${total.toFixed(1)} | ${med(n, 'switches').toFixed(2)} | ${Math.round(perCpuS).toLocaleString('en-US')} | ${w1 ? `${Math.round((w1 / total) * 100)} %` : '–'} |`,
  );
}
