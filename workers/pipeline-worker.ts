/**
 * A pipeline worker: drains its ring, parses and validates each request,
 * batches, encodes and compresses, and hands sealed batches to the main thread.
 * Started once per thread as a long-running piscina task; returns at shutdown
 * when its ring is closed and empty and the open batch has been sealed.
 */
import { performance } from 'node:perf_hooks';
import { ByteRing } from '../src/rings/ring.js';
import { decodeHeader, BodyEncoding, BodyFormat } from '../src/rings/record.js';
import { decompress } from '../src/codecs/index.js';
import type { Codec } from '../src/contracts/batch.js';
import { isTooLarge } from '../src/codecs/errors.js';
import { parseBody, type ParsedEvent } from './parse.js';
import { parseBulk } from './bulk-parse.js';
import { renderBulkAnswer, type BulkAnswer } from './bulk-answer.js';
import { decodeBulkPrefix, type BulkOptions } from '../src/sources/bulk/prefix.js';
import { Batcher, type SealedBatch } from './batcher.js';
import {
  type WorkerTask,
  type Verdict,
  type WorkerToMain,
  type MainToWorker,
  CONTROL_SLOTS,
  CONTROL_INFLIGHT,
  CONTROL_HEARTBEAT,
  STAT_SLOTS,
  STAT_BUSY_SECONDS,
  STAT_EVENTS,
  STAT_BATCHES,
  STAT_REQUESTS,
} from './protocol.js';
import { errorMessage } from '../src/util/errors.js';
import { sleep } from '../src/util/backoff.js';

const ENCODING_CODEC: Record<number, Codec> = {
  [BodyEncoding.Identity]: 'none',
  [BodyEncoding.Gzip]: 'gzip',
  [BodyEncoding.Lz4]: 'lz4',
  [BodyEncoding.Zstd]: 'zstd',
};
/**
 * Test-only: with FERRY_TEST_WEDGE_WORKER=1 a body containing this marker blocks the worker
 * thread for good, so tests can check that the systemd watchdog pings stop.
 */
const WEDGE_MARKER = '__ferry_test_wedge__';
const wedgeEnabled =
  (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
    ?.FERRY_TEST_WEDGE_WORKER === '1';
/** Requests handled between two looks at the event loop (messages, timers). */
const SLICE = 64;

export default async function run(task: WorkerTask): Promise<{ batches: number }> {
  const ring = ByteRing.attach(task.ring);
  const control = new Int32Array(task.control, task.index * CONTROL_SLOTS * 4, CONTROL_SLOTS);
  const stats = new Float64Array(task.stats, task.index * STAT_SLOTS * 8, STAT_SLOTS);
  const port = task.port;
  let verdicts: Verdict[] = [];
  let batches = 0;
  let maxDecompressedBytes = task.maxDecompressedBytes;

  const post = (m: WorkerToMain, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const flushVerdicts = () => {
    if (verdicts.length === 0) return;
    post({ t: 'verdicts', items: verdicts });
    verdicts = [];
  };
  const batcher = new Batcher(task.limits, (s: SealedBatch) => {
    // Send what is decided so far first: acks of accepted-mode requests need not wait for the batch.
    flushVerdicts();
    Atomics.add(control, CONTROL_INFLIGHT, 1);
    batches++;
    stats[STAT_BATCHES]++;
    const msg: WorkerToMain = {
      t: 'batch',
      worker: task.index,
      seq: s.seq,
      reqIds: s.reqIds,
      batch: s.batch,
    };
    const transfer = transferables(s);
    try {
      post(msg, transfer);
    } catch (err) {
      // Bun refuses to transfer some native-allocated buffers (lz4-napi's output): copy instead.
      if (transfer.length === 0) throw err;
      post(msg);
    }
  });
  port.on('message', (m: MainToWorker) => {
    if (m.t === 'limits') {
      batcher.setLimits(m.limits);
      if (m.maxDecompressedBytes) maxDecompressedBytes = m.maxDecompressedBytes;
    }
  });

  /**
   * Runs inside ring.pop with a view into shared memory: plain NDJSON/JSON is
   * decoded straight from the ring (every runtime's TextDecoder takes shared
   * views); compressed and msgpack bodies are copied out first.
   */
  const handle = (record: Uint8Array) => {
    const { header, bodyOffset } = decodeHeader(record);
    let body: Uint8Array = record.subarray(bodyOffset);
    stats[STAT_REQUESTS]++;
    Atomics.add(control, CONTROL_HEARTBEAT, 1);
    if (wedgeEnabled && new TextDecoder().decode(body.slice()).includes(WEDGE_MARKER))
      wedgeForever();
    let bulkOptions: BulkOptions | undefined;
    if (header.format === BodyFormat.EsBulk)
      ({ options: bulkOptions, rest: body } = decodeBulkPrefix(body));
    // msgpack and OTLP protobuf decoders keep views into the body: copy it out of the ring first.
    if (
      (header.format === BodyFormat.Msgpack || header.format === BodyFormat.OtlpLogsProtobuf) &&
      header.encoding === BodyEncoding.Identity
    )
      body = body.slice();
    if (header.encoding !== BodyEncoding.Identity) {
      try {
        body = decompress(ENCODING_CODEC[header.encoding], body, maxDecompressedBytes);
      } catch (err) {
        const tooLarge = isTooLarge(err);
        verdicts.push({
          reqId: header.reqId,
          ok: false,
          status: tooLarge ? 413 : 400,
          error: tooLarge ? 'body_too_large' : 'bad_encoding',
          message: tooLarge
            ? `decompressed body exceeds http.max_decompressed_bytes (${maxDecompressedBytes})`
            : `cannot decode ${ENCODING_CODEC[header.encoding]} body: ${errorMessage(err)}`,
        });
        return;
      }
    }
    let events: ParsedEvent[];
    let answer: BulkAnswer | undefined;
    let partial: { rejected: number; rejectMessage?: string } | undefined;
    if (header.format === BodyFormat.EsBulk) {
      const bulk = parseBulk(body, bulkOptions?.index);
      if (!bulk.ok) {
        verdicts.push({
          reqId: header.reqId,
          ok: false,
          status: 400,
          error: bulk.type,
          message: bulk.reason,
        });
        return;
      }
      events = bulk.events;
      answer = renderBulkAnswer(bulk.items, bulkOptions?.filterPath);
    } else {
      const parsed = parseBody(header.format, body);
      if (!parsed.ok) {
        verdicts.push({
          reqId: header.reqId,
          ok: false,
          status: 400,
          error: parsed.error,
          message: parsed.message,
          line: parsed.line,
          offset: parsed.offset,
        });
        return;
      }
      events = parsed.events;
      if (parsed.rejected !== undefined)
        partial = { rejected: parsed.rejected, rejectMessage: parsed.rejectMessage };
    }
    if (events.length === 0) {
      // Nothing to batch (an OTLP export with no records, a `_bulk` request whose every item
      // failed, or all refused): decided at once.
      verdicts.push({
        reqId: header.reqId,
        ok: true,
        events: 0,
        span: 0,
        ...partial,
        ...(answer ? { bulk: answer } : {}),
      });
      return;
    }
    const { first, last } = batcher.appendRequest(
      header.reqId,
      events,
      header.receivedAt,
      header.source,
    );
    stats[STAT_EVENTS] += events.length;
    verdicts.push({
      reqId: header.reqId,
      ok: true,
      events: events.length,
      span: last - first + 1,
      ...partial,
      ...(answer ? { bulk: answer } : {}),
    });
  };

  for (;;) {
    Atomics.add(control, CONTROL_HEARTBEAT, 1);
    const t0 = performance.now();
    let handled = 0;
    while (handled < SLICE && Atomics.load(control, CONTROL_INFLIGHT) < task.maxInflight) {
      const popped = ring.pop((view: Uint8Array) => {
        try {
          handle(view);
        } catch (err) {
          // Never let one request wedge the ring (a throw would leave the record unread and crash-loop the worker).
          const { header } = decodeHeader(view);
          verdicts.push({
            reqId: header.reqId,
            ok: false,
            status: 400,
            error: 'malformed_body',
            message: `could not process the body: ${errorMessage(err)}`,
          });
        }
        return true;
      });
      if (popped === undefined) break;
      handled++;
    }
    const now = Date.now();
    batcher.sealIfDue(now);
    flushVerdicts();
    if (handled > 0) stats[STAT_BUSY_SECONDS] += (performance.now() - t0) / 1000;

    if (ring.isClosed() && ring.usedBytes() === 0) break;
    if (handled === SLICE) {
      await yieldToEventLoop();
      continue;
    }
    const inflight = Atomics.load(control, CONTROL_INFLIGHT);
    if (inflight >= task.maxInflight) {
      // Blocked on the sinks, not on input: sleep until the main thread returns a credit
      // (the ring may well hold data, so waiting on it would spin).
      await waitForChange(
        control,
        CONTROL_INFLIGHT,
        inflight,
        Math.min(batcher.msUntilDue(Date.now()), 100),
      );
    } else {
      await ring.waitForDataAsync(Math.max(1, Math.min(batcher.msUntilDue(Date.now()), 100)));
    }
  }
  batcher.sealIfDue(Date.now(), true);
  flushVerdicts();
  post({ t: 'done' });
  return { batches };
}

function transferables(s: SealedBatch): ArrayBuffer[] {
  const out: ArrayBuffer[] = [];
  for (const part of [s.batch.archive, s.batch.rows]) {
    if (!part) continue;
    const b = part.body;
    // Only hand over buffers the part owns whole; pooled slices are copied by the clone.
    if (
      b.byteOffset === 0 &&
      b.byteLength === b.buffer.byteLength &&
      b.buffer instanceof ArrayBuffer &&
      !out.includes(b.buffer)
    ) {
      out.push(b.buffer);
    }
  }
  return out;
}

type WaitAsync = (
  a: Int32Array,
  i: number,
  v: number,
  t: number,
) => { async: boolean; value: unknown };

/** Until control[i] is no longer v, or the timeout (Atomics.waitAsync where the runtime has it). */
async function waitForChange(
  control: Int32Array,
  i: number,
  v: number,
  timeoutMs: number,
): Promise<void> {
  const waitAsync = (Atomics as { waitAsync?: WaitAsync }).waitAsync;
  if (typeof waitAsync === 'function') {
    const r = waitAsync(control, i, v, Math.max(1, timeoutMs));
    if (r.async) await r.value;
    return;
  }
  await sleep(Math.max(1, Math.min(timeoutMs, 5)));
}

function wedgeForever(): never {
  for (;;) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}
