#!/usr/bin/env node
// Archive bytes per event, format 1 (an envelope per event) against format 2 (a header line, then
// each event's bytes), for gzip, zstd and lz4 at ferry's default levels (and gzip 6, the level
// most peers use) — then what the worker pays for it: its CPU per event in process (parse +
// batch + lz4, one thread: the steady figure), and events per CPU-second and peak RSS of the
// whole server on W1 lz4 → directory under a 1-vCPU quota; the two formats alternate.
//
// The bytes are measured in process through the worker's own Batcher (dist/workers/batcher.js),
// on 5000-event batches (batch.max_events) of W1's events: "as sent" = the bench's one W1 body
// repeated (what wrk sends, and what the peers' 15–17 B/event were measured on), "varied" = 50
// different W1 bodies (every event distinct). Requests are 1 ms apart, as under load.
//
// usage: npm run build && node bench/archive-bytes.mjs [--duration 10] [--rounds 3] [--path-rounds 9] [--no-cpu] [--write]
//   --no-cpu  skip the server runs (wrk); the bytes and the in-process worker cost still run
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { distModule } from './lib/dist.mjs';
import { FERRY_NODE_FLAGS, cpuSeconds, peakRssMiB, startServer, stopServer } from './lib/proc.mjs';
import { requireWrk, wrk } from './lib/wrk.mjs';
import { EVENTS_PER_REQ, variedBodies, writeBodies } from './lib/payload.mjs';
import { cpuQuota } from './lib/cgroup.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '3' },
    'path-rounds': { type: 'string', default: '9' },
    'no-cpu': { type: 'boolean', default: false },
    write: { type: 'boolean', default: false },
  },
});
const DURATION = Number(opt.duration);
const ROUNDS = Number(opt.rounds);

/** @param {string} rel */
const dist = (rel) => import(distModule(rel));
/** @type {typeof import('../workers/batcher.js')} */
const { Batcher } = await dist('workers/batcher.js');
/** @type {typeof import('../workers/parse.js')} */
const { parseBody } = await dist('workers/parse.js');
/** @type {typeof import('../src/codecs/index.js')} */
const { compress, decompress } = await dist('src/codecs/index.js');
/** @type {typeof import('../src/archive/read.js')} */
const { readArchive } = await dist('src/archive/read.js');

const loadAtStart = loadavg()[0];
const work = mkdtempSync(join(tmpdir(), 'ferry-archive-bytes-'));
const bodies = writeBodies(work);
const BATCH = 5000;
const REQS = BATCH / EVENTS_PER_REQ;
const w1 = readFileSync(bodies.w1);
const workloads = {
  'as sent': Array.from({ length: REQS }, () => w1),
  varied: variedBodies(REQS),
};
const T0 = Date.UTC(2026, 11, 2, 3, 0, 0, 0);

/**
 * One 5000-event batch of the workload in format f, codec c at level l: its compressed bytes.
 * @param {Buffer[]} reqs
 * @param {1 | 2} format
 * @param {'gzip' | 'zstd' | 'lz4' | 'none'} codec
 * @param {number} level
 */
function objectOf(reqs, format, codec, level) {
  /** @type {import('../workers/batcher.js').SealedBatch[]} */
  const sealed = [];
  const b = new Batcher(
    {
      maxEvents: BATCH,
      maxBytes: 1 << 30,
      maxAgeMs: 60_000,
      codec,
      level,
      archive: true,
      rows: false,
      compressRows: false,
      archiveFormat: format,
    },
    (s) => sealed.push(s),
  );
  reqs.forEach((body, i) => {
    const p = parseBody(1, body);
    if (!p.ok) throw new Error(p.message);
    b.appendRequest(i, p.events, T0 + i, 'http');
  });
  b.sealIfDue(Date.now(), true);
  if (sealed.length !== 1) throw new Error(`expected one batch, got ${sealed.length}`);
  const part = sealed[0].batch.archive;
  if (!part) throw new Error('no archive part');
  // The object must read back to every event (a format bug must not pass for a saving).
  const text = new TextDecoder().decode(decompress(codec, part.body, 1 << 30));
  if (readArchive(text).length !== BATCH) throw new Error('object does not read back');
  return part.body.byteLength;
}

const CODECS = /** @type {const} */ ([
  ['gzip', 0, 'gzip (level 1, ferry default)'],
  ['gzip', 6, 'gzip 6'],
  ['zstd', 0, 'zstd (level 1, ferry default)'],
  ['lz4', 0, 'lz4 (ferry default codec)'],
  ['none', 0, 'none'],
]);
const PEERS = [15, 17];
/** @param {number} n @param {number} [d] */
const fmt = (n, d = 1) =>
  n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

const byteRows = [];
for (const [codec, level, name] of CODECS) {
  const cells = [];
  for (const reqs of Object.values(workloads)) {
    const v1 = objectOf(reqs, 1, codec, level) / BATCH;
    const v2 = objectOf(reqs, 2, codec, level) / BATCH;
    // The producer's NDJSON alone, same codec and level: what no format can go below.
    const raw = Buffer.concat(reqs);
    const alone =
      (codec === 'none' ? raw : compress(codec, raw, level || undefined)).byteLength / BATCH;
    cells.push({ v1, v2, alone });
  }
  const [sent, varied] = cells;
  const peers =
    codec === 'gzip' ? `${fmt(sent.v2 / PEERS[1], 2)}–${fmt(sent.v2 / PEERS[0], 2)}×` : '–';
  byteRows.push(
    `| ${name} | ${fmt(sent.v1)} | ${fmt(sent.v2)} | ${fmt(sent.alone)} | ${fmt(sent.v1 / sent.v2, 2)}× | ${peers} | ${fmt(varied.v1)} | ${fmt(varied.v2)} | ${fmt(varied.alone)} |`,
  );
}
const bytesTable = [
  `| codec | format 1 (as sent) | format 2 (as sent) | NDJSON alone (as sent) | format 1 / format 2 | format 2 / peers' 15–17 | format 1 (varied) | format 2 (varied) | NDJSON alone (varied) |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...byteRows,
].join('\n');
console.log(bytesTable);

// The worker's own cost, without HTTP, rings or threads (as bench/worker-path.mjs): parse +
// batch + encode + lz4 of varied W1 bodies in this one thread, by CPU time, the two formats in
// alternating rounds so a busy machine weighs on both alike.
const PATH_EVENTS = 200_000;
const pathBodies = variedBodies(500).map((b) => new Uint8Array(b));
/** @param {1 | 2} format */
function pathBatcher(format) {
  return new Batcher(
    {
      maxEvents: BATCH,
      maxBytes: 8 << 20,
      maxAgeMs: 1000,
      codec: 'lz4',
      level: 0,
      archive: true,
      rows: false,
      compressRows: false,
      archiveFormat: format,
    },
    () => {},
  );
}
/** @param {import('../workers/batcher.js').Batcher} b @param {number} events */
function pathRound(b, events) {
  let n = 0;
  let req = 0;
  while (n < events) {
    const parsed = parseBody(1, pathBodies[req % pathBodies.length].slice());
    if (!parsed.ok) throw new Error(parsed.message);
    b.appendRequest(req++, parsed.events, Date.now(), 'http');
    n += parsed.events.length;
  }
  b.sealIfDue(Date.now(), true);
  return n;
}
const pathBatchers = { 1: pathBatcher(1), 2: pathBatcher(2) };
/** @type {Record<1 | 2, number[]>} ns per event */
const pathNs = { 1: [], 2: [] };
for (const f of /** @type {const} */ ([1, 2])) pathRound(pathBatchers[f], 50_000); // JIT warm-up
for (let r = 0; r < Number(opt['path-rounds']); r++)
  for (const f of /** @type {const} */ ([1, 2])) {
    const c0 = process.cpuUsage();
    const n = pathRound(pathBatchers[f], PATH_EVENTS);
    const c = process.cpuUsage(c0);
    pathNs[f].push(((c.user + c.system) * 1000) / n);
  }
/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pathTable = [
  '| archive | ns per event (median) | events per CPU-second | rounds (ns per event) |',
  '| --- | ---: | ---: | --- |',
  .../** @type {const} */ ([1, 2]).map(
    (f) =>
      `| format ${f} | ${fmt(median(pathNs[f]), 0)} | ${fmt(1e9 / median(pathNs[f]), 0)} | ${pathNs[f].map((x) => fmt(x, 0)).join(' / ')} |`,
  ),
].join('\n');
console.log(`\n${pathTable}`);

let cpuTable = '';
if (!opt['no-cpu']) {
  requireWrk();
  /** @type {Record<string, { eps: number, cpu: number, rss: number, bytes: number, events: number }[]>} */
  const runs = { 1: [], 2: [] };
  for (let round = 0; round < ROUNDS; round++)
    for (const format of /** @type {const} */ ([1, 2])) {
      process.stderr.write(`bench: round ${round + 1}, format ${format} …\n`);
      runs[format].push(await serve(format));
    }
  const line = (/** @type {1 | 2} */ f) => {
    const r = runs[f];
    const eps = r.map((x) => x.eps);
    const bytes = r.reduce((n, x) => n + x.bytes, 0) / r.reduce((n, x) => n + x.events, 0);
    return `| format ${f} | ${eps.map((x) => fmt(x, 0)).join(' / ')} | ${fmt(median(eps), 0)} | ${fmt(median(r.map((x) => x.rss)), 0)} | ${fmt(bytes, 1)} |`;
  };
  cpuTable = [
    '| archive | events per CPU-second, each round | median | peak RSS MiB (median) | lz4 B/event written |',
    '| --- | ---: | ---: | ---: | ---: |',
    line(1),
    line(2),
  ].join('\n');
  console.log(`\n${cpuTable}`);
}

/**
 * ferry on W1, lz4 → directory, ack=accepted, 1 vCPU: events per CPU-second, peak RSS, and the
 * bytes per event of what it wrote.
 * @param {1 | 2} format
 */
async function serve(format) {
  const port = 18700 + Math.floor(Math.random() * 90);
  const dir = mkdtempSync(join(work, `f${format}-`));
  const cfgFile = join(dir, 'ferry.yaml');
  writeFileSync(
    cfgFile,
    JSON.stringify({
      state_dir: dir,
      listen: { host: '127.0.0.1', port },
      http: { ack: 'accepted' },
      batch: { codec: 'lz4', archive_format: format },
      sinks: [{ name: 'local', type: 'directory', path: join(dir, 'out') }],
      log: { level: 'info' },
    }),
  );
  const quota = cpuQuota(1);
  try {
    const p = await startServer({
      argv: [process.execPath, ...FERRY_NODE_FLAGS, 'dist/src/cli.js', 'run', '--config', cfgFile],
      cwd: ROOT,
      readyMsg: 'ferry listening',
      wrap: quota.wrap,
    });
    let ok = 0;
    let cpu = 0;
    let rss = 0;
    try {
      const load = {
        url: `http://127.0.0.1:${port}/v1/events`,
        bodyFile: bodies.w1,
        connections: 64,
      };
      wrk({ ...load, seconds: 3 });
      const c0 = cpuSeconds(p.pid);
      const r = wrk({ ...load, seconds: DURATION });
      cpu = cpuSeconds(p.pid) - c0;
      ok = (r.requests - r.non2xx) * EVENTS_PER_REQ;
      rss = peakRssMiB(p.pid);
    } finally {
      await stopServer(p);
    }
    let bytes = 0;
    let events = 0;
    const walk = (/** @type {string} */ d) => {
      for (const n of readdirSync(d)) {
        const f = join(d, n);
        if (statSync(f).isDirectory()) walk(f);
        else if (n.endsWith('.lz4')) {
          const body = readFileSync(f);
          bytes += body.byteLength;
          events += readArchive(new TextDecoder().decode(decompress('lz4', body, 1 << 30))).length;
        }
      }
    };
    walk(join(dir, 'out'));
    return { eps: ok / cpu, cpu, rss, bytes, events };
  } finally {
    quota.close();
  }
}

const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} vCPU, ${Math.round(totalmem() / 2 ** 30)} GiB RAM, Node ${process.versions.node}, ${new Date().toISOString().slice(0, 10)}; load average ${fmt(loadAtStart, 1)} at the start, ${fmt(loadavg()[0], 1)} at the end (a shared machine: the whole-server figures spread with it, the in-process ones much less)`;
const text = `Archive bytes per event: 5000-event batches of W1 (${EVENTS_PER_REQ} events × ~${bodies.avgEventBytes} B per request) through the worker's Batcher; "as sent" repeats the one W1 body (what wrk sends and what the peers were measured on), "varied" has every event distinct. Bytes per event of the compressed object; "NDJSON alone" is the producer's bytes compressed the same way, the floor for any format. Peers (OpenTelemetry Collector, Fluent Bit, gzip at their default level): 15–17 B/event (issue 15, not re-measured here).\nMachine: ${machine}\n\n${bytesTable}\n\nThe worker's cost per event, in process (parse + batch + encode + lz4 of varied W1 bodies, one thread, CPU time, ${PATH_EVENTS.toLocaleString('en-US')} events a round, the formats alternating):\n\n${pathTable}\n${cpuTable ? `\nThe whole server: ferry W1 lz4 → directory, ack=accepted, 1 vCPU quota, wrk -c64, ${DURATION} s per run after a 3 s warm-up, ${ROUNDS} rounds alternating the formats.\n\n${cpuTable}\n` : ''}`;
if (opt.write) {
  const file = join(ROOT, 'bench', 'RESULTS.md');
  const old = readFileSync(file, 'utf8');
  const marker = '\n## Archive bytes per event';
  let kept = old;
  if (old.includes(marker)) {
    const at = old.indexOf(marker);
    const next = old.indexOf('\n## ', at + marker.length);
    kept = old.slice(0, at) + (next >= 0 ? old.slice(next) : '');
  }
  // Before the per-vCPU section, which per-vcpu.mjs --write keeps last.
  const perVcpu = kept.indexOf('\n## Per vCPU');
  const section = `${marker}\n\nCommand: \`npm run build && node bench/archive-bytes.mjs --write\`\n\n${text}`;
  writeFileSync(
    file,
    perVcpu >= 0
      ? `${kept.slice(0, perVcpu)}${section}${kept.slice(perVcpu)}`
      : `${kept.trimEnd()}\n${section}`,
  );
}
