import type { Logger } from '../observe/log.js';
import { DLQ_FORMAT, type RecordHead } from './frame.js';
import { DlqCorruptRecordError, DlqFullError } from './errors.js';
import * as store from '../segments/store.js';

export type { StoreLimits, StoreEvents } from '../segments/store.js';
export type StoredRecord = store.StoredRecord<RecordHead>;
export type Segment = store.Segment<RecordHead>;

const SEGMENT_RE = /^seg-(\d{16})\.fdq$/;
export const segmentName = (seq: number) => `seg-${String(seq).padStart(16, '0')}.fdq`;

/** What makes the shared segment store (`src/segments/store.ts`) a DLQ: its files, format and errors. */
export const DLQ_KIND: store.StoreKind<RecordHead> = {
  label: 'DLQ',
  saveFailed: 'local DLQ save failed',
  fullMessage: (sink, detail) => `DLQ of sink ${sink} is full (${detail})`,
  format: DLQ_FORMAT,
  fileName: segmentName,
  filePattern: SEGMENT_RE,
  eventsOf: (h) => h.events,
  fullError: (sink, reason, message) => new DlqFullError(sink, reason, message),
  corruptError: (file, offset, reason) => new DlqCorruptRecordError(file, offset, reason),
};

/**
 * One sink's DLQ: the shared segment store with the DLQ's files and errors. Appends that arrive
 * together share one fdatasync (group commit); a segment file is removed once every record in it
 * is re-uploaded (or dropped by policy).
 */
export class SegmentStore extends store.SegmentStore<RecordHead> {
  constructor(
    readonly sink: string,
    dir: string,
    limits: store.StoreLimits,
    log: Logger,
    events: store.StoreEvents,
  ) {
    super(sink, dir, limits, log, events, DLQ_KIND);
  }
}

/** Segment files in dir with their sequence numbers, oldest first. */
export function listSegments(dir: string): ReturnType<typeof store.listSegmentFiles> {
  return store.listSegmentFiles(dir, SEGMENT_RE);
}
