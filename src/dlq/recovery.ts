import type { Logger } from '../observe/log.js';
import { recoverSegments } from '../segments/recovery.js';
import type { RecordHead } from './frame.js';
import { DLQ_KIND, type Segment } from './segment-store.js';

export interface RecoveryReport {
  segments: Segment[];
  records: number;
  events: number;
  corrupt: number;
  /** Bytes cut off torn tails. */
  truncatedBytes: number;
}

/**
 * Startup scan of one sink's DLQ directory, before ferry reports ready (the shared segment
 * recovery, `src/segments/recovery.ts`: torn tails cut, corrupt records quarantined). What remains
 * is adopted by the store for re-upload.
 */
export async function recoverSink(sink: string, dir: string, log: Logger): Promise<RecoveryReport> {
  const rec = await recoverSegments<RecordHead>(sink, dir, DLQ_KIND, log, (heads, mtimeMs) =>
    // Age (for the TTL) is that of its oldest record, not the file's last write.
    Math.min(...heads.map((h) => (Number.isFinite(h.spooled_at) ? h.spooled_at : mtimeMs))),
  );
  const events = rec.segments.reduce(
    (n, s) => n + s.records.reduce((m, r) => m + r.head.events, 0),
    0,
  );
  return { ...rec, events };
}
