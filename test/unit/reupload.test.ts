import { afterEach, describe, expect, it, vi } from 'vitest';
import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { FILE_HEADER_BYTES } from '../../src/dlq/frame.js';
import { Reuploader, type ReuploadOptions } from '../../src/dlq/reupload.js';
import { SinkDlq } from '../../src/dlq/sink-dlq.js';
import { listSegments } from '../../src/dlq/segment-store.js';
import { createMetrics } from '../../src/observe/metrics.js';
import {
  ScriptedSink,
  batchOf,
  configOf,
  httpError,
  networkError,
  poisonEntries,
  removeTmpDirs,
  segmentRecords,
  silentLog,
  tmpDir,
} from '../helpers/scripted-sink.js';

// The re-upload loop's pacing over a real segment store on a temp dir and a scripted sink.
// Probe intervals are checked in fake time (exact, and the 10 s cap costs nothing); the
// re-upload rate in real time, as a lower bound from the moment the loop started.

const metrics = createMetrics();
// The project's defaults, with a short attempt timeout; re-uploads make one attempt per turn anyway.
const policy = configOf({ retry: { attempt_timeout_ms: 1000 } }).retry;

const running: { r: Reuploader; d: SinkDlq }[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const { r, d } of running.splice(0)) {
    await r.stop();
    await d.store.close();
  }
  removeTmpDirs();
});

/** A sink's DLQ holding `ids` (spooled in that order, one segment file each), and its loop. */
async function dlqWith(
  sink: ScriptedSink,
  ids: string[],
  events: number,
  opts: Partial<ReuploadOptions> = {},
) {
  const d = new SinkDlq(
    sink,
    tmpDir('ferry-reupload-'),
    // tiny segments: every record gets its own file, so oldest-first spans files
    { maxBytes: 1 << 30, maxFiles: 10_000, segmentMaxBytes: 64, policy: 'reject' },
    1,
    silentLog,
    { dropped: () => {}, expiredFile: () => {}, changed: () => {} },
  );
  for (const id of ids) await d.spool(batchOf(id, events), httpError(503));
  const r = new Reuploader(
    d,
    { eventsPerSec: 1_000_000, probeIntervalMs: 1000, policy, ...opts },
    metrics,
    silentLog,
  );
  running.push({ r, d });
  return { d, r };
}

const intervals = (ts: number[]) => ts.slice(1).map((t, i) => t - ts[i]);

describe('re-upload while the breaker is open', () => {
  it('only probes, at a doubling interval capped at 10 s; then re-uploads oldest first', async () => {
    const sink = new ScriptedSink('a'); // probes fail until told otherwise
    const { d, r } = await dlqWith(sink, ['r1', 'r2', 'r3'], 2);
    expect((await listSegments(d.dir)).length).toBe(3);
    d.breaker.trip();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const t0 = Date.now();
    r.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(sink.writes).toEqual([]); // nothing but probes while it is down
    expect(sink.probes[0]).toBe(t0);
    expect(intervals(sink.probes)).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000, 10_000, 10_000,
    ]);
    expect(d.breaker.open).toBe(true);

    sink.probeAnswer = 'ok';
    await vi.advanceTimersByTimeAsync(10_000); // the next probe is due within the cap
    await vi.waitFor(() => expect(sink.delivered).toEqual(['r1', 'r2', 'r3']));
    expect(d.breaker.open).toBe(false);
    await vi.waitFor(async () => expect(await listSegments(d.dir)).toEqual([]));
    expect(d.store.pendingRecords()).toEqual([]);
  });

  it('a probe interval above 10 s is kept as it is (the cap never shortens it)', async () => {
    const sink = new ScriptedSink('a');
    const { d, r } = await dlqWith(sink, ['r1'], 1, { probeIntervalMs: 15_000 });
    d.breaker.trip();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    r.start();
    await vi.advanceTimersByTimeAsync(60_000);
    expect(intervals(sink.probes)).toEqual([15_000, 15_000, 15_000, 15_000]);
    expect(sink.writes).toEqual([]);
  });

  it('a poke (a batch was spooled) probes again at once', async () => {
    const sink = new ScriptedSink('a');
    const { d, r } = await dlqWith(sink, ['r1'], 1, { probeIntervalMs: 5_000 });
    d.breaker.trip();
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const t0 = Date.now();
    r.start();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(sink.probes).toEqual([t0]);
    r.poke();
    await vi.advanceTimersByTimeAsync(0);
    expect(sink.probes).toEqual([t0, t0 + 1_000]);
  });
});

describe('re-upload pacing', () => {
  it('re-uploads oldest first at no more than eventsPerSec, removing each file after it', async () => {
    const sink = new ScriptedSink('a');
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5'];
    // 10 events a record at 100 events/s: one record per 100 ms, 400 ms at least for five
    const { d, r } = await dlqWith(sink, ids, 10, { eventsPerSec: 100 });
    const started = Date.now();
    r.start();
    await vi.waitFor(() => expect(sink.delivered).toEqual(ids), { timeout: 10_000 });
    // Each take() is paced from the one before, and the first comes after `started`:
    // write i cannot start before started + i·100 ms (a timer may fire a ms early).
    for (const [i, w] of sink.writes.entries())
      expect(w.at - started).toBeGreaterThanOrEqual(i * 100 - 2);
    expect(sink.writes.at(-1)!.at - started).toBeLessThan(5_000); // generous: a loaded machine
    expect(sink.probes).toEqual([]); // the breaker was closed: no probing
    await vi.waitFor(async () => expect(await listSegments(d.dir)).toEqual([]));
    expect(d.store.pendingEvents).toBe(0);
  });

  it('a permanent refusal moves that record to poison and the loop goes on', async () => {
    const sink = new ScriptedSink('a').script('ok', httpError(400), 'ok');
    const { d, r } = await dlqWith(sink, ['q1', 'q2', 'q3'], 3);
    r.start();
    await vi.waitFor(() => expect(sink.delivered).toEqual(['q1', 'q3']));
    expect(sink.writes.map((w) => w.batch)).toEqual(['q1', 'q2', 'q3']); // q2 tried once
    const poison = await poisonEntries(d.dir);
    expect(poison.map((p) => p.meta)).toEqual([
      expect.objectContaining({ batch: 'q2', status: 400, events: 3, error_class: 'http_4xx' }),
    ]);
    expect(poison[0].payload).toEqual(batchOf('q2', 3).archive!.body);
    expect(d.breaker.open).toBe(false);
    await vi.waitFor(async () => expect(await segmentRecords(d.dir)).toEqual([]));
  });

  it.each([
    ['503', () => httpError(503)],
    ['network', () => networkError()],
    ['403 (sink-level)', () => httpError(403)],
  ])('a %s failure trips the breaker: the record stays, probes take over', async (_n, err) => {
    const sink = new ScriptedSink('a').script(err());
    const { d, r } = await dlqWith(sink, ['s1', 's2'], 1, { probeIntervalMs: 50 });
    r.start();
    await vi.waitFor(() => expect(sink.probes.length).toBeGreaterThanOrEqual(2));
    expect(d.breaker.open).toBe(true);
    // one attempt per turn, then only probes: no retry budget is spent on a re-upload
    expect(sink.writes.map((w) => w.batch)).toEqual(['s1']);
    expect((await segmentRecords(d.dir)).map((x) => x.head.batch)).toEqual(['s1', 's2']);
    expect(await poisonEntries(d.dir)).toEqual([]);

    sink.probeAnswer = 'ok';
    await vi.waitFor(() => expect(sink.delivered).toEqual(['s1', 's2']), { timeout: 5_000 });
    expect(d.breaker.open).toBe(false);
  });
});

describe('re-upload of a record that cannot be read back', () => {
  // Found while writing these tests: store.read() failing (here: the segment file was cut short
  // after start-up, as a bad disk or an operator's truncate would leave it) is handled like a sink
  // failure — the breaker trips, the probe succeeds, the same record fails again, forever. The
  // records after it never ship, and while the breaker is open the uploader sends every fresh
  // batch of a healthy sink straight to the DLQ.
  it('does not block the records after it, nor keep a healthy sink marked down', async () => {
    const sink = new ScriptedSink('a');
    sink.probeAnswer = 'ok'; // the sink is fine all along
    const { d, r } = await dlqWith(sink, ['u1', 'u2'], 1, { probeIntervalMs: 50 });
    const [first] = await listSegments(d.dir);
    truncateSync(first.path, 20); // u1's record is gone from its file; u2 is intact
    r.start();
    await vi.waitFor(() => expect(sink.delivered).toEqual(['u2']), { timeout: 3_000 });
    expect(d.breaker.open).toBe(false);
    // What was left of u1 is kept aside for the operator, not silently dropped.
    expect(readdirSync(join(d.dir, 'quarantine'))).toEqual([
      `${basename(first.path)}@${FILE_HEADER_BYTES}.bad`,
    ]);
  });

  // Also found: store.read() does not check the record's CRC32C (only start-up recovery does), so
  // bytes that went bad on disk after start-up are shipped to the sink as if they were the batch.
  it('does not ship a record whose bytes went bad on disk since it was spooled', async () => {
    const sink = new ScriptedSink('a');
    const { d, r } = await dlqWith(sink, ['c1', 'c2'], 1);
    const [first] = await listSegments(d.dir);
    const bytes = readFileSync(first.path);
    bytes[bytes.length - 1] ^= 0xff; // one bit-rotten byte in c1's payload
    writeFileSync(first.path, bytes);
    r.start();
    await vi.waitFor(() => expect(sink.delivered).toContain('c2'), { timeout: 3_000 });
    const original = batchOf('c1', 1).archive!.body;
    for (const w of sink.writes.filter((x) => x.batch === 'c1')) expect(w.body).toEqual(original);
    expect(sink.delivered).toEqual(['c2']);
    expect(readdirSync(join(d.dir, 'quarantine'))).toHaveLength(1);
  });
});
