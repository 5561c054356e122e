import { open, readFile, unlink } from 'node:fs/promises';
import type { Logger } from '../observe/log.js';
import { scanSegment } from './frame.js';
import { quarantineBytes } from './quarantine.js';
import { syncDir } from '../fs/durable.js';
import { listSegments, type Segment } from './segment-store.js';

export interface RecoveryReport {
  segments: Segment[];
  records: number;
  events: number;
  corrupt: number;
  /** Bytes cut off torn tails. */
  truncatedBytes: number;
}

/**
 * Startup scan of one sink's DLQ directory, before ferry reports ready: every segment is read
 * whole; a torn tail (a record cut short by a crash) is truncated away and synced; a corrupt
 * record (bad checksum or head) is copied to `quarantine/` for inspection, counted and logged at
 * error level, and skipped; unframeable garbage after valid records is quarantined and cut. What
 * remains is adopted by the store for re-upload.
 */
export async function recoverSink(sink: string, dir: string, log: Logger): Promise<RecoveryReport> {
  const report: RecoveryReport = {
    segments: [],
    records: 0,
    events: 0,
    corrupt: 0,
    truncatedBytes: 0,
  };
  for (const f of await listSegments(dir)) {
    const bytes = new Uint8Array(await readFile(f.path));
    const scan = scanSegment(bytes);
    const quarantine = async (from: number, to: number, why: string) => {
      // Durable before the segment is cut: the bad bytes stay for inspection whatever happens next.
      const name = await quarantineBytes(dir, f.path, from, bytes.subarray(from, to));
      report.corrupt++;
      log.error(
        { sink, file: f.path, offset: from, bytes: to - from, reason: why, quarantined: name },
        'DLQ corrupt record quarantined',
      );
    };
    for (const c of scan.corrupt) await quarantine(c.offset, c.offset + c.length, c.reason);
    if (scan.tail === 'unframeable')
      await quarantine(scan.validEnd, bytes.length, 'unframeable bytes');
    if (scan.validEnd < bytes.length) {
      report.truncatedBytes += bytes.length - scan.validEnd;
      if (scan.tail === 'torn')
        log.warn(
          { sink, file: f.path, offset: scan.validEnd, bytes: bytes.length - scan.validEnd },
          'DLQ torn tail truncated (a write cut short by a crash; it was never acknowledged)',
        );
      if (scan.validEnd === 0) {
        await unlink(f.path);
        await syncDir(dir);
        continue;
      }
      const fh = await open(f.path, 'r+');
      try {
        await fh.truncate(scan.validEnd);
        await fh.sync();
      } finally {
        await fh.close();
      }
    }
    if (scan.records.length === 0) {
      // Nothing left to re-upload in it (empty, or only corrupt records, now quarantined).
      await unlink(f.path);
      await syncDir(dir);
      continue;
    }
    // Age (for the TTL) is that of its oldest record, not the file's last write.
    const oldest = Math.min(
      ...scan.records.map((r) =>
        Number.isFinite(r.head.spooled_at) ? r.head.spooled_at : f.mtimeMs,
      ),
    );
    const seg: Segment = {
      seq: f.seq,
      path: f.path,
      bytes: scan.validEnd,
      records: [],
      createdAt: oldest,
    };
    for (const r of scan.records) {
      seg.records.push({
        segment: seg,
        offset: r.offset,
        length: r.length,
        head: r.head,
        done: false,
      });
      report.records++;
      report.events += r.head.events;
    }
    report.segments.push(seg);
  }
  return report;
}
