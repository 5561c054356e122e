#!/usr/bin/env node
// The fleet shapes of docs/fleet.md, one hop at a time, each ferry with one worker:
//   edge→kafka   HTTP in (W1, ack=durable) → Kafka sink
//   core←kafka   Kafka source (the lag the edge left) → ClickHouse + S3
//   edge→http    HTTP in → HTTP sink → a core ferry (measured too: core←http) → ClickHouse + S3
//   edge→direct  HTTP in → ClickHouse + S3 (what every edge would do without a core)
// The load is posted with ack=accepted (a closed loop of durable requests would measure the
// two hops' batch ages, not CPU) and each hop is timed until its sink has every event.
// For each hop: events per CPU-second of that ferry process (utime+stime of all its threads,
// /proc), and the ClickHouse inserts it made (or, for an edge, the batches it sent) per 10^6
// events — the core's inserts against the edges' batches is the point of a core tier.
//
// Needs the test rig (bash scripts/rig/up.sh; FERRY_RIG_PORT_OFFSET as for the tests).
// usage: npm run build && node bench/fleet.mjs [--events 200000] [--concurrency 8] [--json]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, cpus } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { FERRY_NODE_FLAGS, cpuSeconds, startServer, stopServer } from './lib/proc.mjs';
import { variedBodies, EVENTS_PER_REQ } from './lib/payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'dist', 'src', 'cli.js');
const { values: opt } = parseArgs({
  options: {
    events: { type: 'string', default: '200000' },
    concurrency: { type: 'string', default: '8' },
    json: { type: 'boolean', default: false },
  },
});
const N = Math.ceil(Number(opt.events) / EVENTS_PER_REQ) * EVENTS_PER_REQ;
const CONC = Number(opt.concurrency);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const brokers = [`127.0.0.1:${19092 + OFF}`];
const run = `fb${Date.now().toString(36)}`;
const database = 'ferry_bench_fleet';
const topic = `bench-${run}`;

const warehouse = {
  type: 'clickhouse',
  name: 'warehouse',
  url: `http://127.0.0.1:${18123 + OFF}`,
  database,
};
/** @param {string} prefix */
const archive = (prefix) => ({
  type: 's3',
  name: 'archive',
  bucket: 'ferry-test',
  endpoint: `http://127.0.0.1:${19000 + OFF}`,
  region: 'us-east-1',
  force_path_style: true,
  access_key_id: 'ferry',
  secret_access_key: 'ferrysecret123',
  key_template: `bench-fleet/${run}/${prefix}/{host}-{batch_id}{ext}`,
});
const edgeBatch = { max_age_ms: 1000, max_events: 5000, codec: 'lz4' };
const coreBatch = { max_age_ms: 2000, max_events: 50000, max_bytes: 33554432, codec: 'lz4' };

/**
 * Start ferry with cfg; resolves with the process and its URL.
 * @param {string} name
 * @param {Record<string, unknown>} cfg
 */
async function ferry(name, cfg) {
  const dir = mkdtempSync(join(tmpdir(), `ferry-bench-fleet-${name}-`));
  const port = await freePort();
  const file = join(dir, 'ferry.yaml');
  writeFileSync(
    file,
    stringify({
      host_id: name,
      state_dir: dir,
      listen: { host: '127.0.0.1', port },
      workers: { threads: 1 },
      log: { level: 'warn' },
      ...cfg,
    }),
  );
  const p = await startServer({
    argv: [process.execPath, ...FERRY_NODE_FLAGS, CLI, 'run', '--config', file],
    readyMsg: '"msg":"ferry listening"',
    cwd: ROOT,
    env: { FERRY_LOG__LEVEL: 'info' },
  });
  return { p, file, url: `http://127.0.0.1:${port}` };
}

/** A free loopback port (ferry is told it, so no log line needs parsing). */
async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', () => r(undefined)));
  const { port } = /** @type {import('node:net').AddressInfo} */ (srv.address());
  await new Promise((r) => srv.close(() => r(undefined)));
  return port;
}

/**
 * @param {string} url
 * @param {string} name
 */
async function metric(url, name) {
  const text = await (await fetch(`${url}/metrics`)).text();
  let s = 0;
  for (const l of text.split('\n'))
    if (l.startsWith(`${name} `) || l.startsWith(`${name}{`))
      s += Number(l.slice(l.lastIndexOf(' ') + 1));
  return s;
}

/**
 * @param {string} what
 * @param {() => Promise<boolean>} fn
 */
async function until(what, fn, timeoutMs = 300_000) {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Post N events (W1 bodies, distinct events) with CONC loops, ack=accepted. */
/**
 * @param {string} url
 * @param {number} offset
 */
async function load(url, offset) {
  const bodies = variedBodies(N / EVENTS_PER_REQ).map((b) =>
    // distinct across hops: a prefix field makes every event (and its hashed id) new
    Buffer.from(b.toString().replaceAll('{"ts":', `{"hop":${offset},"ts":`)),
  );
  let next = 0;
  await Promise.all(
    Array.from({ length: CONC }, async () => {
      while (next < bodies.length) {
        const b = bodies[next++];
        for (;;) {
          const r = await fetch(`${url}/v1/events?ack=accepted`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-ndjson' },
            body: b,
          });
          await r.arrayBuffer();
          if (r.status === 202 || r.status === 200) break;
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    }),
  );
}

/** @type {{ hop: string, events: number, cpu_s: number, events_per_cpu_s: number, inserts_or_batches_per_1e6: number, note: string }[]} */
const rows = [];
/**
 * @param {string} hop
 * @param {number} cpu
 * @param {number} events
 * @param {number} inserts
 * @param {string} note
 */
function row(hop, cpu, events, inserts, note) {
  rows.push({
    hop,
    events,
    cpu_s: Number(cpu.toFixed(2)),
    events_per_cpu_s: Math.round(events / cpu),
    inserts_or_batches_per_1e6: Math.round((inserts / events) * 1e6),
    note,
  });
}

// ClickHouse table.
{
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-fleet-migrate-'));
  const file = join(dir, 'ferry.yaml');
  writeFileSync(file, stringify({ state_dir: dir, sinks: [warehouse] }));
  execFileSync(process.execPath, [CLI, 'migrate', '--config', file], { stdio: 'ignore' });
}
const kafka = new Kafka({ clientId: 'ferry-bench', brokers, logLevel: logLevel.NOTHING });
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  topics: [
    { topic, numPartitions: 6, replicationFactor: 1 },
    { topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1 },
  ],
  waitForLeaders: true,
});

// Shape A, hop 1: edge → Kafka.
{
  const e = await ferry('edge-kafka', {
    batch: edgeBatch,
    sinks: [{ type: 'kafka', name: 'bus', brokers, topic, compression: 'lz4' }],
  });
  const c0 = cpuSeconds(e.p.pid);
  await load(e.url, 1);
  await until(
    'edge delivered',
    async () => (await metric(e.url, 'sink_events_delivered_total')) >= N,
  );
  row(
    'edge→kafka',
    cpuSeconds(e.p.pid) - c0,
    N,
    await metric(e.url, 'sink_write_duration_seconds_count'),
    'HTTP in, one message per event, lz4',
  );
  await stopServer(e.p);
}
// Shape A, hop 2: Kafka → core.
{
  const c = await ferry('core-kafka', {
    batch: coreBatch,
    sinks: [archive('a'), warehouse],
    kafka: {
      enabled: true,
      brokers,
      topics: [topic],
      group_id: `${run}-g`,
      commit_interval_ms: 500,
    },
  });
  const c0 = cpuSeconds(c.p.pid);
  await until(
    'core drained the topic',
    async () => (await metric(c.url, 'sink_events_delivered_total{sink="warehouse"}')) >= N,
  );
  row(
    'core←kafka',
    cpuSeconds(c.p.pid) - c0,
    N,
    await metric(c.url, 'sink_write_duration_seconds_count{sink="warehouse"}'),
    'ClickHouse + S3 (CPU includes waiting for the lag to be fetched)',
  );
  await stopServer(c.p);
}
// Shape B: edge → HTTP → core.
{
  const core = await ferry('core-http', { batch: coreBatch, sinks: [archive('b'), warehouse] });
  const e = await ferry('edge-http', {
    batch: edgeBatch,
    sinks: [{ type: 'http', name: 'core', urls: [`${core.url}/v1/events`] }],
  });
  const c0 = cpuSeconds(e.p.pid);
  const k0 = cpuSeconds(core.p.pid);
  await load(e.url, 2);
  await until(
    'core delivered',
    async () => (await metric(core.url, 'sink_events_delivered_total{sink="warehouse"}')) >= N,
  );
  row(
    'edge→http',
    cpuSeconds(e.p.pid) - c0,
    N,
    await metric(e.url, 'sink_write_duration_seconds_count'),
    'HTTP in, archive POSTed as is',
  );
  row(
    'core←http',
    cpuSeconds(core.p.pid) - k0,
    N,
    await metric(core.url, 'sink_write_duration_seconds_count{sink="warehouse"}'),
    'ClickHouse + S3; acks after its sinks',
  );
  await stopServer(e.p);
  await stopServer(core.p);
}
// Without a core: the edge inserts itself.
{
  const e = await ferry('edge-direct', { batch: edgeBatch, sinks: [archive('d'), warehouse] });
  const c0 = cpuSeconds(e.p.pid);
  await load(e.url, 3);
  await until(
    'edge delivered',
    async () => (await metric(e.url, 'sink_events_delivered_total{sink="warehouse"}')) >= N,
  );
  row(
    'edge→direct',
    cpuSeconds(e.p.pid) - c0,
    N,
    await metric(e.url, 'sink_write_duration_seconds_count{sink="warehouse"}'),
    'HTTP in → ClickHouse + S3',
  );
  await stopServer(e.p);
}
await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => {});
await admin.disconnect();

if (opt.json) console.log(JSON.stringify({ events: N, cpus: cpus().length, rows }));
else {
  console.log(
    `fleet bench: ${N} W1 events per hop, 1 worker per ferry, ${cpus().length} CPUs, node ${process.version}`,
  );
  console.log(
    '| hop | events/CPU-s | CPU s | ClickHouse inserts (edge: batches) per 10^6 events | |',
  );
  console.log('| --- | ---: | ---: | ---: | --- |');
  for (const r of rows)
    console.log(
      `| ${r.hop} | ${r.events_per_cpu_s.toLocaleString('en')} | ${r.cpu_s} | ${r.inserts_or_batches_per_1e6} | ${r.note} |`,
    );
}
