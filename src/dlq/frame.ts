import type { Codec, RowSection } from '../contracts/batch.js';
import * as seg from '../segments/frame.js';

/**
 * The DLQ's segments (docs/dlq.md) in the shared segment format (`src/segments/frame.ts`):
 * magic "FERRYDLQ"; the head says which batch part the payload is and where it goes; the payload is
 * the batch part exactly as the sink takes it (archive objects for S3/directory, JSONEachRow rows
 * for ClickHouse, with their per-table sections in the head when routed).
 */
export const MAGIC = seg.magicOf('FERRYDLQ');
export {
  FILE_HEADER_BYTES,
  RECORD_OVERHEAD,
  MAX_BODY_BYTES,
  encodeRecord,
  recordProblem,
  payloadOf,
  type ScannedRecord as ScannedSegmentRecord,
} from '../segments/frame.js';

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
  /**
   * ClickHouse routing: the payload's per-table sections (src/sinks/clickhouse/sections.ts), so a
   * replay inserts into the tables the workers chose. Absent (and in records written before
   * routing existed): the payload is the rows of the sink's one table.
   */
  sections?: RowSection[];
}

export const DLQ_FORMAT: seg.SegmentFormat<RecordHead> = {
  magic: MAGIC,
  isHead: (h): h is RecordHead =>
    typeof h === 'object' &&
    h !== null &&
    typeof (h as RecordHead).batch === 'string' &&
    typeof (h as RecordHead).events === 'number',
};

export type ScannedRecord = seg.ScannedRecord<RecordHead>;
export type ScanResult = seg.ScanResult<RecordHead>;

export const fileHeader = (): Uint8Array => seg.fileHeader(DLQ_FORMAT);
export const isFileHeader = (b: Uint8Array): boolean => seg.isFileHeader(b, DLQ_FORMAT);
/** Read every record of a DLQ segment's bytes (file header included). */
export const scanSegment = (b: Uint8Array): ScanResult => seg.scanSegment(b, DLQ_FORMAT);
