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
// Prints a Markdown report; --write appends it to bench/RESULTS.md ("Memory cgroup rehearsal").
//
// usage: npm run build && node bench/memory-cgroup.mjs [--memory 256] [--vcpu 0.25] [--before 60]
//          [--outage 60] [--after 60] [--concurrency 256] [--drain-timeout 600] [--write]
// Needs root and a writable memory cgroup (v1 or v2: bench/lib/memcg.mjs says why not), and
// the rig (scripts/rig/up.sh clickhouse minio; FERRY_RIG_DIR / FERRY_RIG_PORT_OFFSET honoured).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, appendFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir, cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { FERRY_NODE_FLAGS, startServer, stopServer } from './lib/proc.mjs';
import { events, EVENTS_PER_REQ } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';
import { memoryCgroup } from './lib/memcg.mjs';
import { launcherPlan } from './lib/launcher-plan.mjs';
import { distModule } from './lib/dist.mjs';

/** @type {typeof import('../src/codecs/index.js')} */
const codecs = await import(distModule('src/codecs/index.js'));

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    memory: { type: 'string', default: '256' },
    vcpu: { type: 'string', default: '0.25' },
    before: { type: 'string', default: '60' },
    outage: { type: 'string', default: '60' },
    after: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '256' },
    'drain-timeout': { type: 'string', default: '600' },
    write: { type: 'boolean', default: false },
  },
});
const MiB = 2 ** 20;
const MEMORY = Number(opt.memory);
const VCPU = Number(opt.vcpu);
const [BEFORE, OUTAGE, AFTER] = [opt.before, opt.outage, opt.after].map(Number);
const CONC = Number(opt.concurrency);
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;
const S3_URL = `http://127.0.0.1:${19000 + OFF}`;
const CH_URL = `http://127.0.0.1:${18123 + OFF}`;
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

rig('up.sh', 'clickhouse', 'minio');
await ch(`CREATE DATABASE IF NOT EXISTS ${DB}`);

const work = mkdtempSync(join(tmpdir(), 'ferry-memcg-'));
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
writeFileSync(
  cfgFile,
  JSON.stringify({
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
  }),
);
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

const ferry = await startServer({
  argv: [
    process.execPath,
    ...FERRY_NODE_FLAGS,
    ...plan.flags,
    'dist/src/cli.js',
    'run',
    '--config',
    cfgFile,
  ],
  env: plan.env,
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
/** @type {{ t: number, rss: number, hwm: number, cg: number, anon: number }[]} */
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
let loading = true;
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
const loops = Array.from({ length: CONC }, async () => {
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
/** @param {string} name */
const metric = async (name) => {
  try {
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    return Number(new RegExp(`^${name}\\{sink="archive"\\} (\\S+)$`, 'm').exec(text)?.[1] ?? 0);
  } catch {
    return NaN;
  }
};
const phase = /** @type {{ name: string, t: number, ok: number, attempts: number }[]} */ ([]);
const mark = (/** @type {string} */ name) =>
  phase.push({ name, t: (Date.now() - t0) / 1000, ok: counts.ok, attempts: counts.attempts });

mark('load');
await sleep(BEFORE);
mark('S3 down');
rig('minio.sh', 'stop');
await sleep(OUTAGE);
const dlqPeak = await metric('dlq_bytes_current');
mark('S3 back');
rig('minio.sh', 'start');
await sleep(AFTER);
mark('load stops');
loading = false;
await Promise.all(loops);
agent.destroy();
// ---- drain
const drainStart = Date.now();
let dlqLeft = await metric('dlq_bytes_current');
while (
  dlqLeft > 0 &&
  exited === null &&
  (Date.now() - drainStart) / 1000 < Number(opt['drain-timeout'])
) {
  await sleep(2);
  dlqLeft = await metric('dlq_bytes_current');
}
mark('drained');
const drainSeconds = (Date.now() - drainStart) / 1000;
clearInterval(sampler);
const cg = memcg.stats();
const alive = exited === null;
await stopServer(ferry);
memcg.close();
quota?.close();

// ---- delivered?
const maxReq = nextReq;
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
    for (const line of text.split('\n')) if (line) markId(JSON.parse(line).event_id, inS3);
  }
  token = page.NextContinuationToken;
} while (token);
client.destroy();
for (const id of (await ch(`SELECT event_id FROM ${DB}.${TABLE} FORMAT TabSeparated`)).split('\n'))
  if (id) markId(id, inCh);
let missingS3 = 0;
let missingCh = 0;
for (const req of acked)
  for (let i = 0; i < EVENTS_PER_REQ; i++) {
    if (!inS3[req * EVENTS_PER_REQ + i]) missingS3++;
    if (!inCh[req * EVENTS_PER_REQ + i]) missingCh++;
  }
await ch(`DROP DATABASE IF EXISTS ${DB}`);

// ---- report
const fmt = (/** @type {number} */ n, d = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });
const minutes = [];
for (let m = 0; m * 60 < (samples.at(-1)?.t ?? 0); m++) {
  const inMin = samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60);
  if (inMin.length)
    minutes.push({
      m,
      rss: Math.max(...inMin.map((s) => s.rss)),
      cg: Math.max(...inMin.map((s) => s.cg)),
      anon: Math.max(...inMin.map((s) => s.anon)),
    });
}
const later = minutes.slice(1);
const secondMin = later[0];
const flat =
  secondMin !== undefined &&
  later.every((x) => x.rss <= secondMin.rss + 16 * MiB && x.anon <= secondMin.anon + 16 * MiB);
const loadSeconds = phase.find((p) => p.name === 'load stops')?.t ?? NaN;
const ackedEvents = acked.length * EVENTS_PER_REQ;
const offered = counts.attempts / loadSeconds;
const accepted = counts.ok / loadSeconds;
const hwm = Math.max(...samples.map((s) => s.hwm));
const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}`;
const verdict = (/** @type {boolean} */ ok) => (ok ? '**met**' : '**NOT met**');
const text = `### ${MEMORY} MiB, ${VCPU || 'no'} vCPU quota, S3 + ClickHouse, S3 down ${OUTAGE} s

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
| per minute, max MiB: VmRSS / cgroup anon (rss) / cgroup usage (with page cache) | ${minutes.map((x) => `${x.m + 1}: ${fmt(x.rss / MiB)} / ${fmt(x.anon / MiB)} / ${fmt(x.cg / MiB)}`).join('; ')} |
| RSS flat after the first minute (VmRSS and cgroup anon of every later minute within 16 MiB of the second; the page cache of the DLQ's writes is reclaimable and not counted) | ${verdict(flat)} |
| acknowledged events missing in S3 / ClickHouse | ${fmt(missingS3)} / ${fmt(missingCh)} (S3: ${objects} objects): ${verdict(missingS3 === 0 && missingCh === 0)} |
| DLQ drained | ${verdict(dlqLeft === 0)} |
`;
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
process.exit(cg.oomKills === 0 && alive && flat && !missingS3 && !missingCh && !dlqLeft ? 0 : 1);
