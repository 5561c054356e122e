#!/usr/bin/env node
// The OTLP/HTTP protobuf door's worker cost without HTTP, rings or threads: CPU ns per LogRecord
// of mapping an ExportLogsServiceRequest to events (event_id included), the byte mapper
// (workers/otlp-protobuf.ts) against the protobufjs decoder + object mapping it replaced
// (parseOtlpProtobufReference), and W1's NDJSON parse of the same events for scale. The variants
// alternate within each round, so the machine's load hits them alike; the median round is shown.
//
// Without --batch every event's id is read (the sha256 the byte mapper and W1 compute only when
// read is paid by all three); with --batch the events go to an archive-only Batcher (format 2,
// lz4), which reads an id only where the archive stores it, as the worker on the bench row does.
//
// usage: npm run build && taskset -c 1 node bench/otlp-decode.mjs [--bodies 200] [--records 200000] [--rounds 7] [--batch]
import { parseArgs } from 'node:util';
import { cpuUsage, memoryUsage } from 'node:process';
import { distModule } from './lib/dist.mjs';
import { otlpRequest } from './lib/otlp-payload.mjs';
import { variedBodies, EVENTS_PER_REQ } from './lib/payload.mjs';

const { values: opt } = parseArgs({
  options: {
    bodies: { type: 'string', default: '200' },
    records: { type: 'string', default: '200000' },
    rounds: { type: 'string', default: '7' },
    batch: { type: 'boolean', default: false },
  },
});
const { parseOtlpProtobuf, parseOtlpProtobufReference } =
  /** @type {typeof import('../workers/otlp-logs.js')} */ (
    await import(distModule('workers/otlp-logs.js'))
  );
const { parseBody, MAX_EVENT_DEPTH, MAX_EVENT_KEYS, MAX_EVENT_BYTES } =
  /** @type {typeof import('../workers/parse.js')} */ (
    await import(distModule('workers/parse.js'))
  );
const { Batcher } = /** @type {typeof import('../workers/batcher.js')} */ (
  await import(distModule('workers/batcher.js'))
);

const limits = { maxDepth: MAX_EVENT_DEPTH, maxKeys: MAX_EVENT_KEYS, maxBytes: MAX_EVENT_BYTES };
const nBodies = Number(opt.bodies);
const otlp = Array.from({ length: nBodies }, (_, b) =>
  otlpRequest(EVENTS_PER_REQ, b * EVENTS_PER_REQ),
);
const ndjson = variedBodies(nBodies).map((b) => new Uint8Array(b));
const records = Number(opt.records);
const perRound = Math.ceil(records / EVENTS_PER_REQ);

let sealed = 0;
let idChars = 0;
const batcher = new Batcher(
  {
    maxEvents: 5000,
    maxBytes: 8 << 20,
    maxAgeMs: 1000,
    codec: 'lz4',
    level: 0,
    archive: true,
    rows: false,
    compressRows: false,
  },
  (s) => {
    sealed += s.batch.events;
  },
);

/** @type {Record<string, (body: Uint8Array) => import('../workers/parse.js').ParseResult>} */
const variants = {
  'protobufjs + objects (before)': (b) => parseOtlpProtobufReference(b, limits),
  'byte mapper (after)': (b) => parseOtlpProtobuf(b, limits),
  'W1 NDJSON (same events)': (b) => parseBody(1, b),
};
const inputs = {
  'protobufjs + objects (before)': otlp,
  'byte mapper (after)': otlp,
  'W1 NDJSON (same events)': ndjson,
};

// The two OTLP paths must agree before they are timed.
for (const body of otlp.slice(0, 5)) {
  const a = parseOtlpProtobufReference(body, limits);
  const ids = a.ok ? a.events.map((e) => e.id) : [];
  const b = parseOtlpProtobuf(body, limits);
  if (!a.ok || !b.ok || b.events.map((e) => e.id).join() !== ids.join())
    throw new Error('the byte mapper and the reference disagree on the bench body');
}

/** @param {string} name */
function round(name) {
  const fn = variants[name];
  const bodies = /** @type {Uint8Array[]} */ (inputs[/** @type {keyof typeof inputs} */ (name)]);
  const t0 = cpuUsage();
  let n = 0;
  for (let k = 0; k < perRound; k++) {
    const r = fn(bodies[k % bodies.length]);
    if (!r.ok) throw new Error(r.message);
    if (opt.batch) batcher.appendRequest(k, r.events, 1732350000000, 'bench');
    else for (const e of r.events) idChars += e.id.length;
    n += r.events.length;
  }
  if (opt.batch) batcher.sealIfDue(Date.now(), true);
  const t = cpuUsage(t0);
  return ((t.user + t.system) * 1000) / n;
}

const names = Object.keys(variants);
for (const name of names) round(name); // warm-up
/** @type {Record<string, number[]>} */
const ns = Object.fromEntries(names.map((n) => [n, []]));
const rounds = Number(opt.rounds);
for (let r = 0; r < rounds; r++) {
  // Alternate the order so no variant always runs right after the same other one.
  const order = r % 2 === 0 ? names : [...names].reverse();
  for (const name of order) ns[name].push(round(name));
}
const median = (/** @type {number[]} */ a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const before = median(ns[names[0]]);
console.log(
  `OTLP decode, ${perRound * EVENTS_PER_REQ} records a round × ${rounds} rounds, ${nBodies} bodies of ${EVENTS_PER_REQ} records (${otlp[0].length} B each)${opt.batch ? ', + archive-only Batcher (lz4)' : ', every id read'}; CPU ns per record (median; all rounds)`,
);
for (const name of names) {
  const m = median(ns[name]);
  console.log(
    `${name.padEnd(32)} ${m.toFixed(0).padStart(6)} ns  ×${(before / m).toFixed(2)}  [${ns[name].map((x) => x.toFixed(0)).join(' ')}]`,
  );
}
console.log(
  `peak RSS ${(memoryUsage().rss / 2 ** 20).toFixed(0)} MiB (sealed ${sealed} events, ${idChars} id characters read)`,
);
