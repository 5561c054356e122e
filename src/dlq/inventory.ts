import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanSegment, type RecordHead } from './frame.js';
import { listPoison, readPoison, type PoisonEntry } from './poison.js';
import { listSegments } from './segment-store.js';
import { errnoCode } from '../util/errors.js';

export interface SegmentInfo {
  file: string;
  path: string;
  bytes: number;
  records: { offset: number; length: number; head: RecordHead }[];
  corrupt: number;
  /** Bytes past the last whole record (a torn tail the next start cuts). */
  tailBytes: number;
}

export interface SinkInventory {
  sink: string;
  dir: string;
  segments: SegmentInfo[];
  poison: PoisonEntry[];
  quarantined: string[];
}

/** A read-only look at the DLQ on disk (nothing is truncated or moved: that is recovery's job). */
export async function dlqInventory(root: string, onlySink?: string): Promise<SinkInventory[]> {
  let names: string[];
  try {
    names = (await readdir(root, { withFileTypes: true }))
      .filter((d) => d.isDirectory())
      .map((d) => d.name)
      .sort();
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: SinkInventory[] = [];
  for (const sink of names) {
    if (onlySink && sink !== onlySink) continue;
    const dir = join(root, sink);
    const segments: SegmentInfo[] = [];
    for (const f of await listSegments(dir)) {
      const bytes = new Uint8Array(await readFile(f.path));
      const scan = scanSegment(bytes);
      segments.push({
        file: f.path.slice(dir.length + 1),
        path: f.path,
        bytes: bytes.length,
        records: scan.records,
        corrupt: scan.corrupt.length,
        tailBytes: bytes.length - scan.validEnd,
      });
    }
    const poisonDir = join(dir, 'poison');
    const poison = await Promise.all(
      (await listPoison(poisonDir)).map((n) => readPoison(poisonDir, n)),
    );
    const quarantined = await readdir(join(dir, 'quarantine')).catch(() => [] as string[]);
    out.push({ sink, dir, segments, poison, quarantined });
  }
  return out;
}

export function parseAge(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h|d)$/.exec(s.trim());
  if (!m) throw new Error(`"${s}" is not a duration: use e.g. 30m, 12h, 7d`);
  return Number(m[1]) * { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 }[m[2] as 's' | 'm' | 'h' | 'd'];
}
