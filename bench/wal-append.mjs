#!/usr/bin/env node
// The write-ahead log's own cost: CPU (user + system, all threads) per appended request and per
// MB, with C appends in flight the way C producers keep them, each released as soon as it is
// fsync'd (as delivered batches release them). No HTTP, no workers: only what ack=durable adds to
// a request on the main thread and in the file system. Rounds alternate between the checkouts
// given, so a before/after shares the machine's state.
//
// usage: npm run build && node bench/wal-append.mjs [--records 20000] [--bytes 37300]
//          [--concurrency 64] [--rounds 3] [--delay 1] [--segment-mb 8] [--root DIR ...]
//   --delay  wal.commit_delay_ms (a checkout without it ignores it)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { distModule, ROOT } from './lib/dist.mjs';

const { values: opt } = parseArgs({
  options: {
    records: { type: 'string', default: '20000' },
    bytes: { type: 'string', default: '37300' },
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
    root: { type: 'string', multiple: true },
    delay: { type: 'string', default: '1' },
    'segment-mb': { type: 'string', default: '8' },
    child: { type: 'string' },
  },
});
const RECORDS = Number(opt.records);
const BYTES = Number(opt.bytes);
const CONC = Number(opt.concurrency);

if (opt.child) {
  // One measurement in a fresh process (so one checkout's code and heap do not colour the other's).
  const { SegmentStore } = await import(distModule('src/segments/store.js', opt.child));
  const { WAL_KIND, WAL_HEAD } = await import(distModule('src/wal/format.js', opt.child));
  const dir = mkdtempSync(join(tmpdir(), 'ferry-wal-append-'));
  const log = { info() {}, warn() {}, error() {}, debug() {} };
  let syncs = 0;
  const store = new SegmentStore(
    'wal',
    dir,
    {
      maxBytes: 4 * 1024 ** 3,
      maxFiles: 100000,
      segmentMaxBytes: Number(opt['segment-mb']) * 1024 * 1024,
      policy: 'reject',
      commitDelayMs: Number(opt.delay),
    },
    log,
    { dropped() {}, expiredFile() {}, changed() {}, flushed: () => syncs++ },
    WAL_KIND,
  );
  const header = new Uint8Array(32);
  const body = new Uint8Array(BYTES);
  for (let i = 0; i < BYTES; i++) body[i] = 32 + (i % 90);
  let started = 0;
  let done = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await new Promise((resolveAll) => {
    const one = () => {
      if (started >= RECORDS) return;
      started++;
      store.append(WAL_HEAD, [header, body]).then((/** @type {unknown} */ r) => {
        void store.complete(r);
        done++;
        if (done === RECORDS) resolveAll(undefined);
        else one();
      });
    };
    for (let i = 0; i < CONC; i++) one();
  });
  const cpu = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  await store.close();
  rmSync(dir, { recursive: true, force: true });
  const cpuUs = cpu.user + cpu.system;
  process.stdout.write(
    `${JSON.stringify({ cpuUsPerRecord: cpuUs / RECORDS, userUs: cpu.user / RECORDS, sysUs: cpu.system / RECORDS, mbPerCpuS: (RECORDS * BYTES) / cpuUs, recordsPerFsync: RECORDS / syncs, wallMs: wall })}\n`,
  );
  process.exit(0);
}

const roots = (opt.root?.length ? opt.root : [ROOT]).map((r) => resolve(r));
/** @typedef {{ cpuUsPerRecord: number, userUs: number, sysUs: number, mbPerCpuS: number, recordsPerFsync: number, wallMs: number }} Round */
/** @type {Map<string, Round[]>} */
const results = new Map(roots.map((r) => [r, []]));
for (let round = 0; round < Number(opt.rounds); round++) {
  for (const root of roots) {
    const out = execFileSync(
      process.execPath,
      [
        import.meta.filename,
        '--child',
        root,
        '--records',
        String(RECORDS),
        '--bytes',
        String(BYTES),
        '--concurrency',
        String(CONC),
        '--delay',
        opt.delay,
        '--segment-mb',
        opt['segment-mb'],
      ],
      { encoding: 'utf8' },
    );
    results.get(root)?.push(JSON.parse(out));
  }
}
/** @param {number[]} xs */
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
console.log(
  `WAL append: ${RECORDS} records × ${BYTES} B, ${CONC} in flight, released at fsync, commit delay ${opt.delay} ms, ${opt['segment-mb']} MiB segments; median of ${opt.rounds} rounds`,
);
console.log('| checkout | CPU µs/record | user µs | sys µs | MB per CPU-s | records/fsync |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const [root, rs] of results) {
  /** @param {keyof Round} k */
  const m = (k) => median(rs.map((r) => r[k]));
  console.log(
    `| ${root} | ${m('cpuUsPerRecord').toFixed(1)} | ${m('userUs').toFixed(1)} | ${m('sysUs').toFixed(1)} | ${m('mbPerCpuS').toFixed(0)} | ${m('recordsPerFsync').toFixed(1)} |`,
  );
}
