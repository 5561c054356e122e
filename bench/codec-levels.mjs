#!/usr/bin/env node
// CPU and size of each codec and level on one sealed batch as ferry builds it: 5000 distinct W1
// events in an archive object of the default format (docs/archive.md; ~1.9 MB; format 1's
// envelopes were ~2.6 MB). One thread, median of --rounds; ferry's own
// codec module (so lz4 is ferry's framing, zstd whichever implementation this runtime uses).
//
// usage: npm run build && node bench/codec-levels.mjs [--rounds 15]
import { parseArgs } from 'node:util';
import { distModule } from './lib/dist.mjs';
import { variedBodies } from './lib/payload.mjs';

const { values: opt } = parseArgs({ options: { rounds: { type: 'string', default: '15' } } });
const { compress, zstdImplementation } = /** @type {typeof import('../src/codecs/index.js')} */ (
  await import(distModule('src/codecs/index.js'))
);
const { parseBody } = /** @type {typeof import('../workers/parse.js')} */ (
  await import(distModule('workers/parse.js'))
);
const { Batcher } = /** @type {typeof import('../workers/batcher.js')} */ (
  await import(distModule('workers/batcher.js'))
);

// The archive bytes of one uncompressed batch, built by the worker's own parser and batcher.
/** @type {Uint8Array | undefined} */
let batch;
const batcher = new Batcher(
  {
    maxEvents: 5000,
    maxBytes: 1 << 30,
    maxAgeMs: 60_000,
    codec: 'none',
    level: 0,
    archive: true,
    rows: false,
    compressRows: false,
  },
  (s) => (batch = s.batch.archive?.body), // archive: true, so every batch has one
);
for (const [i, body] of variedBodies(50).entries()) {
  const parsed = parseBody(1 /* BodyFormat.Ndjson */, new Uint8Array(body));
  if (!parsed.ok) throw new Error(parsed.message);
  batcher.appendRequest(i, parsed.events, Date.now(), 'http');
}
if (!batch) throw new Error('the batch did not seal at 5000 events');
/** @type {[import('../src/codecs/index.js').Codec, number?][]} */
const CASES = [
  ['lz4'],
  ['gzip', 1],
  ['gzip', 3],
  ['gzip', 6],
  ['gzip', 9],
  ['zstd', 1],
  ['zstd', 3],
  ['zstd', 6],
];
const rows = [];
for (const [codec, level] of CASES) {
  let out = compress(codec, batch, level); // warm-up
  const ms = [];
  for (let r = 0; r < Number(opt.rounds); r++) {
    const t0 = process.cpuUsage();
    out = compress(codec, batch, level);
    const t = process.cpuUsage(t0);
    ms.push((t.user + t.system) / 1000);
  }
  ms.sort((a, b) => a - b);
  rows.push({ codec, level, ms: ms[ms.length >> 1], bytes: out.length });
}
const lz4 = rows[0].ms;
console.log(
  `Batch: 5000 W1 events, ${batch.length.toLocaleString('en-US')} B; Node ${process.versions.node}; zstd: ${zstdImplementation}\n`,
);
console.log('| codec | level | CPU ms per batch | µs per event | MB/s | ratio | CPU vs lz4 |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) {
  console.log(
    `| ${r.codec} | ${r.level ?? '–'} | ${r.ms.toFixed(1)} | ${((r.ms * 1000) / 5000).toFixed(2)} | ${(batch.length / r.ms / 1000).toFixed(0)} | ${(batch.length / r.bytes).toFixed(2)} | ${(r.ms / lz4).toFixed(2)}× |`,
  );
}
