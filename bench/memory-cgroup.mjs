#!/usr/bin/env node
// A small node, rehearsed: ferry in a memory cgroup of --memory MiB (no swap) and a CPU quota of
// --vcpu, with the rig's S3 (MinIO) + ClickHouse sinks and every memory key left at auto, under
// far more load than it can take (--concurrency closed loops, each retrying at once after a 503),
// with MinIO stopped for --outage seconds in the middle, then back. Then the load stops and the
// bench waits for the DLQ to drain, and checks:
//   - no OOM kill (the cgroup's oom_kill count) and ferry still running;
//   - RSS flat after the first minute (per-minute peak of VmRSS and of the cgroup's usage);
//   - every acknowledged event (a 200 with ack=durable) is in S3 and in ClickHouse afterwards
//     (events carry their own event_id: <run>-<request>-<i>);
//   - the DLQ drained (dlq_bytes_current of the S3 sink back to 0).
// With --kafka N the load is a Kafka lag instead: N W1-shaped events (event_ids <run>-<i/100>-<i%100>)
// produced into a fresh topic of --partitions partitions before ferry starts (bench/lib/kafka-lag.mjs,
// as bench/kafka.mjs), which ferry's Kafka source drains into the same sinks (kafka.ack durable,
// every other key at its default); S3 goes down --before s into the drain for --outage s (default
// 0 with --kafka). Checked: no OOM kill, RSS flat after the first minute, the group's committed
// offsets reach the end, every message in S3 and in ClickHouse (count() FINAL = N, none missing),
// the write-ahead log released and the DLQ drained. VmRSS is reported per --window seconds.
// Prints a Markdown report; --write appends it to bench/RESULTS.md ("Memory cgroup rehearsal").
//
// usage: npm run build && node bench/memory-cgroup.mjs [--memory 256] [--vcpu 0.25] [--before 60]
//          [--outage 60] [--after 60] [--concurrency 256] [--drain-timeout 600] [--write]
//          [--kafka 1000000 [--partitions 4]] [--window 60] [--probe]
//          [--config-extra '{"kafka":{…}}'] [--node-flags=--max-semi-space-size=8]
//   --probe         each isolate's V8 heap and ArrayBuffers in every window (-r bench/lib/mem-probe.cjs)
//   --config-extra  merged into ferry's config, section by section (to compare settings)
//   --node-flags    Node flags after the launcher's (the last one wins)
// Needs root and a writable memory cgroup (v1 or v2: bench/lib/memcg.mjs says why not), and
// the rig (scripts/rig/up.sh clickhouse minio [kafka]; FERRY_RIG_DIR / FERRY_RIG_PORT_OFFSET honoured).
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  appendFileSync,
} from 'node:fs';
import http from 'node:http';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { Kafka, logLevel } from 'kafkajs';
import { FERRY_NODE_FLAGS, cpuSeconds, startServer, stopServer } from './lib/proc.mjs';
import { produceLag } from './lib/kafka-lag.mjs';
import { events, EVENTS_PER_REQ } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';
import { memoryCgroup } from './lib/memcg.mjs';
import { launcherPlan } from './lib/launcher-plan.mjs';
import { distModule } from './lib/dist.mjs';

/** @type {typeof import('../src/codecs/index.js')} */
const codecs = await import(distModule('src/codecs/index.js'));
/** @type {typeof import('../src/archive/read.js')} */
const archive = await import(distModule('src/archive/read.js'));

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    memory: { type: 'string', default: '256' },
    vcpu: { type: 'string', default: '0.25' },
    before: { type: 'string', default: '60' },
    outage: { type: 'string' },
    after: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '256' },
    'drain-timeout': { type: 'string', default: '600' },
    write: { type: 'boolean', default: false },
    kafka: { type: 'string' },
    partitions: { type: 'string', default: '4' },
    window: { type: 'string' },
    // Merged into ferry's config section by section (to compare settings in the cgroup).
    'config-extra': { type: 'string', default: '{}' },
    // Node flags after the launcher's (the last one wins): --node-flags=--max-semi-space-size=4.
    'node-flags': { type: 'string', default: '' },
    // Each isolate's heap and ArrayBuffers every second (-r bench/lib/mem-probe.cjs), per window.
    probe: { type: 'boolean', default: false },
  },
});
const MiB = 2 ** 20;
const MEMORY = Number(opt.memory);
const VCPU = Number(opt.vcpu);
const KAFKA = Number(opt.kafka ?? 0);
const PARTITIONS = Number(opt.partitions);
const [BEFORE, OUTAGE, AFTER] = [opt.before, opt.outage ?? (KAFKA ? '0' : '60'), opt.after].map(
  Number,
);
const CONC = Number(opt.concurrency);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const S3_URL = `http://127.0.0.1:${19000 + OFF}`;
const CH_URL = `http://127.0.0.1:${18123 + OFF}`;
const BROKER = `127.0.0.1:${19092 + OFF}`;
const run = `mc${Date.now().toString(36)}`;
// A database per run: ferry's migrations are recorded per database.
const DB = `ferry_mem_${run}`;
const TABLE = 'events';
const rigEnv = { ...process.env };

/** @param {string} script @param {string[]} args */
const rig = (script, ...args) =>
  execFileSync('bash', [join(ROOT, 'scripts', 'rig', script), ...args], {
    stdio: 'inherit',
    env: rigEnv,
  });
/** @param {string} sql */
const ch = async (sql) => {
  const r = await fetch(CH_URL, { method: 'POST', body: sql });
  if (!r.ok) throw new Error(`ClickHouse: ${r.status} ${await r.text()}`);
  return r.text();
};

rig('up.sh', 'clickhouse', 'minio', ...(KAFKA ? ['kafka'] : []));
await ch(`CREATE DATABASE IF NOT EXISTS ${DB}`);

const work = mkdtempSync(join(tmpdir(), 'ferry-memcg-'));
// --kafka: the lag, produced before ferry starts.
const topic = `memcg-${run}`;
const group = `${topic}-g`;
const kafka = new Kafka({ clientId: 'ferry-memcg', brokers: [BROKER], logLevel: logLevel.NOTHING });
const admin = kafka.admin();
let produced = '';
if (KAFKA) {
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic, numPartitions: PARTITIONS, replicationFactor: 1 },
      { topic: `${topic}.dlq`, numPartitions: 1, replicationFactor: 1 },
    ],
    waitForLeaders: true,
  });
  const lag = await produceLag({
    kafka,
    broker: BROKER,
    topic,
    n: KAFKA,
    idOf: (j) => `${run}-${Math.floor(j / EVENTS_PER_REQ)}-${j % EVENTS_PER_REQ}`,
    work,
  });
  produced = `${KAFKA.toLocaleString('en-US')} messages (~${lag.avgBytes} B, kafkajs, uncompressed) over ${PARTITIONS} partitions, produced in ${lag.seconds.toFixed(1)} s before ferry started`;
  process.stderr.write(`memcg: ${produced}\n`);
}
/** Sum of the group's committed offsets. */
const committed = async () => {
  const [t] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return t.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0);
};
const port = 28700 + Math.floor(Math.random() * 90);
const s3 = {
  bucket: 'ferry-test',
  region: 'us-east-1',
  endpoint: S3_URL,
  force_path_style: true,
  access_key_id: 'ferry',
  secret_access_key: 'ferrysecret123',
};
const cfgFile = join(work, 'ferry.yaml');
/** @type {Record<string, any>} */
const cfg = {
  state_dir: work,
  listen: { host: '127.0.0.1', port },
  http: { ack: 'durable' },
  // Every memory key at auto (0): the cgroup sizes them.
  batch: { codec: 'lz4', max_age_ms: 500 },
  retry: { max_elapsed_ms: 2000, attempt_timeout_ms: 2000 },
  dlq: { probe_interval_ms: 1000 },
  sinks: [
    { name: 'archive', type: 's3', key_template: `${run}/{batch_id}{ext}`, ...s3 },
    { name: 'warehouse', type: 'clickhouse', url: CH_URL, database: DB, table: TABLE },
  ],
  log: { level: 'info' },
  ...(KAFKA
    ? {
        kafka: {
          enabled: true,
          brokers: [BROKER],
          group_id: group,
          topics: [topic],
          from_beginning: true,
          partitions_concurrently: PARTITIONS,
        },
      }
    : {}),
};
for (const [k, v] of Object.entries(JSON.parse(opt['config-extra']))) cfg[k] = { ...cfg[k], ...v };
writeFileSync(cfgFile, JSON.stringify(cfg));
execFileSync(process.execPath, ['dist/src/cli.js', 'migrate', '--config', cfgFile], {
  cwd: ROOT,
  stdio: 'inherit',
});

const memcg = memoryCgroup(MEMORY * MiB, `ferry-memcg-${process.pid}`);
const quota = VCPU > 0 ? cpuQuota(VCPU) : undefined;
/** @param {string[]} argv */
const wrap = (argv) => {
  const inMem = memcg.wrap(argv);
  return quota ? quota.wrap(inMem) : inMem;
};
// As the packaged launcher: its default flag, then what node-flags.js picks inside the cgroup.
const plan = launcherPlan(ROOT, wrap);
const flags = [
  ...FERRY_NODE_FLAGS,
  ...plan.flags,
  ...Object.entries(plan.env).map(([k, v]) => `${k}=${v}`),
];
const check = (() => {
  const a = wrap([process.execPath, 'dist/src/cli.js', 'config', 'check', '--config', cfgFile]);
  return execFileSync(a[0], a.slice(1), { cwd: ROOT, encoding: 'utf8' });
})();
process.stderr.write(check);

const extraFlags = opt['node-flags'].split(' ').filter(Boolean);
flags.push(...extraFlags);
const probeDir = join(work, 'probe');
mkdirSync(probeDir);
/** Per isolate (main, worker N): heapTotal and arrayBuffers now, from the probe's files. */
const isolates = () => {
  /** @type {Record<string, { heap: number, ab: number }>} */
  const out = {};
  for (const f of readdirSync(probeDir).filter((n) => n.endsWith('.json')))
    try {
      const j = JSON.parse(readFileSync(join(probeDir, f), 'utf8'));
      out[j.thread] = { heap: j.now.heapTotal, ab: j.now.arrayBuffers };
    } catch {
      // being rewritten
    }
  return out;
};
const ferry = await startServer({
  argv: [
    process.execPath,
    ...FERRY_NODE_FLAGS,
    ...plan.flags,
    ...extraFlags,
    ...(opt.probe ? ['-r', join(ROOT, 'bench/lib/mem-probe.cjs')] : []),
    'dist/src/cli.js',
    'run',
    '--config',
    cfgFile,
  ],
  env: { ...plan.env, ...(opt.probe ? { BENCH_MEM_PROBE_DIR: probeDir } : {}) },
  cwd: ROOT,
  readyMsg: 'ferry listening',
  wrap,
});
let exited = /** @type {number | string | null} */ (null);
ferry.once('exit', (code, sig) => {
  exited = sig ?? code;
});

// ---- sampling
const t0 = Date.now();
const cpu0 = cpuSeconds(ferry.pid);
/** @type {{ t: number, rss: number, hwm: number, cg: number, anon: number, iso: Record<string, { heap: number, ab: number }> }[]} */
const samples = [];
const sampler = setInterval(() => {
  try {
    const st = readFileSync(`/proc/${ferry.pid}/status`, 'utf8');
    /** @param {string} k */
    const kb = (k) => Number(new RegExp(`${k}:\\s+(\\d+)`).exec(st)?.[1]) * 1024;
    samples.push({
      t: (Date.now() - t0) / 1000,
      rss: kb('VmRSS'),
      hwm: kb('VmHWM'),
      cg: memcg.stats().usageBytes,
      anon: memcg.stats().anonBytes,
      iso: opt.probe ? isolates() : {},
    });
  } catch {
    // exited
  }
}, 1000);

// ---- load: closed loops of unique events, retried at once after a 503
const template = events(EVENTS_PER_REQ).map((e) => JSON.stringify(e).slice(1));
let nextReq = 0;
const acked = /** @type {number[]} */ ([]);
const counts = { attempts: 0, ok: 0, s503: 0, other: 0, errors: 0 };
const agent = new http.Agent({ keepAlive: true, maxSockets: CONC });
// --kafka: no HTTP load (the lag is the load).
let loading = !KAFKA;
/** @param {number} req */
const bodyOf = (req) =>
  template.map((tail, i) => `{"event_id":"${run}-${req}-${i}",${tail}`).join('\n') + '\n';
/** @param {string} body @returns {Promise<number>} */
const post = (body) =>
  new Promise((res) => {
    const r = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/events',
        method: 'POST',
        agent,
        headers: { 'content-type': 'application/x-ndjson' },
        timeout: 60000,
      },
      (resp) => {
        resp.resume();
        resp.on('end', () => res(resp.statusCode ?? 0));
        resp.on('error', () => res(-1));
      },
    );
    r.on('timeout', () => r.destroy(new Error('timeout')));
    r.on('error', () => res(-1));
    r.end(body);
  });
const loops = Array.from({ length: KAFKA ? 0 : CONC }, async () => {
  while (loading) {
    const req = nextReq++;
    const body = bodyOf(req);
    for (;;) {
      counts.attempts++;
      const s = await post(body);
      if (s === 200) {
        counts.ok++;
        acked.push(req);
        break;
      }
      if (s === 503) counts.s503++;
      else if (s === -1) counts.errors++;
      else counts.other++;
      if (!loading) break;
      // A 503 is answered in well under a millisecond: a short pause keeps the load generator
      // from taking the CPU the node under test shares with it (offered load stays ≫ capacity).
      await new Promise((r) => setTimeout(r, 2));
    }
  }
});

/** @param {number} s */
const sleep = (s) => new Promise((r) => setTimeout(r, s * 1000));
/** @param {string} name @param {string} [labels] */
const metric = async (name, labels = '{sink="archive"}') => {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    const re = new RegExp(`^${name}${labels.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm');
    return Number(re.exec(text)?.[1] ?? 0);
  } catch {
    return NaN;
  }
};
const phase = /** @type {{ name: string, t: number, ok: number, attempts: number }[]} */ ([]);
const mark = (/** @type {string} */ name) =>
  phase.push({ name, t: (Date.now() - t0) / 1000, ok: counts.ok, attempts: counts.attempts });

let dlqPeak = 0;
/** --kafka: when the committed offsets reached the end, and ferry's CPU time until then. */
const lagDrain = { seconds: NaN, cpuS: NaN, committed: 0 };
if (KAFKA) {
  // The lag drains from the start; S3 goes down BEFORE s in for OUTAGE s (if OUTAGE > 0).
  mark('drain');
  const elapsed = () => (Date.now() - t0) / 1000;
  let outage = OUTAGE > 0 ? 'pending' : 'done';
  while (exited === null && elapsed() < Number(opt['drain-timeout'])) {
    if (Number.isNaN(lagDrain.seconds)) {
      lagDrain.committed = await committed();
      if (lagDrain.committed >= KAFKA) {
        lagDrain.seconds = elapsed();
        lagDrain.cpuS = cpuSeconds(ferry.pid) - cpu0;
        mark('committed to the end');
      }
    }
    if (outage === 'pending' && elapsed() >= BEFORE) {
      mark('S3 down');
      rig('minio.sh', 'stop');
      outage = 'down';
    } else if (outage === 'down' && elapsed() >= BEFORE + OUTAGE) {
      dlqPeak = await metric('dlq_bytes_current');
      mark('S3 back');
      rig('minio.sh', 'start');
      outage = 'done';
    }
    if (outage === 'done' && !Number.isNaN(lagDrain.seconds)) break;
    await sleep(0.5);
  }
} else {
  mark('load');
  await sleep(BEFORE);
  mark('S3 down');
  rig('minio.sh', 'stop');
  await sleep(OUTAGE);
  dlqPeak = await metric('dlq_bytes_current');
  mark('S3 back');
  rig('minio.sh', 'start');
  await sleep(AFTER);
  mark('load stops');
  loading = false;
  await Promise.all(loops);
}
agent.destroy();
// ---- drain: the DLQ re-uploaded (and, for Kafka, the write-ahead log released: committed
// offsets follow the log's fsync, the sinks follow the log)
const drainStart = Date.now();
let dlqLeft = await metric('dlq_bytes_current');
let walLeft = KAFKA ? await metric('wal_records_pending', '') : 0;
while (
  (dlqLeft > 0 || walLeft > 0) &&
  exited === null &&
  (Date.now() - drainStart) / 1000 < Number(opt['drain-timeout'])
) {
  await sleep(2);
  dlqLeft = await metric('dlq_bytes_current');
  walLeft = KAFKA ? await metric('wal_records_pending', '') : 0;
}
mark('drained');
// --kafka: how often partitions paused (a paused partition's fetched messages are fetched again).
let pauses = '';
if (KAFKA)
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    pauses = [...text.matchAll(/^kafka_partition_pauses_total\{reason="([^"]+)"\} (\S+)$/gm)]
      .map((m) => `${m[1]} ${m[2]}`)
      .join(', ');
  } catch {
    pauses = '?';
  }
const drainSeconds = (Date.now() - drainStart) / 1000;
clearInterval(sampler);
const cg = memcg.stats();
const alive = exited === null;
await stopServer(ferry);
memcg.close();
quota?.close();

// ---- delivered?
const maxReq = KAFKA ? Math.ceil(KAFKA / EVENTS_PER_REQ) : nextReq;
const inS3 = new Uint8Array(maxReq * EVENTS_PER_REQ);
const inCh = new Uint8Array(maxReq * EVENTS_PER_REQ);
/** @param {string} id @param {Uint8Array} into */
const markId = (id, into) => {
  const m = /^[a-z0-9]+-(\d+)-(\d+)$/.exec(id);
  if (m) into[Number(m[1]) * EVENTS_PER_REQ + Number(m[2])] = 1;
};
const client = new S3Client({
  region: s3.region,
  endpoint: S3_URL,
  forcePathStyle: true,
  credentials: { accessKeyId: s3.access_key_id, secretAccessKey: s3.secret_access_key },
});
let objects = 0;
let s3Events = 0;
/** @type {string | undefined} */
let token;
do {
  /** @type {import('@aws-sdk/client-s3').ListObjectsV2CommandOutput} */
  const page = await client.send(
    new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: `${run}/`, ContinuationToken: token }),
  );
  for (const o of page.Contents ?? []) {
    const got = await client.send(new GetObjectCommand({ Bucket: s3.bucket, Key: o.Key }));
    const bytes = await got.Body?.transformToByteArray();
    if (!bytes) continue;
    objects++;
    const text = Buffer.from(codecs.decompress('lz4', bytes, 1 << 30)).toString('utf8');
    for (const e of archive.readArchive(text)) {
      s3Events++;
      markId(e.id, inS3);
    }
  }
  token = page.NextContinuationToken;
} while (token);
client.destroy();
for (const id of (await ch(`SELECT event_id FROM ${DB}.${TABLE} FORMAT TabSeparated`)).split('\n'))
  if (id) markId(id, inCh);
let missingS3 = 0;
let missingCh = 0;
if (KAFKA)
  for (let j = 0; j < KAFKA; j++) {
    if (!inS3[j]) missingS3++;
    if (!inCh[j]) missingCh++;
  }
else
  for (const req of acked)
    for (let i = 0; i < EVENTS_PER_REQ; i++) {
      if (!inS3[req * EVENTS_PER_REQ + i]) missingS3++;
      if (!inCh[req * EVENTS_PER_REQ + i]) missingCh++;
    }
// ReplacingMergeTree: FINAL collapses the at-least-once redeliveries.
const chFinal = Number(await ch(`SELECT count() FROM ${DB}.${TABLE} FINAL`));
if (KAFKA) {
  await admin.deleteTopics({ topics: [topic, `${topic}.dlq`] }).catch(() => {});
  await admin.disconnect();
}
await ch(`DROP DATABASE IF EXISTS ${DB}`);

// ---- report
const fmt = (/** @type {number} */ n, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
// Per window (a minute; --window, 15 s by default with --kafka): the max of each figure.
const WINDOW = Number(opt.window ?? (KAFKA ? 15 : 60));
const windows = [];
for (let m = 0; m * WINDOW < (samples.at(-1)?.t ?? 0); m++) {
  const inWin = samples.filter((s) => s.t >= m * WINDOW && s.t < (m + 1) * WINDOW);
  if (inWin.length)
    windows.push({
      m,
      from: m * WINDOW,
      rss: Math.max(...inWin.map((s) => s.rss)),
      cg: Math.max(...inWin.map((s) => s.cg)),
      anon: Math.max(...inWin.map((s) => s.anon)),
      // at the window's VmRSS peak: each isolate's heap / ArrayBuffers
      iso: inWin.reduce((a, b) => (b.rss > a.rss ? b : a)).iso,
    });
}
// Flat after the first minute: every later window within 16 MiB of the first one after it.
const later = windows.filter((w) => w.from >= 60);
const firstLater = later[0];
// A run that ends within its first minute has nothing to be flat after (reported as n/a).
const flat =
  firstLater === undefined ||
  later.every((x) => x.rss <= firstLater.rss + 16 * MiB && x.anon <= firstLater.anon + 16 * MiB);
const perWindow = windows
  .map(
    (x) =>
      `${WINDOW === 60 ? x.m + 1 : `${x.from}–${x.from + WINDOW} s`}: ${fmt(x.rss / MiB)} / ${fmt(x.anon / MiB)} / ${fmt(x.cg / MiB)}${
        opt.probe
          ? ` (${Object.entries(x.iso)
              .sort()
              .map(([k, v]) => `${k} heap ${fmt(v.heap / MiB)} AB ${fmt(v.ab / MiB)}`)
              .join(', ')})`
          : ''
      }`,
  )
  .join('; ');
const loadSeconds = phase.find((p) => p.name === 'load stops')?.t ?? NaN;
const ackedEvents = acked.length * EVENTS_PER_REQ;
const offered = counts.attempts / loadSeconds;
const accepted = counts.ok / loadSeconds;
const hwm = Math.max(...samples.map((s) => s.hwm));
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const verdict = (/** @type {boolean} */ ok) => (ok ? '**met**' : '**NOT met**');
const kafkaText = `### ${MEMORY} MiB, ${VCPU || 'no'} vCPU quota, Kafka lag of ${fmt(KAFKA)} → S3 + ClickHouse${OUTAGE ? `, S3 down ${OUTAGE} s` : ''}

Command: \`npm run build && node bench/memory-cgroup.mjs --kafka ${KAFKA} --partitions ${PARTITIONS} --memory ${MEMORY} --vcpu ${VCPU}${OUTAGE ? ` --before ${BEFORE} --outage ${OUTAGE}` : ''}${opt['config-extra'] === '{}' ? '' : ` --config-extra '${opt['config-extra']}'`}${opt['node-flags'] ? ` --node-flags='${opt['node-flags']}'` : ''}${opt.probe ? ' --probe' : ''}\`
Machine: ${machine}; ${memcg.how}; node flags (as the launcher picks them there): ${flags.join(' ')}

\`ferry config check\` in the cgroup:
\`\`\`
${check.trim()}
\`\`\`

| what | figure |
| --- | --- |
| load | ${produced}; kafka.ack durable, partitions_concurrently ${PARTITIONS}, every other key at its default |
| drain (ferry ready → the group's committed offsets at the end) | ${fmt(lagDrain.seconds, 1)} s, ${fmt(KAFKA / lagDrain.seconds)} events/s, ${fmt(KAFKA / lagDrain.cpuS)} events per CPU-second (${fmt(lagDrain.cpuS, 1)} CPU-s, all threads) |
| committed offsets at the end | ${fmt(lagDrain.committed)} of ${fmt(KAFKA)}: ${verdict(lagDrain.committed >= KAFKA)} |
| partition pauses (kafka_partition_pauses_total by reason) | ${pauses || 'none'} |
| phases (s) | ${phase.map((p) => `${p.name} ${fmt(p.t)}`).join(', ')} |
| write-ahead log / DLQ after the drain | ${fmt(walLeft)} records pending, DLQ ${fmt(dlqLeft)} bytes (peak at the end of the outage ${fmt(dlqPeak / MiB, 1)} MiB), ${fmt(drainSeconds)} s after the commit reached the end: ${verdict(walLeft === 0 && dlqLeft === 0)} |
| OOM | cgroup oom_kill ${cg.oomKills}, limit hit (failcnt) ${cg.failcnt}, ferry ${alive ? 'running until stopped' : `exited (${exited})`}: ${verdict(cg.oomKills === 0 && alive)} |
| peak | VmHWM ${fmt(hwm / MiB, 1)} MiB, cgroup max usage ${fmt(cg.peakBytes / MiB, 1)} MiB (of ${MEMORY}) |
| per ${WINDOW} s from ferry's start, max MiB: VmRSS / cgroup anon (rss) / cgroup usage (with page cache) | ${perWindow} |
| RSS flat after the first minute (VmRSS and cgroup anon of every later window within 16 MiB of the first one after 60 s) | ${firstLater ? verdict(flat) : 'n/a (ended within the first minute)'} |
| delivered: ClickHouse count() FINAL / S3 events (objects) | ${fmt(chFinal)} / ${fmt(s3Events)} (${objects} objects) of ${fmt(KAFKA)} |
| messages missing in S3 / ClickHouse | ${fmt(missingS3)} / ${fmt(missingCh)}: ${verdict(missingS3 === 0 && missingCh === 0 && chFinal === KAFKA)} |
`;
const httpText = `### ${MEMORY} MiB, ${VCPU || 'no'} vCPU quota, S3 + ClickHouse, S3 down ${OUTAGE} s

Command: \`npm run build && node bench/memory-cgroup.mjs --memory ${MEMORY} --vcpu ${VCPU} --before ${BEFORE} --outage ${OUTAGE} --after ${AFTER} --concurrency ${CONC}\`
Machine: ${machine}; ${memcg.how}; node flags (as the launcher picks them there): ${flags.join(' ')}

\`ferry config check\` in the cgroup:
\`\`\`
${check.trim()}
\`\`\`

| what | figure |
| --- | --- |
| load | ${CONC} closed loops of 100-event NDJSON requests (unique event_ids), ack=durable, a 503 retried after 2 ms; ${fmt(loadSeconds)} s |
| offered / accepted | ${fmt(offered)} / ${fmt(accepted)} requests/s (${fmt(offered / accepted, 1)}×); ${fmt(counts.s503)} answered 503, ${counts.other} other, ${counts.errors} connection errors |
| acknowledged events | ${fmt(ackedEvents)} (${fmt(ackedEvents / loadSeconds)} events/s) |
| phases (s) | ${phase.map((p) => `${p.name} ${fmt(p.t)}`).join(', ')} |
| DLQ (S3 sink) at the end of the outage | ${fmt(dlqPeak / MiB, 1)} MiB; drained to ${fmt(dlqLeft)} bytes ${fmt(drainSeconds)} s after the load stopped |
| OOM | cgroup oom_kill ${cg.oomKills}, limit hit (failcnt) ${cg.failcnt}, ferry ${alive ? 'running until stopped' : `exited (${exited})`}: ${verdict(cg.oomKills === 0 && alive)} |
| peak | VmHWM ${fmt(hwm / MiB, 1)} MiB, cgroup max usage ${fmt(cg.peakBytes / MiB, 1)} MiB (of ${MEMORY}) |
| per ${WINDOW === 60 ? 'minute' : `${WINDOW} s`}, max MiB: VmRSS / cgroup anon (rss) / cgroup usage (with page cache) | ${perWindow} |
| RSS flat after the first minute (VmRSS and cgroup anon of every later minute within 16 MiB of the second; the page cache of the DLQ's writes is reclaimable and not counted) | ${firstLater ? verdict(flat) : 'n/a (ended within the first minute)'} |
| acknowledged events missing in S3 / ClickHouse | ${fmt(missingS3)} / ${fmt(missingCh)} (S3: ${objects} objects): ${verdict(missingS3 === 0 && missingCh === 0)} |
| DLQ drained | ${verdict(dlqLeft === 0)} |
`;
const text = KAFKA ? kafkaText : httpText;
console.log(text);
if (opt.write) {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const marker = '\n## Memory cgroup rehearsal\n';
  if (!readFileSync(file, 'utf8').includes(marker))
    appendFileSync(
      file,
      `${marker}\nferry in a memory cgroup without swap, every memory key at auto (\`bench/memory-cgroup.mjs\`).\n`,
    );
  appendFileSync(file, `\n${text}`);
}
const kafkaOk = !KAFKA || (lagDrain.committed >= KAFKA && chFinal === KAFKA && !walLeft);
process.exit(
  cg.oomKills === 0 && alive && flat && !missingS3 && !missingCh && !dlqLeft && kafkaOk ? 0 : 1,
);
