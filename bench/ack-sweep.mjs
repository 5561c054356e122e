#!/usr/bin/env node
// The ack-mode × concurrency sweep (issue 15): W1 (100 events × ~370 B NDJSON per request), lz4 →
// directory sink, one worker thread, ferry under a 1-vCPU quota and wrk outside it; for c = 1, 8,
// 32, 64, 256 connections and ack = durable (write-ahead log), delivered (every sink), accepted
// (in memory). Columns: events/s, events per CPU-second (ferry's utime+stime over all threads),
// p99 ack latency, archive objects written per minute, peak RSS, write-ahead-log bytes and fsyncs
// per event. Target: durable at every c ≥ 8 ≥ 80 % of accepted's events per CPU-second, p99 ≤ 50 ms.
//
// Rows run in rounds; within a round the three modes of one c run back to back, so a shared
// machine's drift falls on all three alike, and "vs accepted" is the median of each round's ratio.
//
// --pin: ferry on core 1 alone (taskset), wrk on core 0 — one core, as a 1-vCPU VM has it. The
// default, a 1-vCPU CFS quota over both cores, lets ferry's two threads spend a 100 ms period's
// quota in 50 ms and then stall for 50: at saturation that stall, not ferry, sets the p99.
//
// usage: npm run build && node bench/ack-sweep.mjs [--duration 10] [--rounds 1] [--pin] [--only TEXT] [--write]
//   ACK_PROF=DIR in the environment: ferry runs under --cpu-prof, profiles in DIR (bench/profile-summary.mjs)
//   --write   update bench/RESULTS.md (the "Ack modes × concurrency" section)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    only: { type: 'string' },
    write: { type: 'boolean', default: false },
    vcpu: { type: 'string', default: '1' },
    rounds: { type: 'string', default: '1' },
    pin: { type: 'boolean', default: false },
  },
});
const DURATION = Number(opt.duration);
const VCPU = Number(opt.vcpu);
requireWrk();

const work = mkdtempSync(join(tmpdir(), 'ferry-ack-sweep-'));
const bodies = writeBodies(work);
const CONNS = [1, 8, 32, 64, 256];
const MODES = /** @type {const} */ (['durable', 'delivered', 'accepted']);
const ROUNDS = Number(opt.rounds);
const rows = Array.from({ length: ROUNDS }, (_, round) =>
  CONNS.flatMap((c) => MODES.map((ack) => ({ ack, c, round }))),
)
  .flat()
  .filter((r) => !opt.only || `ack=${r.ack} c=${r.c}`.includes(opt.only));

/**
 * A counter's value from ferry's /metrics (a fresh connection each time: a pooled one may have
 * been closed by the server's keep-alive timeout during the run).
 * @param {number} port
 * @param {string} name
 */
async function metric(port, name) {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { connection: 'close' } });
  const text = await res.text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  return m ? Number(m[1]) : 0;
}

/** @typedef {{ name: string, ack: string, c: number, round: number, sysShare: number, eventsPerSec: number, eventsPerCpuSec: number, p99: number, objectsPerMin: number, rss: number, walBytesPerEvent: number, fsyncsPerEvent: number, errors: string | number, how: string }} Row */
/** @type {Row[]} */
const results = [];
for (const r of rows) {
  const name = `ack=${r.ack} c=${r.c}`;
  process.stderr.write(`ack-sweep: round ${r.round + 1}/${ROUNDS} ${name} …\n`);
  const port = 28800 + Math.floor(Math.random() * 900);
  const dir = mkdtempSync(join(work, 'ferry-'));
  const out = join(dir, 'out');
  const cfgFile = join(dir, 'ferry.yaml');
  writeFileSync(
    cfgFile,
    JSON.stringify({
      state_dir: dir,
      listen: { host: '127.0.0.1', port },
      http: { ack: r.ack },
      workers: { threads: 1 },
      // The defaults: 5000 events or 1 s per batch.
      batch: { codec: 'lz4' },
      sinks: [{ name: 'local', type: 'directory', path: out }],
      log: { level: 'info' },
    }),
  );
  const quota = opt.pin
    ? {
        how: 'taskset -c 1 (one core; wrk on core 0)',
        wrap: (/** @type {string[]} */ argv) => ['taskset', '-c', '1', ...argv],
        close() {},
      }
    : cpuQuota(VCPU);
  try {
    const p = await startServer({
      argv: [
        process.execPath,
        ...FERRY_NODE_FLAGS,
        ...(process.env.ACK_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ACK_PROF}`] : []),
        'dist/src/cli.js',
        'run',
        '--config',
        cfgFile,
      ],
      cwd: ROOT,
      readyMsg: 'ferry listening',
      wrap: quota.wrap,
    });
    try {
      const load = {
        url: `http://127.0.0.1:${port}/v1/events`,
        bodyFile: bodies.w1,
        connections: r.c,
        threads: Math.min(opt.pin ? 1 : 2, r.c),
        ...(opt.pin ? { cpus: '0' } : {}),
      };
      wrk({ ...load, seconds: 3 }); // warm-up
      // Objects written = batches sealed (one object per batch with one sink). Not files on disk:
      // W1 repeats one body, so equal batches get the same key and overwrite each other.
      const objs0 = await metric(port, 'batch_events_count');
      const walBytes0 = await metric(port, 'wal_append_bytes_total');
      const fsyncs0 = await metric(port, 'wal_fsyncs_total');
      const c0 = cpuSeconds(p.pid);
      const s0 = cpuSeconds(p.pid, 'system');
      const w = wrk({ ...load, seconds: DURATION });
      const cpu = cpuSeconds(p.pid) - c0;
      const sys = cpuSeconds(p.pid, 'system') - s0;
      const walBytes = (await metric(port, 'wal_append_bytes_total')) - walBytes0;
      const fsyncs = (await metric(port, 'wal_fsyncs_total')) - fsyncs0;
      const objs = (await metric(port, 'batch_events_count')) - objs0;
      const ok = (w.requests - w.non2xx) * EVENTS_PER_REQ;
      results.push({
        name,
        ack: r.ack,
        c: r.c,
        round: r.round,
        sysShare: cpu > 0 ? sys / cpu : 0,
        eventsPerSec: ok / DURATION,
        eventsPerCpuSec: ok / cpu,
        p99: w.p99,
        objectsPerMin: (objs * 60) / DURATION,
        rss: peakRssMiB(p.pid),
        walBytesPerEvent: ok ? walBytes / ok : 0,
        fsyncsPerEvent: ok ? fsyncs / ok : 0,
        errors: w.non2xx + (w.socketErrors ? ` (${w.socketErrors})` : ''),
        how: quota.how,
      });
    } finally {
      await stopServer(p);
    }
  } finally {
    quota.close();
  }
}

/** @param {number} n @param {number} [d] */
const fmt = (n, d = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : '–';
/** @param {number[]} xs */
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0
    ? Number.NaN
    : v.length % 2
      ? v[v.length >> 1]
      : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
/** Each round's ratio of this row's events per CPU-second to accepted's at the same c. */
const ratios = (/** @type {{ ack: string, c: number }} */ key) =>
  results
    .filter((x) => x.ack === key.ack && x.c === key.c)
    .map((x) => {
      const a = results.find((y) => y.ack === 'accepted' && y.c === x.c && y.round === x.round);
      return a ? (100 * x.eventsPerCpuSec) / a.eventsPerCpuSec : Number.NaN;
    })
    .filter(Number.isFinite);
const keys = [
  ...new Map(results.map((x) => [x.name, { ack: x.ack, c: x.c, name: x.name }])).values(),
];
const table = [
  `| ack | c | events/s | events per CPU-second | vs accepted (per CPU-s)${ROUNDS > 1 ? ', each round' : ''} | kernel share of CPU | p99 ms | objects/min | peak RSS MiB | WAL bytes/event | fsyncs/event | errors |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...keys.map((k) => {
    const xs = results.filter((x) => x.name === k.name);
    const m = (/** @type {(x: Row) => number} */ f) => median(xs.map(f));
    const rs = ratios(k);
    const vs =
      rs.length === 0
        ? '–'
        : `${fmt(median(rs))} %${rs.length > 1 ? ` (${rs.map((r) => fmt(r)).join(' / ')})` : ''}`;
    const errors = xs.map((x) => x.errors).join(' / ');
    return `| ${k.ack} | ${k.c} | ${fmt(m((x) => x.eventsPerSec))} | ${fmt(m((x) => x.eventsPerCpuSec))} | ${vs} | ${fmt(100 * m((x) => x.sysShare))} % | ${fmt(
      m((x) => x.p99),
      2,
    )} | ${fmt(m((x) => x.objectsPerMin))} | ${fmt(m((x) => x.rss))} | ${fmt(
      m((x) => x.walBytesPerEvent),
      1,
    )} | ${fmt(
      m((x) => x.fsyncsPerEvent),
      4,
    )} | ${errors} |`;
  }),
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
let disk = '';
try {
  disk =
    readFileSync('/proc/mounts', 'utf8')
      .split('\n')
      .find((l) => l.split(' ')[1] === '/') ?? '';
} catch {}
const header = `Ack sweep: ${DURATION} s per row after a 3 s warm-up${ROUNDS > 1 ? `, ${ROUNDS} rounds (medians; the modes of one c back to back in each round)` : ''}; ferry (1 worker thread) under ${results[0]?.how ?? `${VCPU} vCPU`}, wrk -t${opt.pin ? 1 : 2} -cC ${opt.pin ? 'on the other core' : 'outside it'}; W1: ${EVENTS_PER_REQ} events × ~${bodies.avgEventBytes} B NDJSON per request, lz4 → directory sink on the state dir's disk, default batch limits (5000 events / 1 s).\nMachine: ${machine}; / is ${disk.split(' ').slice(0, 3).join(' ')}`;
const text = `${header}\n\n${table}\n`;
console.log(text);

if (opt.write) {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const old = readFileSync(file, 'utf8');
  const marker = '\n## Ack modes × concurrency';
  const start = old.indexOf(marker);
  let kept = old;
  if (start >= 0) {
    const next = old.indexOf('\n## ', start + marker.length);
    kept = old.slice(0, start) + (next >= 0 ? old.slice(next) : '');
  }
  const section = `${marker}\n\nCommand: \`npm run build && node bench/ack-sweep.mjs --write\`\n\n${text}`;
  // Before the per-vCPU section (which per-vcpu.mjs rewrites to the end of the file).
  const perVcpu = kept.indexOf('\n## Per vCPU');
  writeFileSync(
    file,
    perVcpu >= 0
      ? `${kept.slice(0, perVcpu)}${section}${kept.slice(perVcpu)}`
      : `${kept.trimEnd()}\n${section}`,
  );
}
