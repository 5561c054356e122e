#!/usr/bin/env node
// Soak: ferry under a steady durable load with its S3 sink unreachable for --minutes, so every
// batch goes to the local DLQ. Samples ferry's RSS and the DLQ every 30 s: memory must stay flat
// while the DLQ (on disk) grows. Then points the sink at the rig's MinIO (restart on the same
// state dir) and checks that the DLQ drains to zero.
// Prints a Markdown table; --write stores it in bench/RESULTS-soak.md.
//
// usage: npm run build && node bench/soak.mjs [--minutes 30] [--rate 5000] [--write]
//   (the drain step needs the rig's MinIO: bash scripts/rig/up.sh; FERRY_RIG_PORT_OFFSET is honoured)
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    minutes: { type: 'string', default: '30' },
    rate: { type: 'string', default: '5000' },
    write: { type: 'boolean', default: false },
  },
});
const MINUTES = Number(opt.minutes);
const RATE = Number(opt.rate);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const MINIO = `http://127.0.0.1:${19000 + OFF}`;

const work = mkdtempSync(join(tmpdir(), 'ferry-soak-'));
const body = readFileSync(writeBodies(work).w1);
const run = `soak-${Date.now().toString(36)}`;
const port = 28800 + Math.floor(Math.random() * 90);

/** @param {string} endpoint the S3 endpoint (MINIO, or a closed port for the outage) */
function config(endpoint) {
  const file = join(work, `ferry-${endpoint === MINIO ? 'up' : 'down'}.yaml`);
  writeFileSync(
    file,
    stringify({
      state_dir: join(work, 'state'),
      listen: { host: '127.0.0.1', port },
      log: { level: 'info' },
      http: { ack: 'durable' },
      batch: { codec: 'lz4', max_age_ms: 200 },
      dlq: { probe_interval_ms: 1000 },
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
/** @param {string} endpoint */
const start = (endpoint) =>
  startServer({
    argv: [
      process.execPath,
      ...FERRY_NODE_FLAGS,
      'dist/src/cli.js',
      'run',
      '--config',
      config(endpoint),
    ],
    cwd: ROOT,
    readyMsg: 'ferry listening',
  });
const metrics = async () => (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
/**
 * @param {string} text a /metrics scrape
 * @param {string} name
 */
const gauge = (text, name) =>
  Number(new RegExp(`^${name}\\{sink="archive"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
/** @param {number} pid */
const rssMiB = (pid) => {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`/proc/${pid}/status has no VmRSS line`);
  return Number(m[1]) / 1024;
};

const p = await start('http://127.0.0.1:9');
const statuses = new Map();
let stop = false;
// Paced senders: RATE events/s as requests of EVENTS_PER_REQ. A durable request waits for its
// batch (max_age 200 ms), so enough senders are in flight to keep the pace.
const SENDERS = 32;
const perReqMs = (1000 * EVENTS_PER_REQ) / RATE;
const senders = Array.from({ length: SENDERS }, async (_, k) => {
  let next = performance.now() + k * perReqMs;
  while (!stop) {
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    next += SENDERS * perReqMs;
    const s = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-ndjson' },
      body,
    }).then(
      async (r) => (await r.arrayBuffer(), r.status),
      () => 0,
    );
    statuses.set(s, (statuses.get(s) ?? 0) + 1);
  }
});

const samples = [];
const t0 = performance.now();
const c0 = cpuSeconds(p.pid);
for (let m = 0; m <= MINUTES * 2; m++) {
  if (m > 0) await new Promise((r) => setTimeout(r, 30_000));
  const text = await metrics();
  samples.push({
    min: (performance.now() - t0) / 60000,
    rss: rssMiB(p.pid),
    dlqEvents: gauge(text, 'dlq_events_current'),
    dlqMB: gauge(text, 'dlq_bytes_current') / 1e6,
    files: gauge(text, 'dlq_files_current'),
  });
  process.stderr.write(`soak: ${JSON.stringify(samples.at(-1))}\n`);
}
stop = true;
await Promise.all(senders);
const cpu = cpuSeconds(p.pid) - c0;
const peak = peakRssMiB(p.pid);
await stopServer(p);

// Drain: the sink is back.
let drain = "not measured (the rig's MinIO is not answering)";
if (
  await fetch(`${MINIO}/minio/health/live`).then(
    () => true,
    () => false,
  )
) {
  const q = await start(MINIO);
  const d0 = performance.now();
  for (;;) {
    const left = gauge(await metrics(), 'dlq_events_current');
    if (left === 0) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  const shipped = gauge(await metrics(), 'dlq_events_reuploaded_total');
  drain = `${shipped.toLocaleString('en-US')} events drained to MinIO in ${((performance.now() - d0) / 1000).toFixed(0)} s at the default pace (dlq.reupload_events_per_s 20000)`;
  await stopServer(q);
}

const first = samples[1] ?? samples[0];
const last = samples[samples.length - 1]; // the loop above sampled at least once (m = 0)
/**
 * @param {number} n
 * @param {number} [d]
 */
const fmt = (n, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const answers = [...statuses].map(([s, n]) => `${s}: ${fmt(n)}`).join(', ');
const table = [
  '| minute | RSS MiB | DLQ events | DLQ MB | DLQ files |',
  '| ---: | ---: | ---: | ---: | ---: |',
  ...samples
    .filter((_, i) => i % 2 === 0 || i === 1)
    .map(
      (s) =>
        `| ${fmt(s.min, 1)} | ${fmt(s.rss)} | ${fmt(s.dlqEvents)} | ${fmt(s.dlqMB, 1)} | ${fmt(s.files)} |`,
    ),
].join('\n');
const achieved = ((statuses.get(200) ?? 0) * EVENTS_PER_REQ) / (MINUTES * 60);
const summary = `Soak: ${MINUTES} min of W1 requests (${EVENTS_PER_REQ} events × ~370 B) paced at ${fmt(RATE)} events/s (achieved ${fmt(achieved)} acknowledged events/s), ack=durable, lz4, the S3 sink unreachable (every batch to the DLQ).\nMachine: ${machine}\n\nAnswers: ${answers}. ferry CPU: ${fmt(cpu, 1)} s. RSS after 30 s ${fmt(first.rss)} MiB, at the end ${fmt(last.rss)} MiB, peak ${fmt(peak)} MiB.\nAfter the outage: ${drain}.`;
console.log(`${summary}\n\n${table}`);
if (opt.write)
  writeFileSync(
    join(ROOT, 'bench', 'RESULTS-soak.md'),
    `# Soak with a sink down (last run)\n\nCommand: \`npm run build && node bench/soak.mjs --minutes ${MINUTES} --rate ${RATE} --write\`\n\n${summary}\n\n${table}\n`,
  );
