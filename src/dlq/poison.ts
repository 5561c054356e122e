import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { partOf, type Codec, type EncodedBatch, type RowSection } from '../contracts/batch.js';
import { ARCHIVE_EXTENSIONS } from '../sinks/keys.js';
import { atomicWrite, syncDir } from '../fs/durable.js';
import type { PoisonRow } from '../contracts/sink.js';

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
  /** ClickHouse routing: the payload's per-table sections (as in a DLQ record's head). */
  sections?: RowSection[];
}

/**
 * Batches a sink refused for good (4xx other than 408/429): kept in `<dlq>/<sink>/poison/` as
 * the payload file and a `.json` with the sink's answer, written durably; never retried by ferry
 * (`ferry dlq replay --poison` after a fix).
 */
export async function savePoison(
  dir: string,
  batch: EncodedBatch,
  part: 'archive' | 'rows',
  meta: Omit<PoisonMeta, 'batch' | 'events' | 'part' | 'codec' | 'created_at' | 'poisoned_at'>,
): Promise<string> {
  const p = partOf(batch, part);
  const base = join(dir, `${batch.id}-${part}`);
  const full: PoisonMeta = {
    ...meta,
    batch: batch.id,
    events: batch.events,
    part,
    codec: p.codec,
    created_at: batch.createdAt,
    poisoned_at: new Date().toISOString(),
    ...(p.sections ? { sections: p.sections } : {}),
  };
  // The payload first: a .json (what listPoison finds) never points at a missing payload.
  await atomicWrite(payloadPath(base, part, p.codec), p.body);
  await atomicWrite(`${base}.json`, JSON.stringify(full, null, 2) + '\n');
  return base;
}

/**
 * Rows a sink left out of a batch it delivered (ClickHouse columns mode): one JSON object per row
 * (`event_id`, `column`, `reason`, `event` or `row`, plus `batch`, `sink`, `poisoned_at`) in
 * `<poison>/rows/<batch>.jsonl`, written durably. Kept apart from the batch entries (`ferry dlq
 * replay --poison` re-sends whole batches; these rows need a fix to the table or the data first).
 */
export async function savePoisonRows(
  dir: string,
  batch: EncodedBatch,
  sink: string,
  rows: readonly PoisonRow[],
): Promise<string> {
  const at = new Date().toISOString();
  const path = join(dir, 'rows', `${batch.id}.jsonl`);
  await mkdir(dirname(path), { recursive: true });
  const text = rows
    .map((r) => JSON.stringify({ batch: batch.id, sink, poisoned_at: at, ...r }))
    .join('\n');
  await atomicWrite(path, Buffer.from(`${text}\n`));
  return path;
}

function payloadPath(base: string, part: 'archive' | 'rows', codec: string): string {
  return `${base}${part === 'rows' ? (codec === 'gzip' ? '.jsonl.gz' : '.jsonl') : ARCHIVE_EXTENSIONS[codec as keyof typeof ARCHIVE_EXTENSIONS]}`;
}

export interface PoisonEntry {
  meta: PoisonMeta;
  /** The .json file and the payload file. */
  metaPath: string;
  payloadPath: string;
}

/** Read one poison entry's metadata by the name of its .json file. */
export async function readPoison(dir: string, jsonName: string): Promise<PoisonEntry> {
  const metaPath = join(dir, jsonName);
  const meta = JSON.parse(await readFile(metaPath, 'utf8')) as PoisonMeta;
  return {
    meta,
    metaPath,
    payloadPath: payloadPath(metaPath.slice(0, -'.json'.length), meta.part, meta.codec),
  };
}

/** The batch a poison entry holds, rebuilt for the same sink (same id and createdAt: same S3 key). */
export async function poisonBatch(e: PoisonEntry): Promise<EncodedBatch> {
  const body = new Uint8Array(await readFile(e.payloadPath));
  const part = {
    body,
    codec: e.meta.codec as Codec,
    rawBytes: 0,
    ...(e.meta.sections ? { sections: e.meta.sections } : {}),
  };
  const empty = { body: new Uint8Array(0), codec: 'none' as const, rawBytes: 0 };
  return e.meta.part === 'rows'
    ? {
        id: e.meta.batch,
        createdAt: e.meta.created_at,
        events: e.meta.events,
        archive: empty,
        rows: part,
      }
    : { id: e.meta.batch, createdAt: e.meta.created_at, events: e.meta.events, archive: part };
}

/** Remove a poison entry (after it was shipped, or purged): payload first, the .json last. */
export async function removePoison(e: PoisonEntry): Promise<void> {
  await rm(e.payloadPath, { force: true });
  await rm(e.metaPath, { force: true });
  await syncDir(dirname(e.metaPath));
}

export async function listPoison(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => n.endsWith('.json')).sort();
  } catch {
    return [];
  }
}
