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
  /**
   * Files are reused (the write-ahead log): such a file is version 2, and each record's checksum
   * also covers the segment's sequence number (u32le, after the body), so the records a file held
   * in an earlier life never verify in its next one. Version 1 files (written before, or by a
   * store that does not reuse files) are read as they always were.
   */
  readonly reusesFiles?: boolean;
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
  new DataView(h.buffer).setUint32(8, fmt.reusesFiles ? 2 : 1, true);
  return h;
}

/** The file's format version (1, or 2 for a format that reuses files), or 0 when b is not a header of fmt. */
export function fileVersion(b: Uint8Array, fmt: SegmentFormat<unknown>): 0 | 1 | 2 {
  if (b.length < FILE_HEADER_BYTES) return 0;
  for (let i = 0; i < fmt.magic.length; i++) if (b[i] !== fmt.magic[i]) return 0;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8, true);
  return v === 1 ? 1 : v === 2 && fmt.reusesFiles ? 2 : 0;
}

export function isFileHeader(b: Uint8Array, fmt: SegmentFormat<unknown>): boolean {
  return fileVersion(b, fmt) !== 0;
}

/** A record checksum finished for a version 2 file: it also covers the segment's sequence number. */
export function withSegment(crc: number, seq: number, fmt?: { checksum?: Checksum }): number {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, seq >>> 0, true);
  return checksumOf(fmt)(b, crc);
}

/** Set a frame prefix's checksum (encodeFrame's `checksum`, finished for the segment it goes in). */
export function setFrameChecksum(prefix: Uint8Array, crc: number): void {
  new DataView(prefix.buffer, prefix.byteOffset, prefix.byteLength).setUint32(4, crc, true);
}

const enc = new TextEncoder();

/**
 * One framed record as parts to write in order: a small prefix (length, checksum, head) and the
 * payload's own parts, not copied — a ring record's header and body go to disk as they are.
 * `checksum` is the body's: the prefix holds it, and a store writing a version 2 file replaces it
 * with `withSegment(checksum, seq)` once it knows the segment.
 */
export function encodeFrame(
  head: unknown,
  payload: Uint8Array | readonly Uint8Array[],
  fmt?: { checksum?: Checksum },
): { parts: Uint8Array[]; length: number; checksum: number } {
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
  return { parts: [prefix, ...parts], length: RECORD_OVERHEAD + bodyLen, checksum: c };
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
  /**
   * What lies past validEnd, if anything. `stale`: a version 2 file's bytes after its last record
   * that verifies — left from the file's earlier life, or a torn write over them; never data.
   */
  tail: 'none' | 'torn' | 'unframeable' | 'stale';
  /** The file's version (0: no header). In a version 2 file checksums cover the segment's seq. */
  version: 0 | 1 | 2;
}

/**
 * Read every record of a segment's bytes (file header included); `seq` is the segment's sequence
 * number (from its file name), which a version 2 file's checksums cover.
 */
export function scanSegment<H>(b: Uint8Array, fmt: SegmentFormat<H>, seq = 0): ScanResult<H> {
  const records: ScannedRecord<H>[] = [];
  const corrupt: ScanResult<H>['corrupt'] = [];
  const version = fileVersion(b, fmt);
  if (version === 0) {
    // A crash right after creating the file leaves it short of a header: nothing in it yet.
    const torn =
      b.length < FILE_HEADER_BYTES &&
      fmt.magic.subarray(0, Math.min(b.length, fmt.magic.length)).every((x, i) => b[i] === x);
    return {
      records,
      corrupt,
      validEnd: 0,
      tail: b.length === 0 ? 'none' : torn ? 'torn' : 'unframeable',
      version,
    };
  }
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const crcOf = (body: Uint8Array) =>
    version === 2 ? withSegment(checksumOf(fmt)(body), seq, fmt) : checksumOf(fmt)(body);
  // A reused file: whatever follows the last record that verifies is stale (its earlier life, or
  // a torn write over it), not corruption — a bad record counts as corrupt only before a good one.
  let lastGood = FILE_HEADER_BYTES;
  const end = (validEnd: number, tail: ScanResult<H>['tail']): ScanResult<H> =>
    version === 2 && (validEnd > lastGood || tail !== 'none')
      ? {
          records,
          corrupt: corrupt.filter((c) => c.offset < lastGood),
          validEnd: lastGood,
          tail: lastGood < b.length ? 'stale' : 'none',
          version,
        }
      : { records, corrupt, validEnd, tail, version };
  let off = FILE_HEADER_BYTES;
  while (off < b.length) {
    if (b.length - off < RECORD_OVERHEAD) return end(off, 'torn');
    const bodyLen = dv.getUint32(off, true);
    if (bodyLen < 4 || bodyLen > MAX_BODY_BYTES) return end(off, 'unframeable');
    const recEnd = off + RECORD_OVERHEAD + bodyLen;
    if (recEnd > b.length) return end(off, 'torn');
    const body = b.subarray(off + RECORD_OVERHEAD, recEnd);
    const length = RECORD_OVERHEAD + bodyLen;
    if (crcOf(body) !== dv.getUint32(off + 4, true)) {
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
      if (fmt.isHead(head)) {
        records.push({ offset: off, length, head });
        lastGood = recEnd;
      } else corrupt.push({ offset: off, length, reason: 'unreadable record head' });
    }
    off = recEnd;
  }
  return end(off, 'none');
}

/**
 * What is wrong with one whole record read back from disk (its length field, its CRC32C), or
 * undefined when it is intact. Recovery checks every record at start-up; this is the same check
 * for a record read later, which the disk may have damaged since.
 */
export function recordProblem(
  record: Uint8Array,
  fmt?: { checksum?: Checksum },
  /** The segment's seq when its file is version 2 (its checksums cover it). */
  seq?: number,
): string | undefined {
  if (record.length < RECORD_OVERHEAD + 4) return 'cut short';
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (dv.getUint32(0, true) !== record.length - RECORD_OVERHEAD) return 'length field mismatch';
  const c = checksumOf(fmt)(record.subarray(RECORD_OVERHEAD));
  if ((seq === undefined ? c : withSegment(c, seq, fmt)) !== dv.getUint32(4, true))
    return 'checksum mismatch';
  return undefined;
}

/** The payload of a record read back from disk (the bytes of one whole record). */
export function payloadOf(record: Uint8Array): Uint8Array {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const headLen = dv.getUint32(RECORD_OVERHEAD, true);
  return record.subarray(RECORD_OVERHEAD + 4 + headLen);
}
