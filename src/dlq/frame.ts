import { crc32c } from './crc32c.js';
import type { Codec } from '../contracts/batch.js';

/**
 * The on-disk format of a DLQ segment (docs/dlq.md):
 *
 *   file   = "FERRYDLQ" u32le(version 1) record*
 *   record = u32le(bodyLength) u32le(crc32c(body)) body
 *   body   = u32le(headLength) head(JSON, UTF-8) payload
 *
 * The head says what the payload is and where it goes; the payload is the batch part exactly as
 * the sink takes it (archive objects for S3/directory, JSONEachRow rows for ClickHouse).
 */
export const MAGIC = new TextEncoder().encode('FERRYDLQ');
export const FILE_HEADER_BYTES = 12;
export const RECORD_OVERHEAD = 8;
/** A body longer than this is not something ferry wrote: the framing is broken from there. */
export const MAX_BODY_BYTES = 512 * 1024 * 1024;

export interface RecordHead {
  batch: string;
  sink: string;
  events: number;
  /** Which part of the batch the payload is. */
  part: 'archive' | 'rows';
  codec: Codec;
  raw_bytes: number;
  created_at: number;
  /** Delivery attempts before it was spooled. */
  attempts: number;
  error_class: string;
  spooled_at: number;
}

export function fileHeader(): Uint8Array {
  const h = new Uint8Array(FILE_HEADER_BYTES);
  h.set(MAGIC, 0);
  new DataView(h.buffer).setUint32(8, 1, true);
  return h;
}

export function isFileHeader(b: Uint8Array): boolean {
  if (b.length < FILE_HEADER_BYTES) return false;
  for (let i = 0; i < MAGIC.length; i++) if (b[i] !== MAGIC[i]) return false;
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(8, true) === 1;
}

export function encodeRecord(head: RecordHead, payload: Uint8Array): Uint8Array {
  const headBytes = new TextEncoder().encode(JSON.stringify(head));
  const bodyLen = 4 + headBytes.length + payload.length;
  const out = new Uint8Array(RECORD_OVERHEAD + bodyLen);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, bodyLen, true);
  dv.setUint32(8, headBytes.length, true);
  out.set(headBytes, 12);
  out.set(payload, 12 + headBytes.length);
  dv.setUint32(4, crc32c(out.subarray(RECORD_OVERHEAD)), true);
  return out;
}

export interface ScannedRecord {
  /** Offset of the record (its length field) in the file. */
  offset: number;
  /** Whole record length, overhead included. */
  length: number;
  head: RecordHead;
}

export interface ScanResult {
  records: ScannedRecord[];
  /** Records whose checksum or head is bad: [offset, length) each, skipped. */
  corrupt: { offset: number; length: number; reason: string }[];
  /** Where the valid data ends: past it is a torn tail (or unframeable garbage) to cut off. */
  validEnd: number;
  /** What lies past validEnd, if anything. */
  tail: 'none' | 'torn' | 'unframeable';
}

/** Read every record of a segment's bytes (file header included). */
export function scanSegment(b: Uint8Array): ScanResult {
  const records: ScannedRecord[] = [];
  const corrupt: ScanResult['corrupt'] = [];
  if (!isFileHeader(b)) {
    // A crash right after creating the file leaves it short of a header: nothing in it yet.
    const torn =
      b.length < FILE_HEADER_BYTES &&
      MAGIC.subarray(0, Math.min(b.length, MAGIC.length)).every((x, i) => b[i] === x);
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
    if (crc32c(body) !== dv.getUint32(off + 4, true)) {
      corrupt.push({ offset: off, length, reason: 'checksum mismatch' });
    } else {
      const headLen = dv.getUint32(off + RECORD_OVERHEAD, true);
      let head: RecordHead | undefined;
      if (headLen <= bodyLen - 4) {
        try {
          head = JSON.parse(new TextDecoder().decode(body.subarray(4, 4 + headLen))) as RecordHead;
        } catch {
          head = undefined;
        }
      }
      if (head && typeof head.batch === 'string' && typeof head.events === 'number')
        records.push({ offset: off, length, head });
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
export function recordProblem(record: Uint8Array): string | undefined {
  if (record.length < RECORD_OVERHEAD + 4) return 'cut short';
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  if (dv.getUint32(0, true) !== record.length - RECORD_OVERHEAD) return 'length field mismatch';
  if (crc32c(record.subarray(RECORD_OVERHEAD)) !== dv.getUint32(4, true))
    return 'checksum mismatch';
  return undefined;
}

/** The payload of a record read back from disk (the bytes of one whole record). */
export function payloadOf(record: Uint8Array): Uint8Array {
  const dv = new DataView(record.buffer, record.byteOffset, record.byteLength);
  const headLen = dv.getUint32(RECORD_OVERHEAD, true);
  return record.subarray(RECORD_OVERHEAD + 4 + headLen);
}
