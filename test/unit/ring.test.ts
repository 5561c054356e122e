import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import fc from 'fast-check';
import { ByteRing } from '../../src/rings/ring.js';

const PEER = new URL('./fixtures/ring-peer.mjs', import.meta.url);
const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const popCopy = (r: ByteRing) => r.pop((v) => v.slice());

function runPeer(data: Record<string, unknown>): Promise<{ ok: boolean; error?: string; received?: number; fullHits?: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(PEER, { workerData: data });
    w.once('message', (m) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
  });
}

describe('ByteRing', () => {
  it('rounds capacity up to a power of two and reports its record limit', () => {
    const r = ByteRing.create(1000);
    expect(r.capacity).toBe(1024);
    expect(r.maxRecordBytes).toBe(508);
    expect(() => r.tryPush([bytes(509, 1)])).toThrow(RangeError);
    expect(() => ByteRing.create(10)).toThrow(RangeError);
  });

  it('empty ring pops nothing; records come out in order, byte for byte', () => {
    const r = ByteRing.create(256);
    expect(popCopy(r)).toBeUndefined();
    expect(r.tryPush([bytes(3, 1), bytes(2, 2)])).toBe(true);
    expect(r.tryPush([bytes(10, 3)])).toBe(true);
    expect([...popCopy(r)!]).toEqual([1, 1, 1, 2, 2]);
    expect([...popCopy(r)!]).toEqual(Array(10).fill(3));
    expect(popCopy(r)).toBeUndefined();
    expect(r.usedBytes()).toBe(0);
  });

  it('a zero-length record is a record', () => {
    const r = ByteRing.create(64);
    expect(r.tryPush([])).toBe(true);
    expect(popCopy(r)!.length).toBe(0);
    expect(popCopy(r)).toBeUndefined();
  });

  it('full: tryPush is refused, then accepted after a pop', () => {
    const r = ByteRing.create(128); // records of 28 bytes take 32
    for (let i = 0; i < 4; i++) expect(r.tryPush([bytes(28, i)])).toBe(true);
    expect(r.usedBytes()).toBe(128);
    expect(r.tryPush([bytes(1, 9)])).toBe(false);
    expect([...popCopy(r)!]).toEqual(Array(28).fill(0));
    expect(r.tryPush([bytes(28, 7)])).toBe(true);
    for (const v of [1, 2, 3, 7]) expect(popCopy(r)![0]).toBe(v);
  });

  it('wraps with a marker when a record does not fit before the end, and on an exact fit', () => {
    const r = ByteRing.create(128);
    expect(r.tryPush([bytes(52, 1)])).toBe(true); // 56 bytes
    expect(r.tryPush([bytes(36, 2)])).toBe(true); // 40 → tail at 96
    popCopy(r);
    popCopy(r); // head at 96, 32 bytes left before the end
    expect(r.tryPush([bytes(40, 3)])).toBe(true); // needs 48: wrap marker + write at 0
    expect(r.usedBytes()).toBe(32 + 48);
    expect([...popCopy(r)!]).toEqual(Array(40).fill(3));
    expect(r.usedBytes()).toBe(0);
  });

  it('a record that exactly fills the space to the end needs no wrap marker', () => {
    const r = ByteRing.create(128);
    r.tryPush([bytes(28, 1)]);
    r.tryPush([bytes(28, 2)]);
    popCopy(r);
    popCopy(r); // head = tail = 64: 64 bytes to the end
    expect(r.tryPush([bytes(60, 4)])).toBe(true); // 4 + 60 = 64: exact fit
    expect(r.usedBytes()).toBe(64);
    expect(r.tryPush([bytes(4, 5)])).toBe(true); // starts at offset 0
    expect(r.usedBytes()).toBe(72);
    expect(popCopy(r)![59]).toBe(4);
    expect([...popCopy(r)!]).toEqual([5, 5, 5, 5]);
  });

  it('refuses a record that would wrap into unread data', () => {
    const r = ByteRing.create(128);
    r.tryPush([bytes(60, 1)]); // 64
    r.tryPush([bytes(20, 2)]); // 24 → tail 88
    popCopy(r); // head 64; free 104 but only 40 to the end and 64 at the start
    expect(r.tryPush([bytes(60, 3)])).toBe(true); // 40 skipped + 64 = 104: fits exactly
    expect(r.tryPush([bytes(1, 4)])).toBe(false);
    expect(popCopy(r)![0]).toBe(2);
    expect(popCopy(r)![0]).toBe(3);
  });

  it('close: refuses new records, the consumer drains what is there', () => {
    const r = ByteRing.create(128);
    r.tryPush([bytes(5, 1)]);
    r.close();
    expect(r.isClosed()).toBe(true);
    expect(r.tryPush([bytes(5, 2)])).toBe(false);
    expect(popCopy(r)![0]).toBe(1);
    expect(popCopy(r)).toBeUndefined();
  });

  it('attach sees the same ring from another view', () => {
    const a = ByteRing.create(256);
    const b = ByteRing.attach(a.sab);
    a.tryPush([bytes(9, 6)]);
    expect(b.usedBytes()).toBe(16);
    expect(popCopy(b)![8]).toBe(6);
    expect(() => ByteRing.attach(new SharedArrayBuffer(100))).toThrow();
  });

  it('waitForDataAsync returns on a push and on timeout', async () => {
    const r = ByteRing.create(256);
    const t0 = performance.now();
    await r.waitForDataAsync(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(20);
    const waiting = r.waitForDataAsync(5000);
    setTimeout(() => r.tryPush([bytes(1, 1)]), 10);
    await waiting;
    expect(r.usedBytes()).toBeGreaterThan(0);
  });

  it('matches an array model under random push/pop sequences (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: 0, max: 120 }), fc.constant(-1)), { maxLength: 300 }), (ops) => {
        const r = ByteRing.create(256);
        const model: Uint8Array[] = [];
        let n = 0;
        for (const op of ops) {
          if (op < 0) {
            const got = popCopy(r);
            const want = model.shift();
            if (want === undefined) expect(got).toBeUndefined();
            else expect(Buffer.compare(Buffer.from(got!), Buffer.from(want))).toBe(0);
          } else {
            const rec = bytes(op, n++ & 0xff);
            const used = r.usedBytes();
            const ok = r.tryPush([rec]);
            if (ok) model.push(rec);
            // refused only when it really does not fit (worst case: a wrap wastes < one record)
            else expect(used + ((op + 4 + 7) & ~7)).toBeGreaterThan(256 - ((op + 4 + 7) & ~7));
          }
        }
        while (model.length) expect(Buffer.compare(Buffer.from(popCopy(r)!), Buffer.from(model.shift()!))).toBe(0);
        expect(r.usedBytes()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  it('concurrent producer and consumer threads: 200k records through a 16 KiB ring, in order and intact', async () => {
    const ring = ByteRing.create(16384);
    const common = { sab: ring.sab, count: 200_000, maxLen: 3000 };
    const [consumer, producer] = await Promise.all([runPeer({ ...common, role: 'consumer' }), runPeer({ ...common, role: 'producer' })]);
    expect(consumer).toEqual({ ok: true, error: undefined, received: 200_000 });
    expect(producer.ok).toBe(true);
    expect(producer.fullHits).toBeGreaterThan(0); // the ring really was full at times
  }, 120_000);

  it('main-thread producer, worker consumer (the product shape)', async () => {
    const ring = ByteRing.create(8192);
    const count = 20_000;
    const maxLen = 1500;
    const consumer = runPeer({ sab: ring.sab, count, maxLen, role: 'consumer' });
    let full = 0;
    for (let seq = 0; seq < count; seq++) {
      const len = ((seq * 7919) % maxLen) + 1;
      const b = new Uint8Array(4 + len);
      new DataView(b.buffer).setUint32(0, seq, true);
      for (let i = 0; i < len; i++) b[4 + i] = (seq + i) & 0xff;
      while (!ring.tryPush([b])) {
        full++;
        await new Promise((r) => setImmediate(r));
      }
    }
    ring.close();
    expect(await consumer).toEqual({ ok: true, error: undefined, received: count });
    expect(full).toBeGreaterThan(0);
  }, 60_000);
});
