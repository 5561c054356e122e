import { Buffer } from 'node:buffer';

/** A growable byte buffer for one batch's encoding: no per-event strings to join and re-encode. */
export class ByteSink {
  buf: Buffer;
  len = 0;
  /** Bytes left free at the start for a header (reserve / withHead). */
  private reserved = 0;
  constructor(initial: number) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private room(n: number): void {
    if (this.len + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.len + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  /** One byte. */
  byte(a: number): void {
    this.room(1);
    this.buf[this.len++] = a;
  }
  /** Two ASCII bytes, without a string. */
  pair(a: number, b: number): void {
    this.room(2);
    this.buf[this.len++] = a;
    this.buf[this.len++] = b;
  }
  /** ASCII-only strings (our own framing): one byte per character. */
  ascii(s: string): void {
    this.room(s.length);
    this.len += this.buf.write(s, this.len, 'latin1');
  }
  utf8(s: string): void {
    this.room(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }
  /** A string known to be ASCII goes in as latin1 (one byte per character, no UTF-8 encoder). */
  text(s: string, ascii: boolean): void {
    if (ascii) this.ascii(s);
    else this.utf8(s);
  }
  /** src[from, to): short ranges by a loop (a subarray view costs more than copying a few bytes). */
  range(src: Uint8Array, from: number, to: number): void {
    const n = to - from;
    this.room(n);
    if (n < 48) {
      const out = this.buf;
      let o = this.len;
      for (let i = from; i < to; i++) out[o++] = src[i];
      this.len = o;
    } else {
      this.buf.set(src.subarray(from, to), this.len);
      this.len += n;
    }
  }
  bytes(b: Uint8Array): void {
    this.room(b.byteLength);
    this.buf.set(b, this.len);
    this.len += b.byteLength;
  }
  /**
   * UTF-8 text bytes as a JSON string, byte for byte what JSON.stringify of the decoded text
   * gives (valid UTF-8 in, so only quote, backslash and control bytes need escaping) — without
   * decoding to a string, stringifying and encoding again (bench/worker-path.mjs --rows).
   */
  jsonString(src: Uint8Array): void {
    this.room(2);
    this.buf[this.len++] = 0x22;
    this.jsonStringBody(src, 0, src.length);
    this.buf[this.len++] = 0x22;
  }
  /** src[from, to) escaped as the inside of a JSON string (no quotes around it). */
  jsonStringBody(src: Uint8Array, from: number, to: number): void {
    this.room((to - from) * 6 + 2);
    const out = this.buf;
    let o = this.len;
    for (let i = from; i < to; i++) {
      const c = src[i];
      if (JSON_ESCAPE[c] === 0) {
        out[o++] = c;
        continue;
      }
      out[o++] = 0x5c;
      const short = JSON_ESCAPE[c];
      if (short !== 1) {
        out[o++] = short;
      } else {
        out[o++] = 0x75; // \u00XX
        out[o++] = 0x30;
        out[o++] = 0x30;
        out[o++] = HEX[c >> 4];
        out[o++] = HEX[c & 15];
      }
    }
    this.len = o;
  }
  /**
   * The bytes so far as a view, and the same buffer reused for the next batch: for a caller
   * that is done with the view before it writes again (a compressor copying it out). Saves a
   * batch-sized allocation per seal, which the worker would otherwise keep as garbage until a
   * full GC (external memory is only collected after tens of MiB of it).
   */
  drain(use: (bytes: Buffer) => void): void {
    use(this.buf.subarray(0, this.len));
    this.len = 0;
  }
  /**
   * Leave `n` bytes free at the start (of an empty sink) for a header only known at the end:
   * withHead then writes it in front of the bytes instead of copying them after it.
   */
  reserve(n: number): void {
    this.room(n);
    this.len = n;
    this.reserved = n;
  }
  /**
   * `head` then the bytes written after the reserved room, handed to `use`, and the sink emptied
   * for the next batch. A head that fits the room is written into it: the bytes are not copied
   * (a batch-sized copy into a fresh buffer was a tenth of the worker's time). With `own` the
   * buffer leaves with the bytes (a fresh one is made for the next batch); without, `use` must be
   * done with them before the sink is written again (a compressor copying them out).
   */
  withHead<T>(head: Uint8Array, own: boolean, use: (bytes: Buffer) => T): T {
    const start = this.reserved - head.byteLength;
    let out: Buffer;
    if (start >= 0) {
      this.buf.set(head, start);
      out = this.buf.subarray(start, this.len);
      if (own) this.buf = Buffer.allocUnsafe(Math.max(4096, this.buf.length));
    } else {
      out = Buffer.allocUnsafe(head.byteLength + this.len - this.reserved);
      out.set(head, 0);
      this.buf.copy(out, head.byteLength, this.reserved, this.len);
    }
    this.len = 0;
    this.reserved = 0;
    return use(out);
  }
  /** The bytes so far, and a fresh buffer for the next batch. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.len);
    this.buf = Buffer.allocUnsafe(Math.max(4096, this.buf.length));
    this.len = 0;
    return out;
  }
}

/** Per byte: 0 = as it is; else the letter after the backslash (1 = \u00XX), as JSON.stringify escapes. */
export const JSON_ESCAPE = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) JSON_ESCAPE[c] = 1;
for (const [c, letter] of [
  [0x08, 'b'],
  [0x09, 't'],
  [0x0a, 'n'],
  [0x0c, 'f'],
  [0x0d, 'r'],
  [0x22, '"'],
  [0x5c, '\\'],
] as const)
  JSON_ESCAPE[c] = letter.charCodeAt(0);
const HEX = new TextEncoder().encode('0123456789abcdef');
