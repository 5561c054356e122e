import { afterEach, describe, expect, it, vi } from 'vitest';
import { join } from 'node:path';
import { AckTracker, type AckOutcome } from '../../src/pipeline/acks.js';
import { Uploader } from '../../src/pipeline/uploader.js';
import { Dlq, dlqDir } from '../../src/dlq/dlq.js';
import { createMetrics } from '../../src/observe/metrics.js';
import type { BatchJob } from '../../src/contracts/job.js';
import type { EncodedBatch } from '../../src/contracts/batch.js';
import { SinkError } from '../../src/sinks/errors.js';
import {
  ScriptedSink,
  batchOf,
  configOf,
  held,
  httpError,
  networkError,
  poisonEntries,
  removeTmpDirs,
  segmentRecords,
  silentLog,
  tmpDir,
} from '../helpers/scripted-sink.js';

// The uploader's choice (delivered / DLQ / poison / 503 / 500) is pure logic over the sinks'
// answers: scripted in-memory sinks, a real AckTracker and a real DLQ on a temp dir.

type AckCall =
  | { kind: 'delivered'; reqIds: number[] }
  | { kind: 'failed'; reqIds: number[]; status: number; error: string; message: string };

/** The real tracker, recording what the uploader told it. */
class RecordingAcks extends AckTracker {
  readonly calls: AckCall[] = [];
  override onBatchDelivered(reqIds: readonly number[]): void {
    this.calls.push({ kind: 'delivered', reqIds: [...reqIds] });
    super.onBatchDelivered(reqIds);
  }
  override onBatchFailed(
    reqIds: readonly number[],
    status: number,
    error: string,
    message: string,
  ): void {
    this.calls.push({ kind: 'failed', reqIds: [...reqIds], status, error, message });
    super.onBatchFailed(reqIds, status, error, message);
  }
}

const metrics = createMetrics();
const FAST_RETRY = { initial_ms: 1, max_ms: 5, max_elapsed_ms: 40, attempt_timeout_ms: 1000 };
const PATIENT_RETRY = {
  initial_ms: 1,
  max_ms: 5,
  max_elapsed_ms: 30_000,
  attempt_timeout_ms: 1000,
};

const opened: Dlq[] = [];
afterEach(async () => {
  for (const d of opened.splice(0)) await d.close();
  removeTmpDirs();
});

interface Setup {
  uploader: Uploader;
  acks: RecordingAcks;
  dlq: Dlq | undefined;
  settled: BatchJob[];
  /** A sink's DLQ directory on disk. */
  dirOf: (sink: string) => string;
  /** Register one durable request as the HTTP door does, its events in this one batch. */
  send: (batch: EncodedBatch, reqId?: number) => Promise<AckOutcome>;
}

let nextReq = 1;
async function setup(
  sinks: ScriptedSink[],
  o: { dlq?: boolean; retry?: object; dlqCfg?: object } = {},
): Promise<Setup> {
  const state = tmpDir('ferry-uploader-');
  const cfg = configOf({
    state_dir: state,
    retry: o.retry ?? FAST_RETRY,
    sinks: sinks.map((s) => ({ name: s.name, type: 'directory', path: join(state, 'out') })),
    dlq: { enabled: o.dlq ?? true, ...o.dlqCfg },
  });
  const acks = new RecordingAcks();
  const dlq = cfg.dlq.enabled ? await Dlq.open(cfg, sinks, metrics, silentLog) : undefined;
  if (dlq) opened.push(dlq);
  const settled: BatchJob[] = [];
  const uploader = new Uploader(sinks, cfg, acks, metrics, silentLog, (j) => settled.push(j), dlq);
  let seq = 0;
  return {
    uploader,
    acks,
    dlq,
    settled,
    dirOf: (sink) => join(dlqDir(cfg), sink),
    send(batch, reqId = nextReq++) {
      const outcome = acks.register(reqId, 0, 'durable');
      acks.onVerdict({ reqId, ok: true, events: batch.events, span: 1 });
      uploader.submit({ worker: 0, seq: seq++, reqIds: [reqId], batch });
      return outcome;
    },
  };
}

/** Whether a promise has settled yet (after the pending microtasks ran). */
async function isSettled(p: Promise<unknown>): Promise<boolean> {
  const marker = Symbol('pending');
  const v = await Promise.race([p, new Promise((r) => setTimeout(() => r(marker), 20))]);
  return v !== marker;
}

const delivered = (events: number) => ({ ok: true, events, durable: true });

describe('uploader: every sink takes it', () => {
  it('is delivered: one onBatchDelivered, nothing in any DLQ', async () => {
    const a = new ScriptedSink('a');
    const b = new ScriptedSink('b');
    const s = await setup([a, b]);
    const batch = batchOf('b-all', 3);
    const out = s.send(batch, 101);
    await s.uploader.drain();
    expect(await out).toEqual(delivered(3));
    expect(a.delivered).toEqual(['b-all']);
    expect(b.delivered).toEqual(['b-all']);
    expect(s.acks.calls).toEqual([{ kind: 'delivered', reqIds: [101] }]);
    expect(s.settled.map((j) => j.batch.id)).toEqual(['b-all']);
    expect(await segmentRecords(s.dirOf('a'))).toEqual([]);
    expect(await segmentRecords(s.dirOf('b'))).toEqual([]);
    expect(s.uploader.size).toBe(0);
  });
});

describe('uploader: retryable failures are retried', () => {
  it.each([
    ['408', () => httpError(408)],
    ['429', () => httpError(429)],
    ['500', () => httpError(500)],
    ['503', () => httpError(503)],
    ['network', () => networkError()],
  ])('%s twice, then success: delivered on the third attempt, no DLQ', async (_n, err) => {
    const a = new ScriptedSink('a').script(err(), err(), 'ok');
    const s = await setup([a], { retry: PATIENT_RETRY });
    const out = s.send(batchOf('b-retry', 2));
    await s.uploader.drain();
    expect(await out).toEqual(delivered(2));
    expect(a.writes.map((w) => w.batch)).toEqual(['b-retry', 'b-retry', 'b-retry']);
    expect(a.delivered).toEqual(['b-retry']);
    expect(await segmentRecords(s.dirOf('a'))).toEqual([]);
    expect(s.dlq!.forSink('a')!.breaker.open).toBe(false);
  });
});

describe('uploader with a DLQ', () => {
  it('a retryable failure that outlasts the retry budget: spooled to that sink’s DLQ, acked', async () => {
    const a = new ScriptedSink('a');
    a.fallback = httpError(503);
    const s = await setup([a]);
    const batch = batchOf('b-spool', 4);
    const out = s.send(batch);
    await s.uploader.drain();
    expect(await out).toEqual(delivered(4));
    expect(a.writes.length).toBeGreaterThanOrEqual(2); // it did retry before giving up
    const recs = await segmentRecords(s.dirOf('a'));
    expect(recs).toHaveLength(1);
    expect(recs[0].head).toMatchObject({
      batch: 'b-spool',
      sink: 'a',
      events: 4,
      part: 'archive',
      error_class: 'http_5xx',
      attempts: a.writes.length,
    });
    expect(recs[0].payload).toEqual(batch.archive!.body);
    expect(await poisonEntries(s.dirOf('a'))).toEqual([]);
    expect(s.acks.calls.map((c) => c.kind)).toEqual(['delivered']);
    // breaker_failures defaults to 1: the sink is now treated as down
    expect(s.dlq!.forSink('a')!.breaker.open).toBe(true);
  });

  it('a permanent 400: poison area with the sink’s answer, acked, sink not marked down', async () => {
    const a = new ScriptedSink('a').script(httpError(400));
    const s = await setup([a], { retry: PATIENT_RETRY });
    const batch = batchOf('b-poison', 2);
    const out = s.send(batch);
    await s.uploader.drain();
    expect(await out).toEqual(delivered(2));
    expect(a.writes).toHaveLength(1); // not retried
    const poison = await poisonEntries(s.dirOf('a'));
    expect(poison).toHaveLength(1);
    expect(poison[0].meta).toMatchObject({
      batch: 'b-poison',
      sink: 'a',
      events: 2,
      part: 'archive',
      status: 400,
      error_class: 'http_4xx',
      error: 'HTTP 400',
    });
    expect(poison[0].payload).toEqual(batch.archive!.body);
    expect(await segmentRecords(s.dirOf('a'))).toEqual([]);
    expect(s.dlq!.forSink('a')!.breaker.open).toBe(false);
  });

  it.each([
    ['401', () => httpError(401)],
    ['403', () => httpError(403)],
    ['404', () => httpError(404)],
    [
      'auth class',
      () =>
        new SinkError('Code: 516. Authentication failed', { retryable: false, errorClass: 'auth' }),
    ],
  ])('a sink-level %s goes to the regular DLQ, not poison', async (_n, err) => {
    const a = new ScriptedSink('a').script(err());
    const s = await setup([a], { retry: PATIENT_RETRY });
    const out = s.send(batchOf('b-sinklevel', 5));
    await s.uploader.drain();
    expect(await out).toEqual(delivered(5));
    expect(a.writes).toHaveLength(1); // permanent: not retried
    const recs = await segmentRecords(s.dirOf('a'));
    expect(recs.map((r) => r.head.batch)).toEqual(['b-sinklevel']);
    expect(recs[0].head.attempts).toBe(1);
    expect(await poisonEntries(s.dirOf('a'))).toEqual([]);
  });

  it('a sink that takes rows (ClickHouse) keeps the rows part in its DLQ', async () => {
    const ch = new ScriptedSink('ch', 'rows');
    ch.fallback = httpError(502);
    const s = await setup([ch]);
    const batch = batchOf('b-rows', 1);
    const out = s.send(batch);
    await s.uploader.drain();
    expect(await out).toEqual(delivered(1));
    const recs = await segmentRecords(s.dirOf('ch'));
    expect(recs.map((r) => r.head.part)).toEqual(['rows']);
    expect(recs[0].payload).toEqual(batch.rows!.body);
  });

  it('breaker open: straight to the DLQ without calling the sink', async () => {
    const a = new ScriptedSink('a'); // would take it, but is known down
    const s = await setup([a], { retry: PATIENT_RETRY });
    s.dlq!.forSink('a')!.breaker.trip();
    const out = s.send(batchOf('b-open', 3));
    await s.uploader.drain();
    expect(await out).toEqual(delivered(3));
    expect(a.writes).toEqual([]);
    const recs = await segmentRecords(s.dirOf('a'));
    expect(recs.map((r) => r.head)).toEqual([
      expect.objectContaining({ batch: 'b-open', error_class: 'circuit_open', attempts: 0 }),
    ]);
  });

  it('the breaker opening stops a batch still retrying: it goes to the DLQ at once', async () => {
    const a = new ScriptedSink('a');
    a.fallback = () => new Promise(() => {}); // hangs, ignoring its signal
    const s = await setup([a], {
      retry: { initial_ms: 1000, max_ms: 1000, max_elapsed_ms: 60_000, attempt_timeout_ms: 30_000 },
    });
    const out = s.send(batchOf('b-inflight', 1));
    await vi.waitFor(() => expect(a.writes).toHaveLength(1));
    const t0 = Date.now();
    s.dlq!.forSink('a')!.breaker.trip();
    await s.uploader.drain();
    expect(Date.now() - t0).toBeLessThan(5_000); // not the 30 s attempt timeout
    expect(await out).toEqual(delivered(1));
    expect((await segmentRecords(s.dirOf('a'))).map((r) => r.head.batch)).toEqual(['b-inflight']);
  });

  it('DLQ full under policy reject: 503 dlq_full, nothing acked that is not on disk', async () => {
    const a = new ScriptedSink('a');
    a.fallback = httpError(503);
    // max_bytes is at its schema minimum (1 MiB): three 300 kB batches fit, the fourth does not
    const s = await setup([a], { dlqCfg: { max_bytes: 1_048_576, policy: 'reject' } });
    const outcomes: AckOutcome[] = [];
    for (const id of ['f1', 'f2', 'f3', 'f4']) {
      const out = s.send(batchOf(id, 1, 300_000));
      await s.uploader.drain();
      outcomes.push(await out);
    }
    expect(outcomes.slice(0, 3)).toEqual([delivered(1), delivered(1), delivered(1)]);
    expect(outcomes[3]).toMatchObject({ ok: false, status: 503, error: 'dlq_full' });
    expect((await segmentRecords(s.dirOf('a'))).map((r) => r.head.batch)).toEqual([
      'f1',
      'f2',
      'f3',
    ]);
    expect(s.acks.calls.at(-1)).toMatchObject({ kind: 'failed', status: 503, error: 'dlq_full' });
  });

  it('two sinks, one failing: the other still gets it and the ack waits for both', async () => {
    const a = new ScriptedSink('a');
    const h = held();
    const b = new ScriptedSink('b').script(h.step);
    b.fallback = httpError(503);
    const s = await setup([a, b]);
    const out = s.send(batchOf('b-two', 2), 202);
    await vi.waitFor(() => {
      expect(a.delivered).toEqual(['b-two']);
      expect(b.writes).toHaveLength(1);
    });
    expect(await isSettled(out)).toBe(false); // a has it, b not yet: no answer
    expect(s.acks.calls).toEqual([]);
    h.reject(httpError(503)); // b keeps failing past its budget: into b's DLQ
    await s.uploader.drain();
    expect(await out).toEqual(delivered(2));
    expect(s.acks.calls).toEqual([{ kind: 'delivered', reqIds: [202] }]);
    expect(a.writes).toHaveLength(1);
    expect(await segmentRecords(s.dirOf('a'))).toEqual([]);
    expect((await segmentRecords(s.dirOf('b'))).map((r) => r.head.batch)).toEqual(['b-two']);
  });
});

describe('uploader without a DLQ', () => {
  it('retryable failure: 503 sink_unavailable naming the sink and the batch', async () => {
    const a = new ScriptedSink('a');
    a.fallback = networkError();
    const s = await setup([a], { dlq: false });
    const out = s.send(batchOf('b-down', 1));
    await s.uploader.drain();
    const o = await out;
    expect(o).toMatchObject({ ok: false, status: 503, error: 'sink_unavailable' });
    expect(o.ok === false && o.message).toMatch(/b-down.*a: network error/);
    expect(a.writes.length).toBeGreaterThanOrEqual(2);
  });

  it.each([
    ['400', 400],
    ['401', 401],
  ])('permanent %s: 500 sink_rejected', async (_n, status) => {
    const a = new ScriptedSink('a').script(httpError(status));
    const s = await setup([a], { dlq: false, retry: PATIENT_RETRY });
    const out = s.send(batchOf('b-rejected', 1));
    await s.uploader.drain();
    expect(await out).toMatchObject({ ok: false, status: 500, error: 'sink_rejected' });
    expect(a.writes).toHaveLength(1);
  });

  it('two sinks, one failing: the other gets it but the request is not acked (503)', async () => {
    const a = new ScriptedSink('a');
    const b = new ScriptedSink('b');
    b.fallback = httpError(503);
    const s = await setup([a, b], { dlq: false });
    const out = s.send(batchOf('b-half', 1), 303);
    await s.uploader.drain();
    expect(a.delivered).toEqual(['b-half']);
    expect(await out).toMatchObject({ ok: false, status: 503, error: 'sink_unavailable' });
    expect(s.acks.calls).toEqual([
      expect.objectContaining({ kind: 'failed', reqIds: [303], status: 503 }),
    ]);
  });
});
