import { describe, it, expect } from 'vitest';
import { Worker } from 'node:worker_threads';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { ByteRing } from '../../src/rings/ring.js';
import { recordParts, checkRecord } from './fixtures/ring-records.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
const PEER = new URL('./fixtures/ring-peer.mjs', import.meta.url);
const XRT = join(import.meta.dirname, 'fixtures', 'ring-xrt.mjs');

/** Layout facts the white-box tests rely on (see the comment at the top of ring.ts). */
const CTRL = { HEAD: 0, TAIL: 16 };

const bytes = (n: number, fill: number) => new Uint8Array(n).fill(fill);
const popCopy = (r: ByteRing) => r.pop((v) => v.slice());
const slot = (len: number) => (4 + len + 7) & ~7;

interface PeerResult {
  ok: boolean;
  error?: string;
  received?: number;
  fullHits?: number;
  sleeps?: number;
}

function startPeer(data: Record<string, unknown>): {
  result: Promise<PeerResult>;
  stop: () => Promise<number>;
} {
  const w = new Worker(PEER, { workerData: data });
  const result = new Promise<PeerResult>((resolve, reject) => {
    w.once('message', (m: PeerResult) => {
      resolve(m);
      void w.terminate();
    });
    w.once('error', reject);
    w.once('exit', (code) => reject(new Error(`peer exited with ${code} before reporting`)));
  });
  return { result, stop: () => w.terminate() };
}

const runPeer = (data: Record<string, unknown>) => startPeer(data).result;

/** Producer and consumer on two threads; a consumer that fails stops the producer (which would spin on a full ring). */
async function runPair(common: Record<string, unknown>, consumerOpts: Record<string, unknown>) {
  const consumer = startPeer({ ...common, ...consumerOpts, role: 'consumer' });
  const producer = startPeer({ ...common, role: 'producer' });
  const c = await consumer.result.catch(
    (err: Error) => ({ ok: false, error: err.message }) as PeerResult,
  );
  if (!c.ok) await producer.stop();
  const p = c.ok ? await producer.result : { ok: false };
  return { consumer: c, producer: p as PeerResult };
}

/** Moves an empty ring's head and tail to `pos` by pushing and popping filler records. */
function advanceTo(r: ByteRing, pos: number) {
  let at = 0;
  while (at < pos) {
    const step = Math.min(pos - at, r.capacity / 2, r.capacity - (at % r.capacity)); // never wraps
    expect(r.tryPush([bytes(step - 4, 0)])).toBe(true);
    popCopy(r);
    at += step;
  }
  expect(r.usedBytes()).toBe(0);
}

describe('ByteRing: layout and limits', () => {
  it('rounds capacity up to a power of two (at least 64) and reports its record limit', () => {
    expect(ByteRing.create(1000).capacity).toBe(1024);
    expect(ByteRing.create(1024).capacity).toBe(1024);
    expect(ByteRing.create(1).capacity).toBe(64);
    expect(ByteRing.create(1000).maxRecordBytes).toBe(508);
    for (const bad of [0, -1, NaN, Infinity, 2 ** 31])
      expect(() => ByteRing.create(bad)).toThrow(RangeError);
  });

  it('rejects a record larger than maxRecordBytes with RangeError, counting all parts', () => {
    const r = ByteRing.create(1024);
    expect(() => r.tryPush([bytes(509, 1)])).toThrow(RangeError);
    expect(() => r.tryPush([bytes(300, 1), bytes(209, 2)])).toThrow(RangeError);
    expect(r.usedBytes()).toBe(0);
    expect(r.tryPush([bytes(300, 1), bytes(208, 2)])).toBe(true);
  });

  it('a record of maxRecordBytes fits in an empty ring wherever head and tail stand', () => {
    const r = ByteRing.create(256);
    for (let pos = 0; pos < 2 * r.capacity; pos += 8) {
      const ring = ByteRing.create(256);
      advanceTo(ring, pos);
      expect(ring.tryPush([bytes(ring.maxRecordBytes, 9)]), `at ${pos}`).toBe(true);
      expect(popCopy(ring)!.length).toBe(ring.maxRecordBytes);
    }
    expect(r.maxRecordBytes).toBe(124);
  });

  it('attach sees the same ring; a foreign buffer is refused', () => {
    const a = ByteRing.create(256);
    const b = ByteRing.attach(a.sab);
    expect(b.capacity).toBe(256);
    expect(b.maxRecordBytes).toBe(a.maxRecordBytes);
    a.tryPush([bytes(9, 6)]);
    expect(b.usedBytes()).toBe(16);
    expect(b.hasData()).toBe(true);
    expect(popCopy(b)![8]).toBe(6);
    expect(a.usedBytes()).toBe(0);
    expect(() => ByteRing.attach(new SharedArrayBuffer(100))).toThrow(TypeError);
    expect(() => ByteRing.attach(new SharedArrayBuffer(256 + 1024))).toThrow(TypeError); // right size, no magic
    expect(() => ByteRing.attach(new ArrayBuffer(1024) as unknown as SharedArrayBuffer)).toThrow(
      TypeError,
    );
  });
});

describe('ByteRing: single thread', () => {
  it('empty ring pops nothing; records come out in order, byte for byte (gather write)', () => {
    const r = ByteRing.create(256);
    expect(popCopy(r)).toBeUndefined();
    expect(r.hasData()).toBe(false);
    expect(r.tryPush([bytes(3, 1), new Uint8Array(0), bytes(2, 2), bytes(40, 3)])).toBe(true);
    expect(r.tryPush([bytes(10, 4)])).toBe(true);
    expect(r.usedBytes()).toBe(slot(45) + slot(10));
    expect([...popCopy(r)!]).toEqual([1, 1, 1, 2, 2, ...Array(40).fill(3)]);
    expect([...popCopy(r)!]).toEqual(Array(10).fill(4));
    expect(popCopy(r)).toBeUndefined();
    expect(r.usedBytes()).toBe(0);
  });

  it('parts may be views into larger buffers', () => {
    const r = ByteRing.create(256);
    const big = Uint8Array.from({ length: 100 }, (_, i) => i);
    expect(r.tryPush([big.subarray(10, 13), big.subarray(50, 80)])).toBe(true);
    expect([...popCopy(r)!]).toEqual([10, 11, 12, ...Array.from({ length: 30 }, (_, i) => 50 + i)]);
  });

  it('a zero-length record is a record', () => {
    const r = ByteRing.create(64);
    expect(r.tryPush([])).toBe(true);
    expect(r.usedBytes()).toBe(8);
    expect(popCopy(r)!.length).toBe(0);
    expect(popCopy(r)).toBeUndefined();
  });

  it('full: tryPush is refused, then accepted after a pop', () => {
    const r = ByteRing.create(128); // records of 28 bytes take 32
    for (let i = 0; i < 4; i++) expect(r.tryPush([bytes(28, i)])).toBe(true);
    expect(r.usedBytes()).toBe(128);
    expect(r.tryPush([])).toBe(false);
    expect(r.tryPush([bytes(1, 9)])).toBe(false);
    expect([...popCopy(r)!]).toEqual(Array(28).fill(0));
    expect(r.tryPush([bytes(28, 7)])).toBe(true);
    expect(r.tryPush([])).toBe(false);
    for (const v of [1, 2, 3, 7]) expect(popCopy(r)![0]).toBe(v);
    expect(popCopy(r)).toBeUndefined();
  });

  it('wraps with a marker when a record does not fit before the end; the skipped bytes count as used', () => {
    const r = ByteRing.create(128);
    expect(r.tryPush([bytes(52, 1)])).toBe(true); // 56 bytes
    expect(r.tryPush([bytes(36, 2)])).toBe(true); // 40 → tail at 96
    popCopy(r);
    popCopy(r); // head at 96, 32 bytes left before the end
    expect(r.tryPush([bytes(40, 3)])).toBe(true); // needs 48: wrap marker at 96, record at 0
    expect(r.usedBytes()).toBe(32 + 48);
    expect(r.tryPush([bytes(20, 4)])).toBe(true); // 24 more, at 48
    expect(r.usedBytes()).toBe(32 + 48 + 24);
    expect([...popCopy(r)!]).toEqual(Array(40).fill(3));
    expect(r.usedBytes()).toBe(24);
    expect([...popCopy(r)!]).toEqual(Array(20).fill(4));
    expect(r.usedBytes()).toBe(0);
  });

  it('a record that exactly fills the space to the end needs no wrap marker', () => {
    const r = ByteRing.create(128);
    advanceTo(r, 64); // 64 bytes to the end
    expect(r.tryPush([bytes(60, 4)])).toBe(true); // 4 + 60 = 64: exact fit
    expect(r.usedBytes()).toBe(64);
    expect(r.tryPush([bytes(4, 5)])).toBe(true); // next one starts at offset 0
    expect(r.usedBytes()).toBe(72);
    expect(popCopy(r)![59]).toBe(4);
    expect([...popCopy(r)!]).toEqual([5, 5, 5, 5]);
  });

  it('a wrap needs the skipped bytes plus the record: refused when the start of the buffer is still unread', () => {
    const r = ByteRing.create(128);
    r.tryPush([bytes(60, 1)]); // [0,64)
    r.tryPush([bytes(20, 2)]); // [64,88)
    popCopy(r); // head 64; free 104, but 40 to the end and 64 at the start
    expect(r.tryPush([bytes(60, 3)])).toBe(true); // 40 skipped + 64 = 104: fits exactly
    expect(r.usedBytes()).toBe(128);
    expect(r.tryPush([])).toBe(false);
    expect(popCopy(r)![0]).toBe(2);
    expect(popCopy(r)![0]).toBe(3);
    expect(r.usedBytes()).toBe(0);

    const s = ByteRing.create(128);
    s.tryPush([bytes(52, 1)]); // [0,56)
    s.tryPush([bytes(36, 2)]); // [56,96)
    popCopy(s); // head 56, tail 96: 88 free, but a 64-byte slot would cost 32 skipped + 64 = 96
    expect(s.tryPush([bytes(60, 3)])).toBe(false);
    expect(s.usedBytes()).toBe(40);
    expect(s.tryPush([bytes(28, 3)])).toBe(true); // 32 bytes: fits before the end
    expect(s.usedBytes()).toBe(72);
  });

  it('head and tail keep working across 2^32', () => {
    const a = ByteRing.create(256);
    const ctrl = new Int32Array(a.sab, 0, 64);
    const start = (2 ** 32 - 1000) | 0; // a multiple of 8, 1000 bytes short of wrapping the counters
    ctrl[CTRL.HEAD] = start;
    ctrl[CTRL.TAIL] = start;
    const r = ByteRing.attach(a.sab);
    const model: Uint8Array[] = [];
    for (let i = 0; i < 400; i++) {
      const rec = bytes((i * 37) % 100, i & 0xff);
      while (!r.tryPush([rec])) expect(popCopy(r)).toEqual(model.shift());
      model.push(rec);
      expect(r.usedBytes()).toBeLessThanOrEqual(256);
    }
    while (model.length) expect(popCopy(r)).toEqual(model.shift());
    expect(r.usedBytes()).toBe(0);
    expect(ctrl[CTRL.TAIL] >>> 0).toBeLessThan(2 ** 31); // it really did wrap
  });

  it('pop frees the record even when the callback throws, and rethrows', () => {
    const r = ByteRing.create(256);
    r.tryPush([bytes(5, 1)]);
    r.tryPush([bytes(5, 2)]);
    expect(() =>
      r.pop(() => {
        throw new Error('bad record');
      }),
    ).toThrow('bad record');
    expect(popCopy(r)![0]).toBe(2);
    expect(r.usedBytes()).toBe(0);
  });

  it('the view is into shared memory and valid during the call', () => {
    const r = ByteRing.create(256);
    r.tryPush([bytes(8, 3)]);
    const seen = r.pop((v) => ({
      shared: v.buffer instanceof SharedArrayBuffer,
      sum: v.reduce((s, x) => s + x, 0),
    }));
    expect(seen).toEqual({ shared: true, sum: 24 });
  });

  it('close: refuses new records, the consumer drains what is there, then sees closed and empty', () => {
    const r = ByteRing.create(128);
    r.tryPush([bytes(5, 1)]);
    r.tryPush([bytes(5, 2)]);
    expect(r.isClosed()).toBe(false);
    r.close();
    const c = ByteRing.attach(r.sab);
    expect(c.isClosed()).toBe(true);
    expect(r.tryPush([bytes(5, 3)])).toBe(false);
    expect(popCopy(c)![0]).toBe(1);
    expect(popCopy(c)![0]).toBe(2);
    expect(popCopy(c)).toBeUndefined();
    expect(c.hasData()).toBe(false);
    r.close(); // idempotent
    expect(c.isClosed()).toBe(true);
  });

  it('waitForData returns at once with data or when closed, else after the timeout', () => {
    const r = ByteRing.create(256);
    let t0 = performance.now();
    r.waitForData(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    r.tryPush([bytes(1, 1)]);
    t0 = performance.now();
    r.waitForData(5000);
    expect(performance.now() - t0).toBeLessThan(1000);
    popCopy(r);
    r.close();
    t0 = performance.now();
    r.waitForData(5000);
    expect(performance.now() - t0).toBeLessThan(1000);
  });

  it('waitForDataAsync returns on a push, on close and on timeout, without blocking the event loop', async () => {
    const r = ByteRing.create(256);
    let t0 = performance.now();
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 2);
    await r.waitForDataAsync(40);
    clearInterval(ticker);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(35);
    expect(ticks).toBeGreaterThan(0); // timers ran while it waited: a blocked loop would show 0

    t0 = performance.now();
    const waiting = r.waitForDataAsync(5000);
    setTimeout(() => r.tryPush([bytes(1, 1)]), 10);
    await waiting;
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(r.hasData()).toBe(true);
    await r.waitForDataAsync(5000); // data there: at once
    popCopy(r);

    t0 = performance.now();
    const closing = r.waitForDataAsync(5000);
    setTimeout(() => r.close(), 10);
    await closing;
    expect(performance.now() - t0).toBeLessThan(1000);
    await r.waitForDataAsync(5000); // closed: at once
  });
});

describe('ByteRing: against a model (property)', () => {
  /** The ring's accounting, written out independently: positions, wrap skips and all. */
  class Model {
    head = 0;
    tail = 0;
    queue: { rec: Uint8Array; start: number; end: number }[] = [];
    constructor(readonly cap: number) {}
    push(rec: Uint8Array): boolean {
      const need = slot(rec.length);
      const off = this.tail % this.cap;
      const skip = need > this.cap - off ? this.cap - off : 0;
      if (this.tail - this.head + skip + need > this.cap) return false;
      this.queue.push({ rec, start: this.tail, end: this.tail + skip + need });
      this.tail += skip + need;
      return true;
    }
    pop(): Uint8Array | undefined {
      const e = this.queue.shift();
      if (e) this.head = e.end;
      return e?.rec;
    }
    used() {
      return this.tail - this.head;
    }
  }

  it('push results, popped bytes and usedBytes match the model under random sequences', () => {
    const op = fc.oneof(
      {
        weight: 3,
        arbitrary: fc.record({
          push: fc.integer({ min: 0, max: 124 }),
          parts: fc.integer({ min: 1, max: 3 }),
        }),
      },
      { weight: 2, arbitrary: fc.constant({ pop: true as const }) },
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 400 }), (ops) => {
        const r = ByteRing.create(256);
        const m = new Model(256);
        let n = 0;
        for (const o of ops) {
          if ('pop' in o) {
            const got = popCopy(r);
            const want = m.pop();
            if (want === undefined) expect(got).toBeUndefined();
            else expect(got).toEqual(want);
          } else {
            const rec = Uint8Array.from({ length: o.push }, (_, i) => (n * 31 + i) & 0xff);
            n++;
            const cuts = [0, Math.floor(o.push / 3), Math.floor(o.push / 2), o.push].slice(
              0,
              o.parts + 1,
            );
            cuts[cuts.length - 1] = o.push;
            const parts = cuts.slice(1).map((c, i) => rec.subarray(cuts[i], c));
            expect(r.tryPush(parts)).toBe(m.push(rec));
          }
          expect(r.usedBytes()).toBe(m.used());
        }
        for (let want = m.pop(); want !== undefined; want = m.pop())
          expect(popCopy(r)).toEqual(want);
        expect(popCopy(r)).toBeUndefined();
        expect(r.usedBytes()).toBe(0);
      }),
      { numRuns: 300 },
    );
  });
});

describe('ByteRing: threads', () => {
  it('worker producer and worker consumer: 200k checksummed records of random sizes through a 16 KiB ring', async () => {
    const ring = ByteRing.create(16384);
    const common = { sab: ring.sab, count: 200_000, seed: 1, maxLen: 5000 };
    const { consumer, producer } = await runPair(common, { wait: 'sync' });
    expect(consumer.error).toBeUndefined();
    expect(consumer).toMatchObject({ ok: true, received: 200_000 });
    expect(producer.ok).toBe(true);
    expect(producer.fullHits).toBeGreaterThan(0); // the ring really was full at times
    expect(ring.usedBytes()).toBe(0);
  }, 120_000);

  it('the same with a consumer awaiting waitForDataAsync', async () => {
    const ring = ByteRing.create(8192);
    const common = { sab: ring.sab, count: 100_000, seed: 2, maxLen: 4000 };
    const { consumer, producer } = await runPair(common, { wait: 'async' });
    expect(consumer.error).toBeUndefined();
    expect(consumer).toMatchObject({ ok: true, received: 100_000 });
    expect(producer.ok).toBe(true);
  }, 120_000);

  it('the same on a runtime without Atomics.waitAsync (polling fallback)', async () => {
    const ring = ByteRing.create(8192);
    const common = { sab: ring.sab, count: 30_000, seed: 3, maxLen: 4000 };
    const { consumer, producer } = await runPair(common, { wait: 'async', noWaitAsync: true });
    expect(consumer.error).toBeUndefined();
    expect(consumer).toMatchObject({ ok: true, received: 30_000 });
    expect(producer.ok).toBe(true);
  }, 120_000);

  for (const wait of ['sync', 'async'] as const) {
    it(`main-thread producer (never blocks), worker consumer waiting ${wait} (the product shape)`, async () => {
      const ring = ByteRing.create(8192);
      const count = 30_000;
      const seed = 4;
      const maxLen = 3000;
      const consumer = runPeer({ sab: ring.sab, count, seed, maxLen, role: 'consumer', wait });
      let full = 0;
      for (let seq = 0; seq < count; seq++) {
        const parts = recordParts(seed, seq, maxLen) as Uint8Array[];
        while (!ring.tryPush(parts)) {
          full++;
          await new Promise((r) => setImmediate(r));
        }
        // now and then let the consumer catch up and go to sleep, so wake-ups are exercised
        if (seq % 500 === 499) await new Promise((r) => setTimeout(r, 1));
      }
      ring.close();
      const result = await consumer;
      expect(result).toMatchObject({ ok: true, received: count });
      expect(result.sleeps).toBeGreaterThan(10);
      expect(full).toBeGreaterThan(0);
    }, 60_000);
  }

  it('close wakes a consumer blocked in Atomics.wait, which then drains', async () => {
    const ring = ByteRing.create(4096);
    const count = 3;
    const consumer = runPeer({
      sab: ring.sab,
      count,
      seed: 5,
      maxLen: 100,
      role: 'consumer',
      wait: 'sync',
    });
    for (let seq = 0; seq < count; seq++)
      expect(ring.tryPush(recordParts(5, seq, 100) as Uint8Array[])).toBe(true);
    while (ring.hasData()) await new Promise((r) => setTimeout(r, 5)); // the consumer has started and drained
    await new Promise((r) => setTimeout(r, 50)); // ... and gone to sleep
    const t0 = performance.now();
    ring.close(); // the consumer sleeps with a 1 s timeout: it must wake well before
    expect(await consumer).toMatchObject({ ok: true, received: count });
    expect(performance.now() - t0).toBeLessThan(900);
  });

  it('the record checker catches what it should (sanity of the test itself)', () => {
    const parts = recordParts(9, 0, 100) as Uint8Array[];
    const rec = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let o = 0;
    for (const p of parts) {
      rec.set(p, o);
      o += p.length;
    }
    expect(checkRecord(rec, 9, 0, 100)).toBeUndefined();
    expect(checkRecord(rec, 9, 1, 100)).toMatch(/out of order/);
    if (rec.length > 12) {
      rec[rec.length - 1] ^= 1;
      expect(checkRecord(rec, 9, 0, 100)).toMatch(/checksum/);
    }
  });
});

describe('ByteRing: other runtimes', () => {
  for (const [bin, args] of [
    ['bun', []],
    ['deno', ['run', '-A']],
  ] as const) {
    const exe = join(ROOT, 'node_modules', '.bin', bin);
    it.skipIf(!existsSync(exe))(
      `works under ${bin}: main-thread producer with sync and async worker consumers, worker pair`,
      () => {
        const r = spawnSync(exe, [...args, XRT], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
        const line = r.stdout.trim().split('\n').pop() ?? '';
        expect(r.status, `${bin} exited ${r.status}: ${r.stderr}`).toBe(0);
        const out = JSON.parse(line);
        expect(out.runtime).toBe(bin);
        expect(out.sync).toMatchObject({ ok: true, received: 20000 });
        expect(out.async).toMatchObject({ ok: true, received: 20000 });
        expect(out.pair).toMatchObject({ ok: true, received: 50000, producerOk: true });
      },
      150_000,
    );
  }
});
