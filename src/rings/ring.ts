/**
 * Single-producer single-consumer byte ring over a SharedArrayBuffer.
 *
 * One ring per worker thread: the main thread (the HTTP acceptor) is the only
 * producer and never blocks; the worker is the only consumer.
 *
 * Memory layout (all offsets in bytes):
 *
 *     0  control block, 256 bytes of Int32 words, one 64-byte cache line per writer:
 *          line 0  (consumer writes)  HEAD
 *          line 1  (producer writes)  TAIL, CLOSED
 *          line 2  (rarely written)   SEQ — what a sleeping consumer waits on (producer bumps it),
 *                                     WAITERS — consumers about to sleep (consumer counts them)
 *          line 3  (constant)         MAGIC, CAPACITY
 *   256  data: `capacity` bytes, a power of two
 *
 * head and tail are free-running uint32 byte counters (they wrap at 2^32; all
 * arithmetic is `>>> 0`); the bytes in use are (tail - head) >>> 0 and the
 * position in the data area is counter & (capacity - 1).
 *
 * A record is a 4-byte length followed by the payload, padded to 8 bytes, so
 * every record (and every length word) starts 8-aligned. When a record does not
 * fit contiguously before the end of the data area the producer writes a wrap
 * marker (length 0xFFFFFFFF) where it would have started, skips the rest of the
 * area and writes the record at offset 0; the skipped bytes count as used until
 * the consumer passes them. A record that ends exactly at the end needs no
 * marker. Because of that skip, the largest record that always fits in an empty
 * ring is half the capacity minus the length word (`maxRecordBytes`).
 *
 * Ordering: the producer writes the record bytes with plain stores, then
 * publishes them with Atomics.store(TAIL); the consumer Atomics.loads TAIL
 * before reading the bytes, and releases the space with Atomics.store(HEAD)
 * only after its callback has returned. Atomics are sequentially consistent, so
 * this is enough on every runtime (V8 and JavaScriptCore alike).
 *
 * Wake-ups: a consumer about to sleep reads SEQ, announces itself in WAITERS,
 * re-checks TAIL/CLOSED, then waits while SEQ is unchanged. The producer, after
 * publishing TAIL, reads WAITERS and only then bumps SEQ and notifies — so a busy
 * consumer costs the producer one extra load per push and no notify, and no
 * wake-up can be lost (whichever of "producer reads WAITERS" and "consumer
 * increments WAITERS" comes first in the total order of atomics, either the
 * consumer sees the new TAIL or the producer sees the waiter). close() always
 * bumps SEQ and notifies.
 *
 * Each side also caches the other side's counter (the producer its last view of
 * HEAD, the consumer of TAIL) and only re-reads it when the cached value says
 * "full" / "empty": a stale value is always the conservative one, and it keeps
 * the two cache lines from bouncing between cores on every record.
 */

const CTRL_BYTES = 256;
const HEAD = 0;
const TAIL = 16;
const CLOSED = 17;
const SEQ = 32;
const WAITERS = 33;
const MAGIC = 48;
const CAPACITY = 49;

const MAGIC_VALUE = 0x46525247; // 'FRRG'
const LEN_BYTES = 4;
const ALIGN = 8;
const WRAP = 0xffffffff;
/** Smallest data area; smaller requests are rounded up to it. */
export const MIN_RING_CAPACITY = 64;
/** Largest data area: keeps counters, offsets and lengths far from 2^32. */
export const MAX_RING_CAPACITY = 2 ** 30;
/** Longest single sleep of the polling fallback of waitForDataAsync. */
const POLL_MAX_MS = 4;
/** setTimeout's largest delay; anything longer fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

type WaitAsync = (
  a: Int32Array,
  index: number,
  value: number,
  timeout?: number,
) =>
  | { async: false; value: 'not-equal' | 'timed-out' }
  | { async: true; value: Promise<'ok' | 'timed-out'> };

/** Atomics.waitAsync where the runtime has it (Node ≥ 16, Deno, Bun ≥ 1.1), else undefined. */
const waitAsync: WaitAsync | undefined = (() => {
  const fn = (Atomics as unknown as { waitAsync?: WaitAsync }).waitAsync;
  return typeof fn === 'function' ? fn.bind(Atomics) : undefined;
})();

const align = (n: number) => (n + ALIGN - 1) & ~(ALIGN - 1);

export class ByteRing {
  readonly sab: SharedArrayBuffer;
  /** Bytes in the data area (a power of two). */
  readonly capacity: number;
  /** Largest record tryPush can ever accept (so config can validate body limits against it). */
  readonly maxRecordBytes: number;

  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;
  /** The data area as 32-bit words, for the length words (always 8-aligned). */
  private readonly words: Uint32Array;
  private readonly mask: number;
  /** Producer side: last HEAD seen (≤ the real one). */
  private cachedHead: number;
  /** Consumer side: last TAIL seen (≤ the real one). */
  private cachedTail: number;

  private constructor(sab: SharedArrayBuffer, capacity: number) {
    this.sab = sab;
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    this.data = new Uint8Array(sab, CTRL_BYTES, capacity);
    this.words = new Uint32Array(sab, CTRL_BYTES, capacity / 4);
    // Worst case in an empty ring: the record starts 8 bytes short of needing a wrap,
    // so it costs those bytes plus itself. align(4 + max) = capacity / 2 always fits.
    this.maxRecordBytes = capacity / 2 - LEN_BYTES;
    this.cachedHead = Atomics.load(this.ctrl, HEAD) >>> 0;
    this.cachedTail = Atomics.load(this.ctrl, TAIL) >>> 0;
  }

  /** A new empty ring of at least capacityBytes (rounded up to a power of two, at least 64). */
  static create(capacityBytes: number): ByteRing {
    if (
      !Number.isFinite(capacityBytes) ||
      capacityBytes <= 0 ||
      capacityBytes > MAX_RING_CAPACITY
    ) {
      throw new RangeError(
        `ring capacity must be between 1 and ${MAX_RING_CAPACITY} bytes, got ${capacityBytes}`,
      );
    }
    let cap = MIN_RING_CAPACITY;
    while (cap < capacityBytes) cap *= 2;
    const sab = new SharedArrayBuffer(CTRL_BYTES + cap);
    const ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    ctrl[MAGIC] = MAGIC_VALUE;
    ctrl[CAPACITY] = cap;
    return new ByteRing(sab, cap);
  }

  /** The same ring seen from another thread (the SharedArrayBuffer came through postMessage/workerData). */
  static attach(sab: SharedArrayBuffer): ByteRing {
    if (!(sab instanceof SharedArrayBuffer) || sab.byteLength < CTRL_BYTES + MIN_RING_CAPACITY) {
      throw new TypeError(
        'not a ByteRing buffer: expected the SharedArrayBuffer of ByteRing.create()',
      );
    }
    const ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    const cap = Atomics.load(ctrl, CAPACITY);
    if (
      Atomics.load(ctrl, MAGIC) !== MAGIC_VALUE ||
      cap !== sab.byteLength - CTRL_BYTES ||
      (cap & (cap - 1)) !== 0
    ) {
      throw new TypeError('not a ByteRing buffer: bad magic or size');
    }
    return new ByteRing(sab, cap);
  }

  /** Bytes in use, wrap padding included (either thread; for occupancy metrics). */
  usedBytes(): number {
    // head first: head never passes tail, so (tail - head) read in this order is never negative.
    const head = Atomics.load(this.ctrl, HEAD);
    const tail = Atomics.load(this.ctrl, TAIL);
    return Math.min((tail - head) >>> 0, this.capacity);
  }

  /**
   * Producer: append one record made of the concatenation of parts (gather write, no
   * intermediate copy). Returns false when there is no room now or the ring is closed.
   * Throws RangeError when the record is larger than maxRecordBytes (it could never fit).
   */
  tryPush(parts: readonly Uint8Array[]): boolean {
    let len = 0;
    for (let i = 0; i < parts.length; i++) len += parts[i].byteLength;
    if (len > this.maxRecordBytes) {
      throw new RangeError(
        `record of ${len} bytes exceeds the ring's maximum of ${this.maxRecordBytes} bytes`,
      );
    }
    const ctrl = this.ctrl;
    if (Atomics.load(ctrl, CLOSED) !== 0) return false;

    const need = align(LEN_BYTES + len);
    const tail = Atomics.load(ctrl, TAIL) >>> 0;
    let off = tail & this.mask;
    const toEnd = this.capacity - off;
    const total = need <= toEnd ? need : need + toEnd; // a wrap skips the rest of the area
    if (total > this.capacity - ((tail - this.cachedHead) >>> 0)) {
      this.cachedHead = Atomics.load(ctrl, HEAD) >>> 0;
      if (total > this.capacity - ((tail - this.cachedHead) >>> 0)) return false;
    }

    if (need > toEnd) {
      this.words[off >>> 2] = WRAP;
      off = 0;
    }
    this.words[off >>> 2] = len;
    let p = off + LEN_BYTES;
    const data = this.data;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const n = part.byteLength;
      if (n > 16) data.set(part, p);
      else for (let j = 0; j < n; j++) data[p + j] = part[j];
      p += n;
    }
    // Publish: everything written above is visible to whoever loads this tail.
    Atomics.store(ctrl, TAIL, (tail + total) | 0);
    if (Atomics.load(ctrl, WAITERS) !== 0) {
      Atomics.add(ctrl, SEQ, 1);
      Atomics.notify(ctrl, SEQ);
    }
    return true;
  }

  /**
   * Consumer: when a record is available call fn with a view into the shared memory,
   * valid only during the call, then free its space (also when fn throws: a record that
   * makes the consumer throw must not wedge the ring). Returns fn's result, or undefined
   * when the ring is empty.
   */
  pop<T>(fn: (view: Uint8Array) => T): T | undefined {
    const ctrl = this.ctrl;
    let head = Atomics.load(ctrl, HEAD) >>> 0;
    if (head === this.cachedTail) {
      this.cachedTail = Atomics.load(ctrl, TAIL) >>> 0;
      if (head === this.cachedTail) return undefined;
    }
    let off = head & this.mask;
    let len = this.words[off >>> 2];
    if (len === WRAP) {
      head = (head + this.capacity - off) >>> 0;
      off = 0;
      len = this.words[0];
    }
    if (len > this.maxRecordBytes) {
      throw new Error(
        `ring corrupted: record length ${len} at offset ${off} (more than one producer?)`,
      );
    }
    const start = off + LEN_BYTES;
    try {
      return fn(this.data.subarray(start, start + len));
    } finally {
      Atomics.store(ctrl, HEAD, (head + align(LEN_BYTES + len)) | 0);
    }
  }

  /** Whether a record is waiting (either thread). */
  hasData(): boolean {
    return Atomics.load(this.ctrl, HEAD) !== Atomics.load(this.ctrl, TAIL);
  }

  /**
   * Consumer: block the thread (Atomics.wait) until a record is pushed, the ring is
   * closed, or timeoutMs passes. Returns at once when there is data or the ring is closed.
   * For worker threads: browsers forbid Atomics.wait on a main thread, and on the
   * acceptor's thread it would stall the event loop.
   */
  waitForData(timeoutMs: number): void {
    const ctrl = this.ctrl;
    if (this.hasData() || this.isClosed()) return;
    const seq = Atomics.load(ctrl, SEQ);
    Atomics.add(ctrl, WAITERS, 1);
    try {
      if (this.hasData() || this.isClosed()) return;
      Atomics.wait(ctrl, SEQ, seq, clampTimeout(timeoutMs));
    } finally {
      Atomics.sub(ctrl, WAITERS, 1);
    }
  }

  /**
   * Consumer: the same without blocking the event loop. Uses Atomics.waitAsync where the
   * runtime has it, raced with an ordinary timer (on Node a pending waitAsync neither keeps
   * the event loop alive nor, on some versions, fires its own timeout reliably); else polls
   * in short sleeps (1 → 4 ms).
   */
  async waitForDataAsync(timeoutMs: number): Promise<void> {
    const ctrl = this.ctrl;
    if (this.hasData() || this.isClosed()) return;
    const timeout = clampTimeout(timeoutMs);
    const seq = Atomics.load(ctrl, SEQ);
    Atomics.add(ctrl, WAITERS, 1);
    try {
      if (this.hasData() || this.isClosed() || timeout === 0) return;
      if (waitAsync) {
        const r = waitAsync(ctrl, SEQ, seq, timeout);
        if (!r.async) return;
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          r.value,
          new Promise<void>((resolve) => {
            timer = setTimeout(resolve, Math.min(timeout, MAX_TIMER_MS));
          }),
        ]);
        clearTimeout(timer);
        return;
      }
      const until = performance.now() + timeout;
      let sleep = 1;
      for (;;) {
        if (Atomics.load(ctrl, SEQ) !== seq || this.hasData() || this.isClosed()) return;
        const left = until - performance.now();
        if (left <= 0) return;
        await new Promise((r) => setTimeout(r, Math.min(sleep, left)));
        sleep = Math.min(sleep * 2, POLL_MAX_MS);
      }
    } finally {
      Atomics.sub(ctrl, WAITERS, 1);
    }
  }

  /**
   * Producer: no more records. tryPush returns false from now on; the consumer drains
   * what is left and then sees isClosed() with an empty ring. Wakes a waiting consumer.
   */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    Atomics.add(this.ctrl, SEQ, 1);
    Atomics.notify(this.ctrl, SEQ);
  }

  isClosed(): boolean {
    return Atomics.load(this.ctrl, CLOSED) !== 0;
  }
}

function clampTimeout(ms: number): number {
  if (Number.isNaN(ms) || ms <= 0) return 0;
  return ms;
}
