#!/usr/bin/env node
// Throughput per vCPU: ferry under CPU quotas (0.25, 0.5, 1, 2 vCPU; the load generator runs
// outside the quota), for W1 (HTTP NDJSON, 100 events × ~370 B), W2 (the same events as a gzip'd
// JSON array), WB (the same events through the Elasticsearch _bulk door) and, where ferry has a Kafka source, W3 (Kafka → sinks); codecs, sinks and ack
// modes as listed in ROWS. Each row: events/s, events per CPU-second (ferry's utime+stime over
// all threads), p50/p99 ack latency, peak RSS, errors — and the ratio to the bare node:http
// baseline (read body, JSON.parse each line, lz4) on one core, measured in the same run.
//
// usage: npm run build && node bench/per-vcpu.mjs [--duration 10] [--only TEXT] [--write] [--profile DIR]
//   --write     update bench/RESULTS.md (the per-vCPU section) and bench/per-vcpu.svg
//   --profile   run ferry under `node --cpu-prof`, one .cpuprofile per thread and row in DIR
//               (summarise with bench/profile-summary.mjs; profiling slows every row)
//   --memory MiB  run ferry in a memory cgroup of that size, no swap (bench/lib/memcg.mjs), with
//               the main-thread flags the launcher picks there; memory keys at auto
//   --root DIR  run the ferry build of another checkout (e.g. main, for a before/after)
// S3 + ClickHouse rows start the test rig (scripts/rig/up.sh) first.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { writeBodies, EVENTS_PER_REQ } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';
import { writeOtlpBody, writeOtlpMappedBody } from './lib/otlp-payload.mjs';
import { memoryCgroup } from './lib/memcg.mjs';
import { launcherPlan } from './lib/launcher-plan.mjs';
import { lineChart } from './lib/svg.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    only: { type: 'string' },
    write: { type: 'boolean', default: false },
    profile: { type: 'string' },
    connections: { type: 'string', default: '64' },
    memory: { type: 'string' },
    root: { type: 'string' },
  },
});
/** The checkout whose dist/ runs as ferry (this one unless --root). */
const FERRY_ROOT = opt.root ? resolve(opt.root) : ROOT;
const DURATION = Number(opt.duration);
const CONNS = Number(opt.connections);
requireWrk();

const work = mkdtempSync(join(tmpdir(), 'ferry-per-vcpu-'));
const bodies = writeBodies(work);
const otlpBody = writeOtlpBody(work);
const otlpMapped = writeOtlpMappedBody(work);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const rig = {
  s3: {
    endpoint: `http://127.0.0.1:${19000 + OFF}`,
    bucket: 'ferry-test',
    access_key_id: 'ferry',
    secret_access_key: 'ferrysecret123',
  },
  clickhouse: { url: `http://127.0.0.1:${18123 + OFF}` },
};

const QUOTAS = [0.25, 0.5, 1, 2];
/**
 * A row driven over HTTP by wrk, and a row that drains a Kafka lag (bench/kafka.mjs).
 * @typedef {'directory' | 's3' | 's3 down (DLQ)' | 's3+clickhouse'} HttpSinks
 * @typedef {{ ack: 'accepted' | 'durable', codec: string, sinks: HttpSinks }} FerrySetup
 * @typedef {FerrySetup & { workload: 'W1' | 'W2' | 'OTLP' | 'WO' | 'WB', vcpu: number }} HttpRow
 * @typedef {{ workload: 'W3', vcpu: number, codec: string, sinks: 'clickhouse', ack: 'commit' }} KafkaRow
 * @typedef {HttpRow | KafkaRow} Row
 */
/**
 * The matrix. vcpu: quota; sinks: 'directory' | 's3' | 's3+clickhouse'.
 * @type {Row[]}
 */
const ROWS = [
  ...QUOTAS.map(
    /** @returns {HttpRow} */ (vcpu) => ({
      workload: 'W1',
      vcpu,
      codec: 'lz4',
      sinks: 'directory',
      ack: 'accepted',
    }),
  ),
  ...QUOTAS.map(
    /** @returns {HttpRow} */ (vcpu) => ({
      workload: 'W1',
      vcpu,
      codec: 'lz4',
      sinks: 'directory',
      ack: 'durable',
    }),
  ),
  { workload: 'W1', vcpu: 1, codec: 'gzip', sinks: 'directory', ack: 'durable' },
  { workload: 'W1', vcpu: 1, codec: 'zstd', sinks: 'directory', ack: 'durable' },
  { workload: 'W2', vcpu: 1, codec: 'lz4', sinks: 'directory', ack: 'durable' },
  // OTLP: the W1 events as 100 LogRecords in one protobuf ExportLogsServiceRequest, POST /v1/logs.
  { workload: 'OTLP', vcpu: 1, codec: 'lz4', sinks: 'directory', ack: 'durable' },
  // WO: the OTLP row's records as ferry maps them (~2.6× a W1 event), as NDJSON to /v1/events:
  // what of OTLP's cost is the door and what is the size of its events.
  { workload: 'WO', vcpu: 1, codec: 'lz4', sinks: 'directory', ack: 'durable' },
  // WB: the W1 events through the Elasticsearch _bulk door (POST /_bulk, 100 documents a request).
  { workload: 'WB', vcpu: 1, codec: 'lz4', sinks: 'directory', ack: 'durable' },
  { workload: 'W1', vcpu: 1, codec: 'gzip', sinks: 's3', ack: 'durable' },
  { workload: 'W1', vcpu: 1, codec: 'lz4', sinks: 's3+clickhouse', ack: 'durable' },
  // S3 unreachable: every batch is fsync'd into the local DLQ and acknowledged from there.
  { workload: 'W1', vcpu: 1, codec: 'lz4', sinks: 's3 down (DLQ)', ack: 'durable' },
  // W3: drain a Kafka lag into ClickHouse (bench/kafka.mjs under the same quota); "ack" = offsets
  // committed behind what is durable.
  { workload: 'W3', vcpu: 0.5, codec: 'lz4', sinks: 'clickhouse', ack: 'commit' },
  { workload: 'W3', vcpu: 1, codec: 'lz4', sinks: 'clickhouse', ack: 'commit' },
];
const W3_MESSAGES = 200_000;
/** @param {string} name */
const profileFlags = (name) =>
  opt.profile
    ? ['--cpu-prof', `--cpu-prof-dir=${resolve(opt.profile, name.replace(/[^\w.-]+/g, '_'))}`]
    : [];
/** @param {Row} r */
const label = (r) => `${r.workload} ${r.vcpu} vCPU ${r.codec} → ${r.sinks}, ack=${r.ack}`;
const rows = ROWS.filter((r) => !opt.only || label(r).includes(opt.only));

/**
 * @param {FerrySetup} r
 * @param {number} port
 * @param {string} dir
 */
function ferryConfig(r, port, dir) {
  const prefix = `bench-${process.pid}`;
  const sinks = {
    directory: [{ name: 'local', type: 'directory', path: join(dir, 'out') }],
    s3: [
      {
        name: 'archive',
        type: 's3',
        region: 'us-east-1',
        force_path_style: true,
        key_template: `${prefix}/{date}/{hour}/{host}-{batch_id}{ext}`,
        ...rig.s3,
      },
    ],
    's3 down (DLQ)': [
      {
        name: 'archive',
        type: 's3',
        region: 'us-east-1',
        force_path_style: true,
        key_template: `${prefix}/{batch_id}{ext}`,
        ...rig.s3,
        endpoint: 'http://127.0.0.1:9',
      },
    ],
    's3+clickhouse': [
      {
        name: 'archive',
        type: 's3',
        region: 'us-east-1',
        force_path_style: true,
        key_template: `${prefix}/{date}/{hour}/{host}-{batch_id}{ext}`,
        ...rig.s3,
      },
      {
        name: 'warehouse',
        type: 'clickhouse',
        url: rig.clickhouse.url,
        database: 'ferry_bench',
        table: 'events',
      },
    ],
  }[r.sinks];
  // YAML is a superset of JSON.
  return JSON.stringify({
    state_dir: dir,
    listen: { host: '127.0.0.1', port },
    http: { ack: r.ack },
    otlp: { enabled: true },
    // Durable requests wait for their batch: 64 connections × 100 events seal 5000-event batches
    // by count; max_age bounds the rest.
    batch: { codec: r.codec, max_age_ms: 200 },
    sinks,
    log: { level: 'info' },
  });
}

function ensureRig() {
  execFileSync('bash', [join(ROOT, 'scripts', 'rig', 'up.sh')], { stdio: 'inherit' });
  execFileSync('curl', [
    '-fsS',
    '-o',
    '/dev/null',
    '--data-binary',
    'CREATE DATABASE IF NOT EXISTS ferry_bench',
    rig.clickhouse.url,
  ]);
}

/**
 * @typedef {object} MeasureOptions
 * @property {string[]} argv
 * @property {Record<string, string>} [env]
 * @property {string} readyMsg
 * @property {string} url
 * @property {string} body the body file
 * @property {string} [contentType]
 * @property {string} [contentEncoding]
 * @property {number} vcpu
 * @property {number} connections
 */

/**
 * A row's figures. W3 rows (from bench/kafka.mjs) have no latency, CPU-seconds or quota text.
 * @typedef {object} Result
 * @property {string} name
 * @property {number} vcpu
 * @property {number} eventsPerSec
 * @property {number} eventsPerCpuSec
 * @property {number} [cpu]
 * @property {number} p50
 * @property {number} p99
 * @property {number} rss
 * @property {number | string} errors
 * @property {string} [how]
 * @property {Row} [row]
 */

/**
 * @param {string} name
 * @param {MeasureOptions} o
 */
async function measure(
  name,
  { argv, env = {}, readyMsg, url, body, contentType, contentEncoding, vcpu, connections },
) {
  const quota = cpuQuota(vcpu);
  // The baseline runs without a memory limit; ferry (argv with cli.js) in the cgroup, if asked.
  const ferry = argv.some((a) => a.endsWith('cli.js'));
  const memcg =
    ferry && opt.memory
      ? memoryCgroup(Number(opt.memory) * 2 ** 20, `ferry-per-vcpu-${process.pid}`)
      : undefined;
  /** @param {string[]} a */
  const wrap = (a) => quota.wrap(memcg ? memcg.wrap(a) : a);
  if (memcg) {
    // As the packaged launcher: what node-flags.js picks inside the cgroup, after the default.
    const plan = launcherPlan(FERRY_ROOT, wrap);
    const at = argv.findIndex((a) => a.endsWith('cli.js'));
    argv = [...argv.slice(0, at), ...plan.flags, ...argv.slice(at)];
    env = { ...env, ...plan.env };
  }
  try {
    const p = await startServer({ argv, env, cwd: FERRY_ROOT, readyMsg, wrap });
    try {
      const load = { url, bodyFile: body, contentType, contentEncoding, connections };
      wrk({ ...load, seconds: 3 }); // warm-up
      const c0 = cpuSeconds(p.pid);
      const r = wrk({ ...load, seconds: DURATION });
      const cpu = cpuSeconds(p.pid) - c0;
      const ok = (r.requests - r.non2xx) * EVENTS_PER_REQ;
      return {
        name,
        vcpu,
        eventsPerSec: ok / DURATION,
        eventsPerCpuSec: ok / cpu,
        cpu,
        p50: r.p50,
        p99: r.p99,
        rss: peakRssMiB(p.pid),
        errors: r.non2xx + (r.socketErrors ? ` (${r.socketErrors})` : ''),
        how: quota.how,
      };
    } finally {
      await stopServer(p);
    }
  } finally {
    memcg?.close();
    quota.close();
  }
}

/** @type {Result[]} */
const results = [];
process.stderr.write(`bench: baseline (1 vCPU) …\n`);
const basePort = 18800 + Math.floor(Math.random() * 90);
const base = await measure('baseline node:http (parse + lz4), 1 vCPU', {
  argv: [process.execPath, join(ROOT, 'bench/baseline-server.mjs'), String(basePort)],
  readyMsg: 'listening',
  url: `http://127.0.0.1:${basePort}/`,
  body: bodies.w1,
  vcpu: 1,
  connections: 16,
});
results.push({ ...base, row: undefined });
if (rows.some((r) => r.sinks === 's3' || r.sinks === 's3+clickhouse' || r.workload === 'W3'))
  ensureRig();
if (rows.some((r) => r.sinks === 's3+clickhouse')) {
  const cfgFile = join(work, 'migrate.yaml');
  writeFileSync(
    cfgFile,
    ferryConfig({ ack: 'durable', codec: 'lz4', sinks: 's3+clickhouse' }, 1, join(work, 'migrate')),
  );
  execFileSync(process.execPath, ['dist/src/cli.js', 'migrate', '--config', cfgFile], {
    cwd: ROOT,
    stdio: 'inherit',
  });
}
for (const r of rows) {
  const name = label(r);
  process.stderr.write(`bench: ${name} …\n`);
  if (r.workload === 'W3') {
    const out = execFileSync(
      process.execPath,
      [
        'bench/kafka.mjs',
        '--messages',
        String(W3_MESSAGES),
        '--partitions',
        '3',
        '--vcpu',
        String(r.vcpu),
        '--json',
        ...(opt.memory ? ['--memory', opt.memory] : []),
        ...(opt.profile ? ['--profile', resolve(opt.profile, name.replace(/[^\w.-]+/g, '_'))] : []),
      ],
      { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const lines = out.trim().split('\n');
    /** @type {{ eventsPerSec: number, eventsPerCpuSec: number, rss: number }} kafka.mjs --json */
    const k = JSON.parse(lines[lines.length - 1]);
    results.push({
      name: `${name} (drain a lag of ${W3_MESSAGES.toLocaleString('en-US')})`,
      vcpu: r.vcpu,
      eventsPerSec: k.eventsPerSec,
      eventsPerCpuSec: k.eventsPerCpuSec,
      p50: NaN,
      p99: NaN,
      rss: k.rss,
      errors: 0,
      row: r,
    });
    continue;
  }
  const port = 18800 + Math.floor(Math.random() * 90);
  const dir = mkdtempSync(join(work, 'ferry-'));
  const cfgFile = join(dir, 'ferry.yaml');
  writeFileSync(cfgFile, ferryConfig(r, port, dir));
  const w2 = r.workload === 'W2';
  const otlp = r.workload === 'OTLP';
  results.push({
    ...(await measure(name, {
      argv: [
        process.execPath,
        ...FERRY_NODE_FLAGS,
        ...profileFlags(name),
        'dist/src/cli.js',
        'run',
        '--config',
        cfgFile,
      ],
      readyMsg: 'ferry listening',
      url: `http://127.0.0.1:${port}${otlp ? '/v1/logs' : r.workload === 'WB' ? '/_bulk' : '/v1/events'}`,
      body: otlp
        ? otlpBody
        : w2
          ? bodies.w2
          : r.workload === 'WB'
            ? bodies.wb
            : r.workload === 'WO'
              ? otlpMapped.file
              : bodies.w1,
      contentType: otlp
        ? 'application/x-protobuf'
        : w2
          ? 'application/json'
          : 'application/x-ndjson',
      contentEncoding: w2 ? 'gzip' : undefined,
      vcpu: r.vcpu,
      connections: CONNS,
    })),
    row: r,
  });
}

/**
 * @param {number} n
 * @param {number} [d]
 */
const fmt = (n, d = 0) =>
  Number.isFinite(n)
    ? n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d })
    : '–';
const table = [
  '| run | events/s | events per CPU-second | vs baseline (per CPU-s) | p50 ms | p99 ms | peak RSS MiB | errors |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...results.map(
    (x) =>
      `| ${x.name} | ${fmt(x.eventsPerSec)} | ${fmt(x.eventsPerCpuSec)} | ${fmt((100 * x.eventsPerCpuSec) / base.eventsPerCpuSec)} % | ${fmt(x.p50, 2)} | ${fmt(x.p99, 2)} | ${fmt(x.rss)} | ${x.errors} |`,
  ),
].join('\n');

// Scaling: events/s at 1 vCPU over 0.25 vCPU, per series.
/** @type {Map<string, { x: number, y: number }[]>} */
const series = new Map();
for (const x of results) {
  if (!x.row || !(x.row.workload === 'W1' && x.row.sinks === 'directory' && x.row.codec === 'lz4'))
    continue;
  const key = `W1 lz4 → directory, ack=${x.row.ack}`;
  const pts = series.get(key) ?? [];
  series.set(key, pts);
  pts.push({ x: x.vcpu, y: x.eventsPerSec });
}
const scaling = [...series].map(([k, pts]) => {
  // NaN for a missing point (fmt prints '–'), as undefined / y is.
  /** @param {number} v */
  const at = (v) => pts.find((p) => p.x === v)?.y ?? NaN;
  return `- ${k}: 1 vCPU / 0.25 vCPU = ${fmt(at(1) / at(0.25), 2)}×`;
});
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const header = `Per-vCPU run: ${DURATION} s per row after a 3 s warm-up; wrk -t2 -c${CONNS} (baseline -c16) outside the quota; quota by ${base.how.replace(/ \d+ .*/, '')}.\nW1: ${EVENTS_PER_REQ} events × ~${bodies.avgEventBytes} B NDJSON per request; W2: the same events as a gzip'd JSON array; OTLP: the same events as 100 LogRecords (attributes, trace context) in one protobuf ExportLogsServiceRequest to /v1/logs; WO: the OTLP records as ferry maps them (~${otlpMapped.avgEventBytes} B each) as NDJSON to /v1/events; WB: the same events as an Elasticsearch _bulk body (POST /_bulk, an index action line before each); W3: Kafka → ClickHouse, a produced lag drained (bench/kafka.mjs), no ack latency.\nMachine: ${machine}`;
const text = `${header}\n\n${table}\n\nScaling (events/s):\n${scaling.join('\n')}\n`;
console.log(text);

if (opt.write) {
  const svg = lineChart({
    title: 'ferry events/s against vCPU quota',
    xLabel: 'vCPU (quota)',
    yLabel: 'events/s',
    series: [...series].map(([name, points]) => ({ name, points })),
  });
  writeFileSync(join(ROOT, 'bench', 'per-vcpu.svg'), svg);
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const old = readFileSync(file, 'utf8');
  const marker = '\n## Per vCPU';
  const kept = old.includes(marker) ? old.slice(0, old.indexOf(marker)) : old.trimEnd() + '\n';
  writeFileSync(
    file,
    `${kept}${marker}\n\nCommand: \`npm run build && node bench/per-vcpu.mjs --write\` (chart: \`bench/per-vcpu.svg\`)\n\n${text}`,
  );
}
