import { magicOf, type SegmentFormat } from '../segments/frame.js';
import { crc32 } from '../codecs/crc32.js';
import type { StoreKind } from '../segments/store.js';
import { WalCorruptRecordError, WalFullError } from './errors.js';

/**
 * A write-ahead-log record in the shared segment format (`src/segments/frame.ts`, magic
 * "FERRYWAL"): the payload is the ring record a source dispatched — header, source name, body as
 * received — so a replay re-dispatches exactly what the workers saw. The head is kept tiny (it is
 * written for every durable request): the format version only. The checksum is CRC-32 (native
 * zlib, `src/codecs/crc32.ts`) rather than the DLQ's CRC32C: every durable request's bytes are
 * checksummed on the main thread, and the native one is ~4× cheaper.
 */
export interface WalHead {
  v: 1;
}

export const WAL_HEAD: WalHead = { v: 1 };

export const WAL_FORMAT: SegmentFormat<WalHead> = {
  magic: magicOf('FERRYWAL'),
  checksum: crc32,
  // Finished segments are reused (two spares): the log writes ~370 B per event, and overwriting
  // a file's blocks spares the kernel a block allocation and a journaled size change per fsync.
  reusesFiles: true,
  isHead: (h): h is WalHead => typeof h === 'object' && h !== null && (h as WalHead).v === 1,
};

const FILE_RE = /^wal-(\d{16})\.fwl$/;

export const WAL_KIND: StoreKind<WalHead> = {
  label: 'WAL',
  saveFailed: 'write-ahead log save failed',
  fullMessage: (_name, detail) => `the write-ahead log is full (${detail})`,
  format: WAL_FORMAT,
  fileName: (seq) => `wal-${String(seq).padStart(16, '0')}.fwl`,
  filePattern: FILE_RE,
  // Unknown until a worker parses it; the log counts records, not events.
  eventsOf: () => 0,
  fullError: (_name, reason, message) => new WalFullError(reason, message),
  corruptError: (file, offset, reason) => new WalCorruptRecordError(file, offset, reason),
};
