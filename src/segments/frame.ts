import { crc32c } from './crc32c.js';

/**
 * The on-disk format every segment store shares (the DLQ's, the write-ahead log's):
 *
 *   file   = magic(8 bytes) u32le(version 1) record*
 *   record = u32le(bodyLength) u32le(crc32c(body)) body
 *   body   = u32le(headLength) head(JSON, UTF-8) payload
 *
 * (`crc` is the format's checksum: CRC32C unless the format says otherwise.)
 * The magic says which store wrote the file; the head (validated by the store's `isHead`) says
 * what the payload is. Docs: docs/dlq.md ("Segment format"), docs/wal.md.
 */
export interface SegmentFormat<H> {
  /** 8 ASCII bytes, e.g. "FERRYDLQ". */
  readonly magic: Uint8Array;
  /** The record checksum, chainable (crc(b, crc(a)) = crc(a ‖ b)): CRC32C for the DLQ, CRC-32 for the WAL. */
  readonly checksum?: Checksum;
  /** A parsed head this store wrote (anything else is a corrupt record). */
  isHead(h: unknown): h is H;
}

export type Checksum = (data: Uint8Array, seed?: number) => number;
const checksumOf = (fmt?: { checksum?: Checksum }): Checksum => fmt?.checksum ?? crc32c;

export const FILE_HEADER_BYTES = 12;
export const RECORD_OVERHEAD = 8;
/** A body longer than this is not something ferry wrote: the framing is broken from there. */
export const MAX_BODY_BYTES = 512 * 1024 * 1024;

export function magicOf(text: string): Uint8Array {
  const m = new TextEncoder().encode(text);
  if (m.length !== 8) throw new RangeError(`segment magic must be 8 bytes: ${text}`);
  return m;
}

export function fileHeader(fmt: SegmentFormat<unknown>): Uint8Array {
  const h = new Uint8Array(FILE_HEADER_BYTES);
  h.set(fmt.magic, 0);
  new DataView(h.buffer).setUint32(8, 1, true);
  return h;
}

export function isFileHeader(b: Uint8Array, fmt: SegmentFormat<unknown>): boolean {
  if (b.length < FILE_HEADER_BYTES) return false;
  for (let i = 0; i < fmt.magic.length; i++) if (b[i] !== fmt.magic[i]) return false;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8, true) === 1;
}

const enc = new TextEncoder();

/**
 * One framed record as parts to write in order: a small prefix (length, checksum, head) and the
 * payload's own parts, not copied — a ring record's header and body go to disk as they are.
 */
export function encodeFrame(
  head: unknown,
  payload: Uint8Array | readonly Uint8Array[],
  fmt?: { checksum?: Checksum },
): { parts: Uint8Array[]; length: number } {
  const parts = payload instanceof Uint8Array ? [payload] : payload;
  const headBytes = enc.encode(JSON.stringify(head));
  let payloadLen = 0;
  for (const p of parts) payloadLen += p.length;
  const bodyLen = 4 + headBytes.length + payloadLen;
  const prefix = new Uint8Array(12 + headBytes.length);
  const dv = new DataView(prefix.buffer);
  dv.setUint32(0, bodyLen, true);
  dv.setUint32(8, headBytes.length, true);
  prefix.set(headBytes, 12);
  const crc = checksumOf(fmt);
  let c = crc(prefix.subarray(RECORD_OVERHEAD));
  for (const p of parts) c = crc(p, c);
  dv.setUint32(4, c, true);
  return { parts: [prefix, ...parts], length: RECORD_OVERHEAD + bodyLen };
}

/** One framed record in one buffer. */
export function encodeRecord(
  head: unknown,
  payload: Uint8Array | readonly Uint8Array[],
  fmt?: { checksum?: Checksum },
): Uint8Array {
  const f = encodeFrame(head, payload, fmt);
  const out = new Uint8Array(f.length);
  let at = 0;
  for (const p of f.parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export interface ScannedRecord<H> {
  /** Offset of the record (its length field) in the file. */
  offset: number;
  /** Whole record length, overhead included. */
  length: number;
  head: H;
}

export interface ScanResult<H> {
  records: ScannedRecord<H>[];
  /** Records whose checksum or head is bad: [offset, length) each, skipped. */
  corrupt: { offset: number; length: number; reason: string }[];
  /** Where the valid data ends: past it is a torn tail (or unframeable garbage) to cut off. */
  validEnd: number;
  /** What lies past validEnd, if anything. */
  tail: 'none' | 'torn' | 'unframeable';
}

/** Read every record of a segment's bytes (file header included). */
export function scanSegment<H>(b: Uint8Array, fmt: SegmentFormat<H>): ScanResult<H> {
  const records: ScannedRecord<H>[] = [];
  const corrupt: ScanResult<H>['corrupt'] = [];
  if (!isFileHeader(b, fmt)) {
    // A crash right after creating the file leaves it short of a header: nothing in it yet.
    const torn =
      b.length < FILE_HEADER_BYTES &&
      fmt.magic.subarray(0, Math.min(b.length, fmt.magic.length)).every((x, i) => b[i] === x);
    return {
      records,
      corrupt,
      validEnd: 0,
      tail: b.length === 0 ? 'none' : torn ? 'torn' : 'unframeable',
    };
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let off = FILE_HEADER_BYTES;
  while (off < b.length) {
    if (b.length - off < RECORD_OVERHEAD) return { records, corrupt, validEnd: off, tail: 'torn' };
    const bodyLen = dv.getUint32(off, true);
    if (bodyLen < 4 || bodyLen > MAX_BODY_BYTES)
      return { records, corrupt, validEnd: off, tail: 'unframeable' };
    const end = off + RECORD_OVERHEAD + bodyLen;
    if (end > b.length) return { records, corrupt, validEnd: off, tail: 'torn' };
    const body = b.subarray(off + RECORD_OVERHEAD, end);
    const length = RECORD_OVERHEAD + bodyLen;
    if (checksumOf(fmt)(body) !== dv.getUint32(off + 4, true)) {
      corrupt.push({ offset: off, length, reason: 'checksum mismatch' });
    } else {
      const headLen = dv.getUint32(off + RECORD_OVERHEAD, true);
      let head: unknown;
      if (headLen <= bodyLen - 4) {
        try {
          head = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + headLen)));
        } catch {
          head = undefined;
        }
      }
      if (fmt.isHead(head)) records.push({ offset: off, length, head });
      else corrupt.push({ offset: off, length, reason: 'unreadable record head' });
    }
    off = end;
  }
  return { records, corrupt, validEnd: off, tail: 'none' };
}

/**
 * What is wrong with one whole record read back from disk (its length field, its CRC32C), or
 * undefined when it is intact. Recovery checks every record at start-up; this is the same check
 * for a record read later, which the disk may have damaged since.
 */
export function recordProblem(
  record: Uint8Array,
  fmt?: { checksum?: Checksum },
): string | undefined {
  if (record.length < RECORD_OVERHEAD + 4) return 'cut short';
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (dv.getUint32(0, true) !== record.length - RECORD_OVERHEAD) return 'length field mismatch';
  if (checksumOf(fmt)(record.subarray(RECORD_OVERHEAD)) !== dv.getUint32(4, true))
    return 'checksum mismatch';
  return undefined;
}

/** The payload of a record read back from disk (the bytes of one whole record). */
export function payloadOf(record: Uint8Array): Uint8Array {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const headLen = dv.getUint32(RECORD_OVERHEAD, true);
  return record.subarray(RECORD_OVERHEAD + 4 + headLen);
}
