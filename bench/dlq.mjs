#!/usr/bin/env node
// DLQ bench: what a sink outage costs and how fast the DLQ drains afterwards.
//   1. "sink up":   W1 load (ack=durable) → ferry → S3 (the rig's MinIO): the reference row.
//   2. "sink down": the same load with the S3 endpoint on a closed port: every batch is spooled
//      to the local DLQ (fsync'd) and acknowledged from there — events/s, events per CPU-second,
//      DLQ bytes written per second.
//   3. "drain":     ferry restarted on the same state dir with the endpoint fixed: time and CPU
//      until the DLQ is empty (re-upload pace unlimited here; the default dlq.reupload_events_per_s
//      of 20000 caps it on purpose in production).
// Needs wrk and the rig's MinIO (bash scripts/rig/up.sh; FERRY_RIG_PORT_OFFSET is honoured).
// Prints a Markdown table; --write stores it in bench/RESULTS-dlq.md.
//
// usage: npm run build && node bench/dlq.mjs [--duration 15] [--connections 16] [--write]
import { mkdtempSync, writeFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '15' },
    connections: { type: 'string', default: '16' },
    write: { type: 'boolean', default: false },
  },
});
const DURATION = Number(opt.duration);
const CONNS = Number(opt.connections);
requireWrk();

const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const MINIO = `http://127.0.0.1:${19000 + OFF}`;
try {
  await fetch(`${MINIO}/minio/health/live`);
} catch {
  console.error(`bench: the rig's MinIO is not answering on ${MINIO} (bash scripts/rig/up.sh)`);
  process.exit(2);
}

const work = mkdtempSync(join(tmpdir(), 'ferry-bench-dlq-'));
const { w1: bodyFile, avgEventBytes: avgEvent } = writeBodies(work);
const run = `bench-dlq-${Date.now().toString(36)}`;

/**
 * @param {string} stateDir
 * @param {string} endpoint the S3 endpoint (MINIO, or a closed port for the outage)
 */
function config(stateDir, endpoint) {
  const file = join(stateDir, `ferry-${endpoint === MINIO ? 'up' : 'down'}.yaml`);
  writeFileSync(
    file,
    stringify({
      state_dir: stateDir,
      listen: { host: '127.0.0.1', port: 0 },
      log: { level: 'info' },
      http: { ack: 'durable' },
      batch: { codec: 'lz4', max_age_ms: 50 },
      retry: { initial_ms: 50, max_ms: 200, max_elapsed_ms: 500, attempt_timeout_ms: 2000 },
      dlq: { reupload_events_per_s: 1_000_000_000, probe_interval_ms: 200 },
      sinks: [
        {
          name: 'archive',
          type: 's3',
          bucket: 'ferry-test',
          endpoint,
          region: 'us-east-1',
          force_path_style: true,
          access_key_id: 'ferry',
          secret_access_key: 'ferrysecret123',
          key_template: `${run}/{batch_id}{ext}`,
        },
      ],
    }),
  );
  return file;
}

/**
 * @param {string} stateDir
 * @param {string} endpoint
 */
async function start(stateDir, endpoint) {
  const port = 28900 + Math.floor(Math.random() * 90);
  const p = await startServer({
    argv: [
      process.execPath,
      ...FERRY_NODE_FLAGS,
      'dist/src/cli.js',
      'run',
      '--config',
      config(stateDir, endpoint),
    ],
    env: { FERRY_LISTEN__PORT: String(port) },
    cwd: ROOT,
    readyMsg: 'ferry listening',
  });
  return { p, port };
}

/**
 * @param {number} port
 * @param {string} name
 */
const gauge = async (port, name) =>
  Number(
    new RegExp(`^${name}\\{sink="archive"\\} (\\S+)$`, 'm').exec(
      await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
    )?.[1] ?? 0,
  );
/** @param {string} d */
const dirBytes = (d) =>
  readdirSync(d)
    .filter((n) => n.endsWith('.fdq'))
    .reduce((a, n) => a + statSync(join(d, n)).size, 0);

/**
 * @param {string} name
 * @param {string} endpoint
 */
async function load(name, endpoint) {
  const state = mkdtempSync(join(work, 'state-'));
  const { p, port } = await start(state, endpoint);
  const url = `http://127.0.0.1:${port}/v1/events`;
  wrk({ url, seconds: 3, connections: CONNS, bodyFile }); // warm-up (and, sink down: the breaker opens)
  const b0 = endpoint === MINIO ? 0 : await gauge(port, 'dlq_bytes_current');
  const c0 = cpuSeconds(p.pid);
  const r = wrk({ url, seconds: DURATION, connections: CONNS, bodyFile });
  const cpuSec = cpuSeconds(p.pid) - c0;
  const b1 = endpoint === MINIO ? 0 : await gauge(port, 'dlq_bytes_current');
  const spooled = endpoint === MINIO ? 0 : await gauge(port, 'dlq_events_current');
  const rss = peakRssMiB(p.pid);
  await stopServer(p);
  const ok = (r.requests - r.non2xx) * EVENTS_PER_REQ;
  return {
    name,
    state,
    eventsPerSec: ok / DURATION,
    eventsPerCpuSec: ok / cpuSec,
    diskMBs: (b1 - b0) / DURATION / 1e6,
    spooled,
    p50: r.p50,
    p99: r.p99,
    rss,
    errors: r.non2xx,
  };
}

/**
 * @param {string} state the state dir whose DLQ to drain
 * @param {number} events how many it holds
 */
async function drain(state, events) {
  const bytes = dirBytes(join(state, 'dlq', 'archive'));
  const t0 = performance.now();
  const { p, port } = await start(state, MINIO);
  const c0 = cpuSeconds(p.pid);
  while ((await gauge(port, 'dlq_events_current')) > 0)
    await new Promise((r) => setTimeout(r, 100));
  const secs = (performance.now() - t0) / 1000;
  const cpuSec = cpuSeconds(p.pid) - c0;
  const shipped = await gauge(port, 'dlq_events_reuploaded_total');
  await stopServer(p);
  return {
    events,
    shipped,
    secs,
    cpuSec,
    eventsPerSec: shipped / secs,
    eventsPerCpuSec: shipped / cpuSec,
    mb: bytes / 1e6,
  };
}

process.stderr.write('bench: sink up …\n');
const up = await load('ack=durable, lz4 → S3 (MinIO up)', MINIO);
process.stderr.write('bench: sink down (spooling) …\n');
const down = await load('ack=durable, lz4 → S3 down: spooled to the DLQ', 'http://127.0.0.1:9');
process.stderr.write(`bench: drain ${down.spooled} events …\n`);
const d = await drain(down.state, down.spooled);

/**
 * @param {number} n
 * @param {number} [dd]
 */
const fmt = (n, dd = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: dd, minimumFractionDigits: dd })
    : '–';
const table = [
  '| target | events/s | events per CPU-second | vs sink up (per CPU-s) | DLQ MB/s written | p50 ms | p99 ms | peak RSS MiB | non-2xx |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...[up, down].map(
    (r) =>
      `| ${r.name} | ${fmt(r.eventsPerSec)} | ${fmt(r.eventsPerCpuSec)} | ${fmt((100 * r.eventsPerCpuSec) / up.eventsPerCpuSec)} % | ${r === up ? '–' : fmt(r.diskMBs, 2)} | ${fmt(r.p50, 2)} | ${fmt(r.p99, 2)} | ${fmt(r.rss)} | ${r.errors} |`,
  ),
].join('\n');
const drainLine = `Drain after the sink came back (restart on the same state dir, pace unlimited): ${fmt(d.shipped)} events (${fmt(d.mb, 1)} MB of segments) in ${fmt(d.secs, 1)} s including start-up and recovery = ${fmt(d.eventsPerSec)} events/s, ${fmt(d.eventsPerCpuSec)} events per CPU-second.`;
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const header = `DLQ: W1 bodies (${EVENTS_PER_REQ} events × ~${avgEvent} B per request), ack=durable, batch max_age 50 ms, lz4; wrk -t2 -c${CONNS} -d${DURATION}s on the same machine (load generator and MinIO not counted in CPU-seconds).\nMachine: ${machine}`;
console.log(`${header}\n\n${table}\n\n${drainLine}`);
if (opt.write) {
  writeFileSync(
    join(ROOT, 'bench', 'RESULTS-dlq.md'),
    `# DLQ bench (last run)\n\nCommand: \`npm run build && node bench/dlq.mjs --write\` (rig up: \`bash scripts/rig/up.sh\`)\n\n${header}\n\n${table}\n\n${drainLine}\n\nThe machine is shared and has 2 cores that wrk and MinIO also use: read the ratios, not the absolute figures.\n`,
  );
}
