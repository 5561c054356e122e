#!/usr/bin/env node
// Kafka → ClickHouse (and → S3 with --s3): produce a lag of --messages W1-shaped events
// (~370 B, each with its own event_id) into a fresh topic, then start ferry on it and time
// the drain: from "joined the consumer group" until the group's committed offsets reach the
// end (committed = durable in every sink). Reports events/s over the drain and events per
// CPU-second of the ferry process (all threads, utime+stime from /proc), peak RSS.
//
// Needs the test rig (bash scripts/rig/up.sh; FERRY_RIG_PORT_OFFSET as for the tests).
// usage: npm run build && node bench/kafka.mjs [--messages 1000000] [--partitions 6] [--s3] [--threads N]
//          [--vcpu Q]   run ferry under a CPU quota of Q vCPU (bench/lib/cgroup.mjs), as per-vcpu.mjs does
//          [--memory MiB] run ferry in a memory cgroup of MiB, no swap (bench/lib/memcg.mjs), with the launcher's flags
//          [--json]     print one JSON line instead of the table (bench/per-vcpu.mjs reads it)
//          [--profile DIR] run ferry under `node --cpu-prof`, one .cpuprofile per thread in DIR
//          [--compression none|gzip|snappy|lz4|zstd]   produce the lag with kcat (librdkafka) -z that
//                       codec instead of kafkajs uncompressed: what ferry's decoders cost (W3 per codec)
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { stringify } from 'yaml';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { produceLag } from './lib/kafka-lag.mjs';
import { cpuQuota } from './lib/cgroup.mjs';
import { memoryCgroup } from './lib/memcg.mjs';
import { launcherPlan } from './lib/launcher-plan.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    messages: { type: 'string', default: '1000000' },
    partitions: { type: 'string', default: '6' },
    threads: { type: 'string', default: '0' },
    s3: { type: 'boolean', default: false },
    vcpu: { type: 'string' },
    json: { type: 'boolean', default: false },
    compression: { type: 'string' },
    memory: { type: 'string' },
    profile: { type: 'string' },
  },
});
const N = Number(opt.messages);
const PARTITIONS = Number(opt.partitions);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const rig = {
  brokers: [`127.0.0.1:${19092 + OFF}`],
  clickhouse: `http://127.0.0.1:${18123 + OFF}`,
  s3: {
    endpoint: `http://127.0.0.1:${19000 + OFF}`,
    bucket: 'ferry-test',
    region: 'us-east-1',
    access_key_id: 'ferry',
    secret_access_key: 'ferrysecret123',
  },
};

const run = `kb${Date.now().toString(36)}`;
const topic = `bench-${run}`;
const group = `bench-${run}-g`;
const database = `ferry_bench_kafka`;
const work = mkdtempSync(join(tmpdir(), 'ferry-bench-kafka-'));

const kafka = new Kafka({
  clientId: 'ferry-bench',
  brokers: rig.brokers,
  logLevel: logLevel.NOTHING,
});
const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  topics: [
    { topic, numPartitions: PARTITIONS, replicationFactor: 1 },
    { topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1 },
  ],
  waitForLeaders: true,
});

// The lag: N messages, produced before ferry starts.
const { seconds: produceS, avgBytes } = await produceLag({
  kafka,
  broker: rig.brokers[0],
  topic,
  n: N,
  idOf: (j) => `${run}-${j}`,
  compression: opt.compression,
  work,
});
process.stderr.write(
  `bench: produced ${N} messages (~${avgBytes} B) in ${produceS.toFixed(1)} s\n`,
);

/** @type {Record<string, unknown>[]} the sinks section of ferry's config (written as YAML) */
const sinks = [
  { name: 'warehouse', type: 'clickhouse', url: rig.clickhouse, database, table: 'events' },
];
if (opt.s3)
  sinks.push({
    name: 'archive',
    type: 's3',
    force_path_style: true,
    key_template: `bench-kafka/${run}/{batch_id}{ext}`,
    ...rig.s3,
  });
const cfgFile = join(work, 'ferry.yaml');
writeFileSync(
  cfgFile,
  stringify({
    state_dir: work,
    listen: { host: '127.0.0.1', port: 0 },
    log: { level: 'info' },
    workers: { threads: Number(opt.threads) },
    sinks,
    kafka: {
      enabled: true,
      brokers: rig.brokers,
      group_id: group,
      topics: [topic],
      from_beginning: true,
      partitions_concurrently: PARTITIONS,
    },
  }),
);
execFileSync(process.execPath, ['dist/src/cli.js', 'migrate', '--config', cfgFile], {
  cwd: ROOT,
  stdio: ['ignore', 'ignore', 'inherit'],
});

const committed = async () => {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return t.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
};

/** @type {import('./lib/cgroup.mjs').CpuQuota} */
const quota = opt.vcpu ? cpuQuota(Number(opt.vcpu)) : { wrap: (a) => a, close() {}, how: 'none' };
// --memory MiB: ferry in a memory cgroup without swap, with the launcher's flags for it.
const memcg = opt.memory
  ? memoryCgroup(Number(opt.memory) * 2 ** 20, `ferry-kafka-${process.pid}`)
  : undefined;
/** @param {string[]} a */
const wrap = (a) => quota.wrap(memcg ? memcg.wrap(a) : a);
const plan = memcg ? launcherPlan(ROOT, wrap) : { flags: [], env: {} };
const p = await startServer({
  argv: [
    process.execPath,
    ...FERRY_NODE_FLAGS,
    ...plan.flags,
    ...(opt.profile ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opt.profile)}`] : []),
    'dist/src/cli.js',
    'run',
    '--config',
    cfgFile,
  ],
  env: plan.env,
  cwd: ROOT,
  readyMsg: 'kafka: joined the consumer group',
  wrap,
});
const c0 = cpuSeconds(p.pid);
const d0 = performance.now();
let last = 0;
while ((last = await committed()) < N) {
  if (performance.now() - d0 > 30 * 60_000)
    throw new Error(`not drained after 30 min: ${last} of ${N} committed`);
  await new Promise((r) => setTimeout(r, 200));
}
const drainS = (performance.now() - d0) / 1000;
const cpuS = cpuSeconds(p.pid) - c0;
const rss = peakRssMiB(p.pid);
const oomKills = memcg?.stats().oomKills;
await stopServer(p);
memcg?.close();
quota.close();
await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => {});
await admin.disconnect();
await fetch(
  `${rig.clickhouse}/?query=${encodeURIComponent(`DROP DATABASE IF EXISTS ${database}`)}`,
  { method: 'POST' },
).catch(() => {});

if (opt.json) {
  console.log(
    JSON.stringify({
      messages: N,
      partitions: PARTITIONS,
      compression: opt.compression ?? 'none (kafkajs)',
      vcpu: opt.vcpu ? Number(opt.vcpu) : undefined,
      drainS,
      eventsPerSec: N / drainS,
      eventsPerCpuSec: N / cpuS,
      cpuS,
      rss,
      oomKills,
    }),
  );
  process.exit(0);
}
/**
 * @param {number} n
 * @param {number} [d]
 */
const fmt = (n, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
console.log(`Kafka → ${opt.s3 ? 'ClickHouse + S3' : 'ClickHouse'}: drain a lag of ${fmt(N)} messages (~${avgBytes} B) over ${PARTITIONS} partitions, the rig's broker on the same machine.
Machine: ${machine}

| target | lag | drain s | events/s | events per CPU-second | ferry CPU-s | peak RSS MiB |
| --- | ---: | ---: | ---: | ---: | ---: | ---: |
| ferry kafka${opt.compression ? ` (${opt.compression})` : ''} → ${opt.s3 ? 'clickhouse + s3' : 'clickhouse'}, workers ${opt.threads === '0' ? 'default' : opt.threads} | ${fmt(N)} | ${fmt(drainS, 1)} | ${fmt(N / drainS)} | ${fmt(N / cpuS)} | ${fmt(cpuS, 1)} | ${fmt(rss)} |`);
