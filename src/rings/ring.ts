/**
 * Single-producer single-consumer byte ring over a SharedArrayBuffer.
 *
 * Layout: a 64-byte control block of Int32 words, then `capacity` data bytes
 * (a power of two). head and tail are free-running uint32 byte counters; the
 * used space is (tail - head) mod 2^32. A record is a 4-byte little-endian
 * length followed by its bytes, padded to 8. When a record does not fit before
 * the end of the buffer the producer writes a wrap marker (length 0xFFFFFFFF)
 * and continues at offset 0. The producer publishes a record by storing tail
 * after writing its bytes; the consumer frees it by storing head after reading.
 * Both stores are Atomics (sequentially consistent), so the bytes are visible
 * before the counter that announces them.
 */
const CTRL_BYTES = 64;
const HEAD = 0; // consumer-owned
const TAIL = 1; // producer-owned
const SEQ = 2; // bumped on every push and on close: what a waiting consumer sleeps on
const CLOSED = 3;
const WAITING = 4; // 1 while the consumer is (about to be) asleep: lets the producer skip notify
const LEN_BYTES = 4;
const ALIGN = 8;
const WRAP = 0xffffffff;

const align = (n: number) => (n + ALIGN - 1) & ~(ALIGN - 1);

export class ByteRing {
  readonly sab: SharedArrayBuffer;
  readonly capacity: number;
  readonly maxRecordBytes: number;
  private readonly ctrl: Int32Array;
  private readonly data: Uint8Array;
  private readonly view: DataView;
  private readonly mask: number;

  private constructor(sab: SharedArrayBuffer) {
    this.sab = sab;
    this.capacity = sab.byteLength - CTRL_BYTES;
    this.mask = this.capacity - 1;
    this.ctrl = new Int32Array(sab, 0, CTRL_BYTES / 4);
    this.data = new Uint8Array(sab, CTRL_BYTES, this.capacity);
    this.view = new DataView(sab, CTRL_BYTES, this.capacity);
    // A record may need a wrap marker's worth of wasted tail space; half the ring always fits.
    this.maxRecordBytes = this.capacity / 2 - LEN_BYTES;
  }

  static create(capacityBytes: number): ByteRing {
    if (!(capacityBytes >= 64)) throw new RangeError('ring capacity must be at least 64 bytes');
    let cap = 64;
    while (cap < capacityBytes) cap *= 2;
    return new ByteRing(new SharedArrayBuffer(CTRL_BYTES + cap));
  }

  static attach(sab: SharedArrayBuffer): ByteRing {
    const cap = sab.byteLength - CTRL_BYTES;
    if (cap < 64 || (cap & (cap - 1)) !== 0) throw new RangeError('not a ByteRing buffer');
    return new ByteRing(sab);
  }

  usedBytes(): number {
    return (Atomics.load(this.ctrl, TAIL) - Atomics.load(this.ctrl, HEAD)) >>> 0;
  }

  /** Producer: append one record, the concatenation of parts. false when there is no room now. */
  tryPush(parts: readonly Uint8Array[]): boolean {
    let len = 0;
    for (const p of parts) len += p.byteLength;
    if (len > this.maxRecordBytes) throw new RangeError(`record of ${len} bytes exceeds the ring's maximum of ${this.maxRecordBytes}`);
    if (Atomics.load(this.ctrl, CLOSED) === 1) return false;
    const need = align(LEN_BYTES + len);
    const tail = Atomics.load(this.ctrl, TAIL) >>> 0;
    const head = Atomics.load(this.ctrl, HEAD) >>> 0;
    const free = this.capacity - ((tail - head) >>> 0);
    let off = tail & this.mask;
    const toEnd = this.capacity - off;
    let total = need;
    if (need > toEnd) total += toEnd; // the rest of the buffer is skipped by a wrap marker
    if (total > free) return false;
    if (need > toEnd) {
      this.view.setUint32(off, WRAP, true);
      off = 0;
    }
    this.view.setUint32(off, len, true);
    let p = off + LEN_BYTES;
    for (const part of parts) {
      this.data.set(part, p);
      p += part.byteLength;
    }
    Atomics.store(this.ctrl, TAIL, (tail + total) | 0);
    Atomics.add(this.ctrl, SEQ, 1);
    if (Atomics.load(this.ctrl, WAITING) === 1) Atomics.notify(this.ctrl, SEQ);
    return true;
  }

  /** Consumer: hand the next record to fn (a view valid only during the call), then free it. */
  pop<T>(fn: (view: Uint8Array) => T): T | undefined {
    let head = Atomics.load(this.ctrl, HEAD) >>> 0;
    const tail = Atomics.load(this.ctrl, TAIL) >>> 0;
    if (head === tail) return undefined;
    let off = head & this.mask;
    let len = this.view.getUint32(off, true);
    if (len === WRAP) {
      head = (head + (this.capacity - off)) >>> 0;
      off = 0;
      len = this.view.getUint32(0, true);
    }
    const result = fn(this.data.subarray(off + LEN_BYTES, off + LEN_BYTES + len));
    Atomics.store(this.ctrl, HEAD, (head + align(LEN_BYTES + len)) | 0);
    return result;
  }

  /** Consumer (worker threads only): block until a push or close, or the timeout. */
  waitForData(timeoutMs: number): void {
    const seq = Atomics.load(this.ctrl, SEQ);
    Atomics.store(this.ctrl, WAITING, 1);
    if (this.usedBytes() === 0 && !this.isClosed()) Atomics.wait(this.ctrl, SEQ, seq, timeoutMs);
    Atomics.store(this.ctrl, WAITING, 0);
  }

  /** Consumer: the same without blocking the thread's event loop (Atomics.waitAsync when present). */
  async waitForDataAsync(timeoutMs: number): Promise<void> {
    const seq = Atomics.load(this.ctrl, SEQ);
    Atomics.store(this.ctrl, WAITING, 1);
    try {
      if (this.usedBytes() !== 0 || this.isClosed()) return;
      const waitAsync = (Atomics as { waitAsync?: (a: Int32Array, i: number, v: number, t: number) => { async: boolean; value: unknown } }).waitAsync;
      if (typeof waitAsync === 'function') {
        const r = waitAsync(this.ctrl, SEQ, seq, timeoutMs);
        if (r.async) await r.value;
        return;
      }
      // No waitAsync on this runtime: poll in short sleeps.
      const until = Date.now() + timeoutMs;
      while (Atomics.load(this.ctrl, SEQ) === seq && Date.now() < until) {
        await new Promise((r) => setTimeout(r, Math.min(2, Math.max(0, until - Date.now()))));
      }
    } finally {
      Atomics.store(this.ctrl, WAITING, 0);
    }
  }

  /** Producer: no more records; the consumer drains what is there and sees isClosed(). */
  close(): void {
    Atomics.store(this.ctrl, CLOSED, 1);
    Atomics.add(this.ctrl, SEQ, 1);
    Atomics.notify(this.ctrl, SEQ);
  }

  isClosed(): boolean {
    return Atomics.load(this.ctrl, CLOSED) === 1;
  }
}
