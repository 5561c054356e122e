#!/usr/bin/env node
// The worker's parse of one request, in process (no server, no quota): W1's NDJSON body through
// parseBody against the same events as a `_bulk` body (WB), and with an `_id` per document (WBID),
// through parseBulk + renderBulkAnswer.
// CPU time per request, rounds alternating, medians; --root DIR runs another checkout's dist/
// beside this one (a before/after in one run; each round of each dist in its own process, so the
// two builds' code does not share one isolate). Quieter than the whole server on a shared machine.
//
// usage: npm run build && node bench/bulk-parse.mjs [--rounds 7] [--requests 20000] [--root DIR]
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeBodies } from './lib/payload.mjs';

const ROOT = resolve(import.meta.dirname, '..');
const { values: opt } = parseArgs({
  options: {
    rounds: { type: 'string', default: '7' },
    requests: { type: 'string', default: '20000' },
    root: { type: 'string' },
    /** Internal: one round of one dist, printed as JSON. */
    'one-round': { type: 'string' },
  },
});
const ROUNDS = Number(opt.rounds);
const N = Number(opt.requests);

const bodies = writeBodies(mkdtempSync(join(tmpdir(), 'ferry-bulk-parse-')));
const w1 = new Uint8Array(readFileSync(bodies.w1));
const wb = new Uint8Array(readFileSync(bodies.wb));
const wbid = new Uint8Array(readFileSync(bodies.wbid));
const NDJSON = 1; // BodyFormat.Ndjson

/** @param {string} root */
async function load(root) {
  const parse = await import(join(root, 'dist', 'workers', 'parse.js'));
  const bulk = await import(join(root, 'dist', 'workers', 'bulk-parse.js'));
  const answer = await import(join(root, 'dist', 'workers', 'bulk-answer.js'));
  return {
    W1: () => parse.parseBody(NDJSON, w1),
    WB: () => {
      const r = bulk.parseBulk(wb, undefined);
      return answer.renderBulkAnswer(r.items, undefined);
    },
    WBID: () => {
      const r = bulk.parseBulk(wbid, undefined);
      return answer.renderBulkAnswer(r.items, undefined);
    },
  };
}

/**
 * µs of CPU per request over N requests (after a warm-up of N/10).
 * @param {() => unknown} f
 */
function time(f) {
  for (let i = 0; i < N / 10; i++) f();
  const s = process.cpuUsage();
  for (let i = 0; i < N; i++) f();
  const u = process.cpuUsage(s);
  return (u.user + u.system) / N;
}

if (opt['one-round']) {
  const v = await load(opt['one-round']);
  console.log(JSON.stringify({ W1: time(v.W1), WB: time(v.WB), WBID: time(v.WBID) }));
  process.exit(0);
}
const roots = opt.root ? [resolve(opt.root), ROOT] : [ROOT];
/** @type {Record<string, {W1: number[], WB: number[], WBID: number[]}>} */
const res = Object.fromEntries(roots.map((r) => [r, { W1: [], WB: [], WBID: [] }]));
for (let k = 0; k < ROUNDS; k++)
  for (const r of roots) {
    const out = execFileSync(
      process.execPath,
      [import.meta.filename, '--one-round', r, '--requests', String(N)],
      { encoding: 'utf8' },
    );
    const t = JSON.parse(out);
    res[r].W1.push(t.W1);
    res[r].WB.push(t.WB);
    res[r].WBID.push(t.WBID);
  }
const median = (/** @type {number[]} */ a) =>
  [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
console.log(
  `${ROUNDS} rounds × ${N} requests of 100 events (W1 ~${bodies.avgEventBytes} B/event), µs of CPU per request:`,
);
console.log(
  '| dist | W1 parseBody | WB parseBulk + answer | WB / W1 (per-event cost) | WBID (an `_id` per document) | WBID / W1 |',
);
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of roots) {
  const a = median(res[r].W1);
  const b = median(res[r].WB);
  const c = median(res[r].WBID);
  console.log(
    `| ${r} | ${a.toFixed(1)} | ${b.toFixed(1)} | ${((100 * b) / a).toFixed(0)} % | ${c.toFixed(1)} | ${((100 * c) / a).toFixed(0)} % |`,
  );
}
