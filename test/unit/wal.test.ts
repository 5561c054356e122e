import { describe, it, expect, afterAll, vi } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { parseConfigText } from '../../src/config/load.js';
import { createMetrics } from '../../src/observe/metrics.js';
import { WriteAheadLog } from '../../src/wal/log.js';
import { LoggedDispatcher } from '../../src/wal/dispatcher.js';
import { AckTracker, type AckOutcome } from '../../src/pipeline/acks.js';
import {
  BodyEncoding,
  BodyFormat,
  decodeHeader,
  type RecordHeader,
} from '../../src/rings/record.js';
import type { FerryConfig } from '../../src/config/types.js';
import { crc32, crc32Table } from '../../src/codecs/crc32.js';

const log = pino({ level: 'silent' });
const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
function config(wal: Record<string, unknown> = {}): FerryConfig {
  const d = mkdtempSync(join(tmpdir(), 'ferry-wal-'));
  dirs.push(d);
  return parseConfigText(
    JSON.stringify({
      state_dir: d,
      sinks: [{ name: 'local', type: 'directory', path: join(d, 'out') }],
      wal: { segment_max_bytes: 65536, segment_max_age_ms: 100, ...wal },
    }),
    'test.yaml',
    {},
  );
}
const walFiles = (cfg: FerryConfig) => {
  try {
    return readdirSync(join(cfg.state_dir, 'wal')).filter((f) => f.endsWith('.fwl'));
  } catch {
    return []; // not created yet: the first group commit creates it
  }
};
const enc = new TextEncoder();
const header = (reqId: number): RecordHeader => ({
  reqId,
  format: BodyFormat.Ndjson,
  encoding: BodyEncoding.Identity,
  receivedAt: 1_700_000_000_000 + reqId,
  source: 'http',
});
const body = (i: number) => [enc.encode(`{"i":${i},"pad":"${'x'.repeat(200)}"}`)];
/** Rings that take everything and remember what they took. */
function rings(room = () => true) {
  const pushed: Uint8Array[] = [];
  return {
    pushed,
    tryPush(parts: readonly Uint8Array[]) {
      if (!room()) return -1;
      pushed.push(Buffer.concat(parts));
      return 0;
    },
  };
}
const tick = (ms = 0) => new Promise((r) => setTimeout(r, ms));
async function until(cond: () => boolean, ms = 3000) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await tick(5);
  }
}

async function setup(cfg: FerryConfig, room?: () => boolean) {
  const metrics = createMetrics();
  const { wal, recovered } = await WriteAheadLog.open(cfg, metrics, log);
  const acks = new AckTracker();
  const r = rings(room);
  const d = new LoggedDispatcher(r, wal, acks, metrics, log, { initialMs: 5, maxMs: 20 });
  return { wal, recovered, acks, rings: r, dispatcher: d, metrics };
}
const counter = async (m: ReturnType<typeof createMetrics>, name: string) =>
  (await m.registry.getSingleMetric(name)!.get()).values.reduce((n, v) => n + v.value, 0);

describe('write-ahead log', () => {
  it('its CRC-32 is the native one where there is one, equal to the table fallback, and chains', () => {
    const a = enc.encode('123456789');
    expect(crc32(a)).toBe(0xcbf43926);
    expect(crc32Table(a)).toBe(0xcbf43926);
    const big = new Uint8Array(100_000).map((_, i) => (i * 31 + 7) & 0xff);
    expect(crc32(big)).toBe(crc32Table(big));
    expect(crc32(big.subarray(5000), crc32(big.subarray(0, 5000)))).toBe(crc32(big));
  });

  it('answers durable on verdict + fsync, before any batch is delivered; concurrent appends share fsyncs', async () => {
    const cfg = config();
    const { acks, dispatcher, metrics, wal } = await setup(cfg);
    const answers: Promise<AckOutcome>[] = [];
    for (let i = 1; i <= 50; i++) {
      expect(dispatcher.tryDispatch(header(i), body(i))).toBe(0);
      answers.push(acks.register(i, 0, 'durable'));
      acks.onVerdict({ reqId: i, ok: true, events: 1, span: 1 });
    }
    const out = await Promise.all(answers);
    expect(out.every((o) => o.ok && o.durable)).toBe(true);
    expect(await counter(metrics, 'wal_append_records_total')).toBe(50);
    // Group commit: 50 appends in one turn cannot need 50 fsyncs.
    expect(await counter(metrics, 'wal_fsyncs_total')).toBeLessThan(50);
    expect(wal.store.liveRecords).toBe(50);
    await wal.close();
  });

  it('group commit waits commit_delay_ms for the others in flight, never for a lone producer', async () => {
    const send = (x: Awaited<ReturnType<typeof setup>>, i: number) => {
      x.dispatcher.tryDispatch(header(i), body(i));
      const a = x.acks.register(i, 0, 'durable');
      x.acks.onVerdict({ reqId: i, ok: true, events: 1, span: 1 });
      return a;
    };
    // A lone producer (one append at a time): the wait is never even scheduled.
    const timers = vi.spyOn(globalThis, 'setTimeout');
    const lone = await setup(config({ commit_delay_ms: 17 }));
    for (let i = 1; i <= 5; i++) expect(await send(lone, i)).toMatchObject({ ok: true });
    expect(await counter(lone.metrics, 'wal_fsyncs_total')).toBe(5);
    expect(timers.mock.calls.filter((c) => c[1] === 17)).toEqual([]);
    timers.mockRestore();
    await lone.wal.close();

    // Several in flight: after a shared fsync, appends made one after the other in the same turn
    // share the next one only because it waits (without the wait the first goes alone).
    const fsyncsOfSecondWave = async (delay: number) => {
      const x = await setup(config({ commit_delay_ms: delay }));
      await Promise.all([1, 2, 3, 4].map((i) => send(x, i)));
      const before = await counter(x.metrics, 'wal_fsyncs_total');
      const wave = [5, 6, 7, 8].map((i) => send(x, i));
      expect((await Promise.all(wave)).every((o) => o.ok)).toBe(true);
      const n = (await counter(x.metrics, 'wal_fsyncs_total')) - before;
      await x.wal.close();
      return n;
    };
    expect(await fsyncsOfSecondWave(0)).toBe(2);
    expect(await fsyncsOfSecondWave(17)).toBe(1);
  });

  it('a record is released when all its batches are delivered; a closed segment with nothing live is deleted', async () => {
    const cfg = config();
    const { acks, dispatcher, wal } = await setup(cfg);
    for (let i = 1; i <= 3; i++) {
      dispatcher.tryDispatch(header(i), body(i));
      void acks.register(i, 0, 'durable');
      acks.onVerdict({ reqId: i, ok: true, events: 1, span: 2 });
    }
    await until(() => wal.store.liveRecords === 3);
    acks.onBatchDelivered([1, 2, 3]);
    acks.onBatchDelivered([1, 2]);
    await tick(10);
    expect(wal.store.liveRecords).toBe(1);
    // Still one live record: its segment survives the age roll.
    await tick(300);
    expect(walFiles(cfg).length).toBe(1);
    acks.onBatchDelivered([3]);
    await until(() => walFiles(cfg).length === 0);
    expect(wal.store.bytes).toBe(0);
    await wal.close();
  });

  it('a request the worker rejects is released at once (its segment goes at the next roll)', async () => {
    const cfg = config();
    const { acks, dispatcher, wal, metrics } = await setup(cfg);
    dispatcher.tryDispatch(header(1), body(1));
    const a = acks.register(1, 0, 'durable');
    acks.onVerdict({ reqId: 1, ok: false, status: 400, error: 'malformed_body', message: 'bad' });
    expect(await a).toMatchObject({ ok: false, status: 400 });
    // Written (the append was already under way), then released and its segment rolled away.
    await until(() => wal.store.segments.length > 0 || walFiles(cfg).length > 0);
    await until(() => walFiles(cfg).length === 0 && wal.store.liveRecords === 0);
    expect(await counter(metrics, 'wal_append_records_total')).toBe(1);
    await wal.close();
  });

  it('segments roll by size: releasing everything leaves only the open one', async () => {
    const cfg = config({ segment_max_bytes: 65536, segment_max_age_ms: 60_000 });
    const { acks, dispatcher, wal } = await setup(cfg);
    const big = [enc.encode('x'.repeat(20_000))];
    for (let i = 1; i <= 10; i++) {
      dispatcher.tryDispatch(header(i), big);
      void acks.register(i, 0, 'durable');
      acks.onVerdict({ reqId: i, ok: true, events: 1, span: 1 });
      await tick(2);
    }
    await until(() => wal.store.liveRecords === 10);
    expect(walFiles(cfg).length).toBeGreaterThanOrEqual(3);
    acks.onBatchDelivered([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    await until(() => walFiles(cfg).length === 1);
    await wal.close();
    expect(walFiles(cfg).length).toBe(0);
  });

  it('finished segments are reused, and what a reused file held before never comes back', async () => {
    const cfg = config({ segment_max_bytes: 65536, segment_max_age_ms: 60_000 });
    const first = await setup(cfg);
    const dir = join(cfg.state_dir, 'wal');
    const spares = () => readdirSync(dir).filter((f) => f.endsWith('.spare'));
    const big = [enc.encode('x'.repeat(20_000))];
    for (let i = 1; i <= 12; i++) {
      first.dispatcher.tryDispatch(header(i), big);
      void first.acks.register(i, 0, 'durable');
      first.acks.onVerdict({ reqId: i, ok: true, events: 1, span: 1 });
      await tick(2);
    }
    await until(() => first.wal.store.liveRecords === 12);
    first.acks.onBatchDelivered([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    await until(() => spares().length === 2 && walFiles(cfg).length === 1);
    // The open segment is full: the next records roll into a reused file, over old records of
    // the same size, so an intact old record follows the new ones.
    for (let i = 13; i <= 14; i++) {
      first.dispatcher.tryDispatch(header(i), big);
      void first.acks.register(i, 0, 'durable');
      await tick(2);
    }
    await until(() => first.wal.store.liveRecords === 2);
    expect(spares().length).toBe(1);
    const active = first.wal.store.segments.at(-1)!;
    expect(active.records.length).toBe(2);
    expect(statSync(active.path).size).toBeGreaterThanOrEqual(active.bytes + 20_000);
    const sent = first.rings.pushed.slice(12).map((b) => Buffer.from(b));
    // "kill -9" with old records of the reused file after the new ones: only the new come back.
    const second = await setup(cfg);
    expect(second.recovered.length).toBe(2);
    expect(await counter(second.metrics, 'wal_corrupt_records_total')).toBe(0);
    await second.dispatcher.replay(second.recovered);
    const again = second.rings.pushed.map((b) => Buffer.from(b).subarray(4));
    expect(again).toEqual(sent.map((b) => b.subarray(4)));
    expect(readdirSync(dir)).not.toContain('quarantine');
  });

  it('a spare file removed behind its back: the next segment is a new file, and the append succeeds', async () => {
    const cfg = config({ segment_max_bytes: 65536, segment_max_age_ms: 60_000 });
    const { acks, dispatcher, wal } = await setup(cfg);
    const dir = join(cfg.state_dir, 'wal');
    const spares = () => readdirSync(dir).filter((f) => f.endsWith('.spare'));
    const big = [enc.encode('x'.repeat(20_000))];
    const send = async (i: number) => {
      dispatcher.tryDispatch(header(i), big);
      const answer = acks.register(i, 0, 'durable');
      acks.onVerdict({ reqId: i, ok: true, events: 1, span: 1 });
      await tick(2);
      return answer;
    };
    for (let i = 1; i <= 12; i++) void send(i);
    await until(() => wal.store.liveRecords === 12);
    acks.onBatchDelivered([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    await until(() => spares().length === 2 && walFiles(cfg).length === 1);
    for (const f of spares()) rmSync(join(dir, f));
    const out = await send(13);
    expect(out.ok && out.durable).toBe(true);
    expect(walFiles(cfg).length).toBe(1);
    expect(wal.store.segments.at(-1)!.records.length).toBe(1);
  });

  it('crash = replay: records of surviving segments are dispatched again, byte for byte, under new request ids', async () => {
    const cfg = config({ segment_max_age_ms: 60_000 });
    const first = await setup(cfg);
    for (let i = 1; i <= 5; i++) {
      first.dispatcher.tryDispatch(header(i), body(i));
      void first.acks.register(i, 0, 'durable');
    }
    await until(() => first.wal.store.liveRecords === 5);
    const sent = first.rings.pushed.map((b) => Buffer.from(b));
    // "kill -9": the first log is never closed; a second one opens the same directory.
    const second = await setup(cfg);
    expect(second.recovered.length).toBe(5);
    await second.dispatcher.replay(second.recovered);
    expect(second.rings.pushed.length).toBe(5);
    for (let i = 0; i < 5; i++) {
      const again = second.rings.pushed[i];
      const { header: h } = decodeHeader(again);
      expect(h.reqId).toBeGreaterThanOrEqual(0x80000000);
      expect(h.receivedAt).toBe(header(i + 1).receivedAt);
      // Everything but the request id is what was dispatched the first time.
      expect(Buffer.from(again.subarray(4)).equals(sent[i].subarray(4))).toBe(true);
    }
    expect(await counter(second.metrics, 'wal_records_replayed_total')).toBe(5);
    // Delivered this time: released, and the files go.
    for (const b of second.rings.pushed) {
      const id = decodeHeader(b).header.reqId;
      second.acks.onVerdict({ reqId: id, ok: true, events: 1, span: 1 });
      second.acks.onBatchDelivered([id]);
    }
    await second.wal.close();
    expect(walFiles(cfg).length).toBe(0);
  });

  it('recovery cuts a torn tail and quarantines a corrupt record; the rest is replayed', async () => {
    const cfg = config({ segment_max_age_ms: 60_000 });
    const first = await setup(cfg);
    for (let i = 1; i <= 3; i++) {
      first.dispatcher.tryDispatch(header(i), body(i));
      void first.acks.register(i, 0, 'durable');
    }
    await until(() => first.wal.store.liveRecords === 3);
    const [file] = walFiles(cfg);
    const path = join(cfg.state_dir, 'wal', file);
    const bytes = readFileSync(path);
    const rec = first.wal.store.segments[0].records;
    // Flip a byte inside the second record's payload, and add half a record at the end.
    bytes[rec[1].offset + rec[1].length - 3] ^= 0xff;
    writeFileSync(path, Buffer.concat([bytes, bytes.subarray(rec[0].offset, rec[0].offset + 40)]));
    const second = await setup(cfg);
    expect(second.recovered.length).toBe(2);
    expect(await counter(second.metrics, 'wal_corrupt_records_total')).toBe(1);
    expect(statSync(path).size).toBe(bytes.length);
    expect(readdirSync(join(cfg.state_dir, 'wal', 'quarantine')).length).toBe(1);
  });

  it('a batch that fails after the ack keeps the record and sends it again after a backoff', async () => {
    const cfg = config();
    const { acks, dispatcher, rings: r, wal, metrics } = await setup(cfg);
    dispatcher.tryDispatch(header(1), body(1));
    const a = acks.register(1, 0, 'durable');
    acks.onVerdict({ reqId: 1, ok: true, events: 1, span: 1 });
    expect(await a).toMatchObject({ ok: true, durable: true });
    acks.onBatchFailed([1], 503, 'dlq_full', 'nowhere to put it');
    await until(() => r.pushed.length === 2);
    expect(await counter(metrics, 'wal_records_replayed_total')).toBe(1);
    expect(wal.store.liveRecords).toBe(1);
    const id = decodeHeader(r.pushed[1]).header.reqId;
    // The worker holding it dies: sent a third time.
    acks.failWorker(0, 'gone');
    await until(() => r.pushed.length === 3);
    const id3 = decodeHeader(r.pushed[2]).header.reqId;
    expect(id3).not.toBe(id);
    acks.onVerdict({ reqId: id3, ok: true, events: 1, span: 1 });
    acks.onBatchDelivered([id3]);
    await until(() => wal.store.liveRecords === 0);
    await wal.close();
    expect(walFiles(cfg).length).toBe(0);
  });

  it('a request not yet answered when its batch fails is answered with the error and released', async () => {
    const cfg = config();
    const { acks, dispatcher, rings: r, wal } = await setup(cfg);
    dispatcher.tryDispatch(header(1), body(1), 'durable');
    const a = acks.register(1, 0, 'delivered');
    acks.onVerdict({ reqId: 1, ok: true, events: 1, span: 1 });
    acks.onBatchFailed([1], 503, 'sink_unavailable', 'down');
    expect(await a).toMatchObject({ ok: false, status: 503 });
    await until(() => wal.store.liveRecords === 0);
    await tick(50);
    expect(r.pushed.length).toBe(1);
    await wal.close();
  });

  it('ack=delivered and ack=accepted write nothing to the log', async () => {
    const cfg = config();
    const { acks, dispatcher, metrics, wal } = await setup(cfg);
    dispatcher.tryDispatch(header(1), body(1), 'delivered');
    const d = acks.register(1, 0, 'delivered');
    dispatcher.tryDispatch(header(2), body(2), 'accepted');
    const a = acks.register(2, 0, 'accepted');
    acks.onVerdict({ reqId: 1, ok: true, events: 1, span: 1 });
    acks.onVerdict({ reqId: 2, ok: true, events: 1, span: 1 });
    expect(await a).toMatchObject({ ok: true, durable: false });
    let answered = false;
    void d.then(() => (answered = true));
    await tick(20);
    expect(answered).toBe(false);
    acks.onBatchDelivered([1]);
    expect(await d).toMatchObject({ ok: true, durable: true });
    expect(await counter(metrics, 'wal_append_records_total')).toBe(0);
    await wal.close();
  });

  it('a full log refuses durable dispatches (wal_full) and takes them again once records are released', async () => {
    const cfg = config({
      max_bytes: 1048576,
      segment_max_bytes: 262144,
      segment_max_age_ms: 60_000,
    });
    const { acks, dispatcher, wal, metrics } = await setup(cfg);
    const big = [enc.encode('x'.repeat(100_000))];
    let id = 0;
    while (dispatcher.tryDispatch(header(++id), big) >= 0) {
      void acks.register(id, 0, 'durable');
      acks.onVerdict({ reqId: id, ok: true, events: 1, span: 1 });
      await tick(1);
    }
    expect(id).toBeGreaterThan(5);
    expect(dispatcher.refusal()).toMatch(/write-ahead log is full/);
    expect(await counter(metrics, 'wal_rejected_full_total')).toBe(1);
    // Nothing acknowledged is dropped: every record is still there.
    await until(() => wal.store.liveRecords === id - 1);
    acks.onBatchDelivered(Array.from({ length: id - 1 }, (_, i) => i + 1));
    await until(() => dispatcher.refusal() === undefined);
    expect(dispatcher.tryDispatch(header(1000), big)).toBe(0);
    await wal.close();
  });
});
