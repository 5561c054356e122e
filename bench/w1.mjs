#!/usr/bin/env node
// Workload W1: HTTP NDJSON, 100 events × ~350 B per request, driven by wrk.
// For each target: events/s, events per CPU-second of the server process (all threads,
// utime+stime from /proc), p50/p99 latency, peak RSS, errors — beside the node:http
// baseline measured in the same run. Prints a Markdown table; --write updates bench/RESULTS.md.
//
// usage: npm run build && node bench/w1.mjs [--duration 15] [--connections 16] [--write]
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '16' },
    write: { type: 'boolean', default: false },
    only: { type: 'string' },
  },
});
const DURATION = Number(opt.duration);
const CONNS = Number(opt.connections);
requireWrk();

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-'));
const { w1: bodyFile, avgEventBytes: avgEvent } = writeBodies(work);

/**
 * A server to measure: its command, environment and the stdout text that says it is ready.
 * @typedef {{ argv: string[], env: Record<string, string>, ready: string }} Target
 */

/**
 * @param {string} name
 * @param {string[]} argv
 * @param {Record<string, string>} env
 * @param {string} readyMsg
 * @param {string} path
 */
async function measure(name, argv, env, readyMsg, path) {
  const port = 18900 + Math.floor(Math.random() * 90);
  const p = await startServer({
    argv: argv.map((a) => a.replace('$PORT', String(port))),
    env: { ...env, FERRY_LISTEN__PORT: String(port) },
    cwd: ROOT,
    readyMsg,
  });
  const url = `http://127.0.0.1:${port}${path}`;
  wrk({ url, seconds: 3, connections: CONNS, bodyFile }); // warm-up
  const c0 = cpuSeconds(p.pid);
  const r = wrk({ url, seconds: DURATION, connections: CONNS, bodyFile });
  const cpuSec = cpuSeconds(p.pid) - c0;
  const rss = peakRssMiB(p.pid);
  await stopServer(p);
  const okEvents = (r.requests - r.non2xx) * EVENTS_PER_REQ;
  return {
    name,
    eventsPerSec: okEvents / DURATION,
    eventsPerCpuSec: okEvents / cpuSec,
    cpuSec,
    p50: r.p50,
    p99: r.p99,
    rss,
    errors: r.non2xx + (r.socketErrors ? ` (${r.socketErrors})` : ''),
  };
}

/**
 * @param {'accepted' | 'durable'} ack
 * @param {string} codec
 * @param {Record<string, string>} [extra]
 * @returns {Target}
 */
const ferry = (ack, codec, extra = {}) => ({
  argv: [
    process.execPath,
    ...FERRY_NODE_FLAGS,
    'dist/src/cli.js',
    'run',
    '--config',
    join(ROOT, 'config', 'ferry.yaml'),
  ],
  env: {
    FERRY_STATE_DIR: join(work, `state-${ack}-${codec}`),
    FERRY_HTTP__ACK: ack,
    FERRY_BATCH__CODEC: codec,
    FERRY_LOG__LEVEL: 'warn',
    ...extra,
  },
  ready: '"port"',
});

const targets = /** @type {[name: string, target: Target, path: string][]} */ ([
  [
    'baseline node:http (parse + lz4)',
    { argv: [process.execPath, 'bench/baseline-server.mjs', '$PORT'], env: {}, ready: 'listening' },
    '/',
  ],
  ['ferry ack=accepted, lz4 → directory', ferry('accepted', 'lz4'), '/v1/events'],
  [
    'ferry ack=accepted, lz4 → directory, 2 workers',
    ferry('accepted', 'lz4', { FERRY_WORKERS__THREADS: '2' }),
    '/v1/events',
  ],
  // A durable request waits for its batch to seal: with 16 connections, max_age bounds the rate.
  [
    'ferry ack=durable (max_age 50 ms), lz4 → directory',
    ferry('durable', 'lz4', { FERRY_BATCH__MAX_AGE_MS: '50' }),
    '/v1/events',
  ],
  [
    'ferry ack=durable (max_age 50 ms), gzip → directory',
    ferry('durable', 'gzip', { FERRY_BATCH__MAX_AGE_MS: '50' }),
    '/v1/events',
  ],
]).filter(([n]) => !opt.only || n.includes(opt.only));

// ferry logs at warn: wait for its first line differently — it prints nothing at warn until ready.
for (const t of targets)
  if (t[1].env.FERRY_LOG__LEVEL) {
    t[1].env.FERRY_LOG__LEVEL = 'info';
    t[1].ready = 'ferry listening';
  }

const results = [];
for (const [name, t, path] of targets) {
  process.stderr.write(`bench: ${name} …\n`);
  results.push(await measure(name, t.argv, t.env, t.ready, path));
}
const base = results.find((r) => r.name.startsWith('baseline'));
/**
 * @param {number} n
 * @param {number} [d]
 */
const fmt = (n, d = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : '–';
const table = [
  '| target | events/s | events per CPU-second | vs baseline (per CPU-s) | p50 ms | p99 ms | peak RSS MiB | non-2xx |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (r) =>
      `| ${r.name} | ${fmt(r.eventsPerSec)} | ${fmt(r.eventsPerCpuSec)} | ${base ? fmt((100 * r.eventsPerCpuSec) / base.eventsPerCpuSec) + ' %' : '–'} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rss)} | ${r.errors} |`,
  ),
].join('\n');
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const header = `W1: HTTP NDJSON, ${EVENTS_PER_REQ} events × ~${avgEvent} B per request; wrk -t2 -c${CONNS} -d${DURATION}s on the same machine (load generator not counted in CPU-seconds).\nMachine: ${machine}`;
console.log(`${header}\n\n${table}`);
if (opt.write) {
  // Keep the per-vCPU section (bench/per-vcpu.mjs writes it).
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const prev = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const perVcpu = prev.includes('\n## Per vCPU') ? prev.slice(prev.indexOf('\n## Per vCPU')) : '';
  writeFileSync(
    file,
    `# Bench results (last full run)\n\nCommand: \`npm run build && node bench/w1.mjs --write\`\n\n${header}\n\n${table}\n\nferry runs with the shipped \`config/ferry.yaml\` (workers = vCPUs − 1, at least 1; batch 5000 events / 1 s, directory sink under a temp dir) and its defaults changed only by the environment shown in each row.\nThe machine is shared and has 2 cores that wrk also uses: read the ratios, not the absolute figures.\n${perVcpu}`,
  );
}
