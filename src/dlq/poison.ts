import { mkdir, open, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { EncodedBatch } from '../pipeline/batch.js';
import { ARCHIVE_EXTENSIONS } from '../sinks/keys.js';
import { syncDir } from './fsync.js';

export interface PoisonMeta {
  batch: string;
  sink: string;
  events: number;
  part: 'archive' | 'rows';
  codec: string;
  created_at: number;
  poisoned_at: string;
  status?: number;
  error_class: string;
  /** The sink's answer (e.g. ClickHouse's exception text), kept for the operator. */
  error: string;
}

/**
 * Batches a sink refused for good (4xx other than 408/429): kept in `<dlq>/<sink>/poison/` as
 * the payload file and a `.json` with the sink's answer, written durably; never retried by ferry
 * (`ferry dlq replay --poison` after a fix).
 */
export async function savePoison(dir: string, batch: EncodedBatch, part: 'archive' | 'rows', meta: Omit<PoisonMeta, 'batch' | 'events' | 'part' | 'codec' | 'created_at' | 'poisoned_at'>): Promise<string> {
  const p = part === 'rows' ? batch.rows! : batch.archive;
  await mkdir(dir, { recursive: true });
  const base = join(dir, `${batch.id}-${part}`);
  const full: PoisonMeta = { ...meta, batch: batch.id, events: batch.events, part, codec: p.codec, created_at: batch.createdAt, poisoned_at: new Date().toISOString() };
  await writeDurably(`${base}${part === 'rows' ? (p.codec === 'gzip' ? '.jsonl.gz' : '.jsonl') : ARCHIVE_EXTENSIONS[p.codec]}`, p.body);
  await writeDurably(`${base}.json`, new TextEncoder().encode(JSON.stringify(full, null, 2) + '\n'));
  await syncDir(dir);
  return base;
}

async function writeDurably(path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
}

export async function listPoison(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
}
