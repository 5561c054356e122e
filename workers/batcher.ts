import { Buffer } from 'node:buffer';
import { compress } from '../src/codecs/index.js';
import type { Codec, EncodedBatch } from '../src/pipeline/batch.js';
import type { ParsedEvent } from './parse.js';
import { sha256Hex } from './event-id.js';

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  maxAgeMs: number;
  codec: Codec;
  level: number;
  /** Build JSONEachRow rows (a ClickHouse sink is configured). */
  rows: boolean;
  /** gzip the ClickHouse rows (sent with Content-Encoding: gzip). */
  compressRows: boolean;
}

/** A sealed batch plus the requests whose events it carries (for durable acks). */
export interface SealedBatch {
  seq: number;
  batch: EncodedBatch;
  reqIds: number[];
}

/** A growable byte buffer for one batch's encoding: no per-event strings to join and re-encode. */
class ByteSink {
  buf: Buffer;
  len = 0;
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
    this.room(src.byteLength * 6 + 2);
    const out = this.buf;
    let o = this.len;
    out[o++] = 0x22;
    for (let i = 0; i < src.length; i++) {
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
    out[o++] = 0x22;
    this.len = o;
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
const JSON_ESCAPE = new Uint8Array(256);
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

const SAFE_ASCII = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/; // printable ASCII without " and \\

/**
 * Accumulates events into the open batch and seals it when it reaches
 * max_events or max_bytes (archive bytes, before compression) or max_age_ms.
 * Each event is encoded as it arrives — an archive envelope line and, when a
 * ClickHouse sink exists, a JSONEachRow line — straight into byte buffers, so
 * sealing is only a compress.
 */
export class Batcher {
  private limits: BatchLimits;
  private seq = 0;
  private openedAt = 0;
  private events = 0;
  private readonly archive = new ByteSink(1 << 20);
  private readonly rows = new ByteSink(1 << 16);
  private reqIds: number[] = [];
  /** event_ids of the open batch, in order: the batch id is their hash. */
  private ids: string[] = [];
  private readonly onSeal: (b: SealedBatch) => void;

  constructor(limits: BatchLimits, onSeal: (b: SealedBatch) => void) {
    this.limits = limits;
    this.onSeal = onSeal;
  }

  setLimits(limits: BatchLimits): void {
    this.limits = limits;
  }

  /** ms until the open batch must be sealed by age; Infinity when empty. */
  msUntilDue(now: number): number {
    if (this.events === 0) return Infinity;
    return Math.max(0, this.openedAt + this.limits.maxAgeMs - now);
  }

  /**
   * Append every event of one request. Returns the [first, last] batch seqs
   * the request's events landed in: its durable ack waits for all of them.
   */
  appendRequest(
    reqId: number,
    events: ParsedEvent[],
    receivedAt: number,
    source: string,
  ): { first: number; last: number } {
    const first = this.seq;
    const sourceJson = JSON.stringify(source);
    const sourceAscii = SAFE_ASCII.test(source);
    const archiveTail = `,"received_at":"${new Date(receivedAt).toISOString()}","source":${sourceJson},"payload":`;
    const rowsTail = `,"received_at":${Math.floor(receivedAt / 1000)},"source":${sourceJson},"payload":`;
    const a = this.archive;
    let last = first;
    for (const ev of events) {
      if (this.events === 0) this.openedAt = Date.now();
      if (this.reqIds.length === 0 || this.reqIds[this.reqIds.length - 1] !== reqId)
        this.reqIds.push(reqId);
      const idPlain = ev.hashed === true || SAFE_ASCII.test(ev.id);
      this.ids.push(ev.id);
      const idJson = idPlain ? `"${ev.id}"` : JSON.stringify(ev.id);
      const ascii = idPlain && sourceAscii;
      // One write for the envelope head, one copy for the payload, two bytes for the tail.
      a.text(`{"event_id":${idJson}${archiveTail}`, ascii);
      if (ev.bytes) a.bytes(ev.bytes);
      else a.utf8(ev.text!);
      a.pair(0x7d, 0x0a); // }\n
      if (this.limits.rows) {
        const r = this.rows;
        r.text(`{"event_id":${idJson}${rowsTail}`, ascii);
        if (ev.bytes) r.jsonString(ev.bytes);
        else r.utf8(JSON.stringify(ev.text!));
        r.pair(0x7d, 0x0a); // }\n
      }
      this.events++;
      last = this.seq;
      if (this.events >= this.limits.maxEvents || a.len >= this.limits.maxBytes) this.seal();
    }
    return { first, last };
  }

  /** Seal if due by age (or unconditionally with force); no-op when empty. */
  sealIfDue(now: number, force = false): void {
    if (this.events === 0) return;
    if (force || now - this.openedAt >= this.limits.maxAgeMs) this.seal();
  }

  private seal(): void {
    const { codec, level, compressRows } = this.limits;
    const archiveRaw = this.archive.take();
    const batch: EncodedBatch = {
      // Derived from its event_ids: the same batch (a retry, a DLQ replay) always gets the same
      // key. Hashing the ids (64 B an event) instead of the archive (~500 B) is ~6x less work.
      id: sha256Hex(this.ids.join('\n')).slice(0, 32),
      createdAt: this.openedAt,
      events: this.events,
      archive: {
        body: codec === 'none' ? archiveRaw : compress(codec, archiveRaw, level || undefined),
        codec,
        rawBytes: archiveRaw.length,
      },
    };
    if (this.limits.rows) {
      const rowsRaw = this.rows.take();
      batch.rows = compressRows
        ? { body: compress('gzip', rowsRaw, 1), codec: 'gzip', rawBytes: rowsRaw.length }
        : { body: rowsRaw, codec: 'none', rawBytes: rowsRaw.length };
    }
    const sealed: SealedBatch = { seq: this.seq, batch, reqIds: this.reqIds };
    this.seq++;
    this.events = 0;
    this.reqIds = [];
    this.ids = [];
    this.onSeal(sealed);
  }
}
