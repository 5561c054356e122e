import { open, readFile, unlink } from 'node:fs/promises';
import type { Logger } from '../observe/log.js';
import { scanSegment } from './frame.js';
import { quarantineBytes } from './quarantine.js';
import { syncDir } from '../fs/durable.js';
import { listSegmentFiles, type Segment, type StoreKind } from './store.js';

export interface RecoveryReport<H> {
  segments: Segment<H>[];
  records: number;
  corrupt: number;
  /** Bytes cut off torn tails. */
  truncatedBytes: number;
}

/**
 * Startup scan of one store's directory, before ferry reports ready: every segment is read whole;
 * a torn tail (a record cut short by a crash) is truncated away and synced; a corrupt record (bad
 * checksum or head) is copied to `quarantine/` for inspection, counted and logged at error level,
 * and skipped; unframeable garbage after valid records is quarantined and cut. What remains is
 * returned for the store to adopt. `createdAt` dates a segment from its records (for a TTL).
 */
export async function recoverSegments<H>(
  name: string,
  dir: string,
  kind: StoreKind<H>,
  log: Logger,
  createdAt: (heads: H[], mtimeMs: number) => number = (_h, m) => m,
): Promise<RecoveryReport<H>> {
  const report: RecoveryReport<H> = { segments: [], records: 0, corrupt: 0, truncatedBytes: 0 };
  for (const f of await listSegmentFiles(dir, kind.filePattern)) {
    const bytes = new Uint8Array(await readFile(f.path));
    const scan = scanSegment(bytes, kind.format, f.seq);
    const quarantine = async (from: number, to: number, why: string) => {
      // Durable before the segment is cut: the bad bytes stay for inspection whatever happens next.
      const q = await quarantineBytes(dir, f.path, from, bytes.subarray(from, to));
      report.corrupt++;
      log.error(
        { store: name, file: f.path, offset: from, bytes: to - from, reason: why, quarantined: q },
        `${kind.label} corrupt record quarantined`,
      );
    };
    for (const c of scan.corrupt) await quarantine(c.offset, c.offset + c.length, c.reason);
    if (scan.tail === 'unframeable')
      await quarantine(scan.validEnd, bytes.length, 'unframeable bytes');
    if (scan.validEnd < bytes.length) {
      report.truncatedBytes += bytes.length - scan.validEnd;
      if (scan.tail === 'stale')
        log.debug(
          { store: name, file: f.path, offset: scan.validEnd, bytes: bytes.length - scan.validEnd },
          `${kind.label}: bytes past the last record of a reused segment file cut (its earlier use, or a write a crash cut short)`,
        );
      if (scan.tail === 'torn')
        log.warn(
          { store: name, file: f.path, offset: scan.validEnd, bytes: bytes.length - scan.validEnd },
          `${kind.label} torn tail truncated (a write cut short by a crash; it was never acknowledged)`,
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
      // Nothing left in it (empty, or only corrupt records, now quarantined).
      await unlink(f.path);
      await syncDir(dir);
      continue;
    }
    const seg: Segment<H> = {
      seq: f.seq,
      path: f.path,
      bytes: scan.validEnd,
      records: [],
      live: 0,
      seqInChecksum: scan.version === 2,
      createdAt: createdAt(
        scan.records.map((r) => r.head),
        f.mtimeMs,
      ),
    };
    for (const r of scan.records) {
      seg.records.push({
        segment: seg,
        offset: r.offset,
        length: r.length,
        head: r.head,
        done: false,
      });
      seg.live++;
      report.records++;
    }
    report.segments.push(seg);
  }
  return report;
}
