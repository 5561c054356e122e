#!/usr/bin/env node
// The worker's per-event cost without HTTP, rings or threads: parse + validate + batch + encode
// + compress of W1 request bodies, in one thread, timed by CPU time. Much steadier than the
// HTTP bench on a shared machine, so it is what the before/after figures of worker-side
// changes quote (run it on two builds: --root ../before and --root .).
//
// usage: npm run build && node bench/worker-path.mjs [--root .] [--codec lz4] [--rows] [--columns] [--rows-only] [--events 500000] [--rounds 5]
//   --rows       also build gzip'd ClickHouse rows (as with a ClickHouse sink)
//   --columns    the rows in ClickHouse columns mode (a typed table for the W1 events) instead of the envelope
//   --rows-only  no archive part (a ClickHouse-only node)
//   --route field|source  ClickHouse routing (docs/clickhouse.md): by the event's `user` (4 values
//                to 4 tables, the other 93 to the default table) or by the source (one table)
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { distModule, ROOT } from './lib/dist.mjs';
import { variedBodies } from './lib/payload.mjs';

const { values: opt } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    codec: { type: 'string', default: 'lz4' },
    level: { type: 'string', default: '0' },
    rows: { type: 'boolean', default: false },
    columns: { type: 'boolean', default: false },
    'rows-only': { type: 'boolean', default: false },
    events: { type: 'string', default: '500000' },
    rounds: { type: 'string', default: '5' },
    route: { type: 'string' },
  },
});
const root = resolve(opt.root);
// Typed from this checkout's sources; the --root tree is another build of the same modules.
const { parseBody } = /** @type {typeof import('../workers/parse.js')} */ (
  await import(distModule('workers/parse.js', root))
);
const { Batcher } = /** @type {typeof import('../workers/batcher.js')} */ (
  await import(distModule('workers/batcher.js', root))
);

// Columns mode: the typed table an operator would make for the W1 events.
const rowPlan = opt.columns
  ? /** @type {typeof import('../src/sinks/clickhouse/row-plan.js')} */ (
      await import(distModule('src/sinks/clickhouse/row-plan.js', root))
    ).buildRowPlan(
      'bench.w1',
      [
        ['event_id', 'String'],
        ['received_at', 'DateTime'],
        ['source', 'LowCardinality(String)'],
        ['ts', 'DateTime64(3)'],
        ['user', 'LowCardinality(String)'],
        ['kind', 'LowCardinality(String)'],
        ['path', 'String'],
        ['referrer', 'String'],
        ['ua', 'String'],
        ['session', 'String'],
        ['value', 'Float64'],
        ['tags', 'Array(LowCardinality(String))'],
        ['note', 'String'],
      ].map(([name, type]) => ({ name, type, default_kind: '' })),
      {},
    )
  : undefined;

const routes = opt.route
  ? (await import(distModule('src/sinks/clickhouse/route-plan.js', root))).buildRoutePlan(
      opt.route === 'source'
        ? { by: 'source', tables: { http: 'from_http' } }
        : {
            by: 'field',
            field: 'user',
            tables: { 'user-0': 't0', 'user-1': 't1', 'user-2': 't2', 'user-3': 't3' },
          },
      'events',
      rowPlan
        ? [rowPlan, rowPlan, rowPlan, rowPlan, rowPlan].slice(0, opt.route === 'source' ? 2 : 5)
        : undefined,
    )
  : undefined;

// 500 different bodies (50,000 distinct events): ids, envelopes and compression behave as with
// real traffic, not as with one body sent again and again.
const bodies = variedBodies(500).map((b) => new Uint8Array(b));
const NDJSON = 1; // BodyFormat.Ndjson
const limits = {
  maxEvents: 5000,
  maxBytes: 8 << 20,
  maxAgeMs: 1000,
  // As typed on the command line: compress() throws for a name that is not a codec.
  codec: /** @type {import('../src/codecs/index.js').Codec} */ (opt.codec),
  level: Number(opt.level),
  archive: !opt['rows-only'],
  rows: opt.rows || opt.columns || opt['rows-only'],
  compressRows: opt.rows || opt.columns || opt['rows-only'],
  ...(rowPlan ? { rowPlan } : {}),
  ...(routes ? { routes } : {}),
};
let sealedBytes = 0;
const batcher = new Batcher(limits, (s) => {
  sealedBytes += (s.batch.archive?.body.byteLength ?? 0) + (s.batch.rows?.body.byteLength ?? 0);
});

/** @param {number} events */
function round(events) {
  let n = 0;
  let req = 0;
  while (n < events) {
    // A copy per request, as the worker reads each body out of a fresh ring slot.
    const parsed = parseBody(NDJSON, bodies[req % bodies.length].slice());
    if (!parsed.ok) throw new Error(parsed.message);
    batcher.appendRequest(req++, parsed.events, Date.now(), 'http');
    n += parsed.events.length;
  }
  batcher.sealIfDue(Date.now(), true);
  return n;
}

round(50_000); // warm-up: let the JIT settle
const perEvent = [];
for (let r = 0; r < Number(opt.rounds); r++) {
  const c0 = process.cpuUsage();
  const n = round(Number(opt.events));
  const c = process.cpuUsage(c0);
  perEvent.push(((c.user + c.system) * 1000) / n);
}
perEvent.sort((a, b) => a - b);
const med = perEvent[Math.floor(perEvent.length / 2)];
console.log(
  JSON.stringify({
    root,
    codec: opt.codec,
    level: Number(opt.level),
    rows: limits.rows ? (rowPlan ? 'columns' : 'envelope') : false,
    route: opt.route ?? false,
    archive: limits.archive,
    nsPerEvent: Math.round(med),
    eventsPerCpuSec: Math.round(1e9 / med),
    rounds: perEvent.map(Math.round),
    compressedBytes: sealedBytes,
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
  }),
);
