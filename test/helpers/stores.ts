import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { rig } from '../setup/rig.js';
import { decodeObject, linesOf, type Envelope } from './archive.js';

/** Read-back helpers for what ferry stored in the rig's MinIO and ClickHouse. */
export const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});

/** ferry's S3 sink config for the rig's MinIO, objects under `keyTemplate`. */
export function s3SinkConfig(keyTemplate: string, name = 'archive'): Record<string, unknown> {
  return {
    name,
    type: 's3',
    bucket: rig.s3.bucket,
    endpoint: rig.s3.endpoint,
    region: rig.s3.region,
    force_path_style: true,
    access_key_id: rig.s3.accessKeyId,
    secret_access_key: rig.s3.secretAccessKey,
    key_template: keyTemplate,
  };
}

/**
 * Every archived line under `prefix/` (each object decoded by its extension, both archive
 * formats as envelopes), parsed, in listing order.
 */
export async function s3Archived<T = Envelope>(prefix: string): Promise<T[]> {
  const out: T[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: rig.s3.bucket,
        Prefix: `${prefix}/`,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: o.Key! }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      for (const l of linesOf(decodeObject(o.Key!, body))) out.push(JSON.parse(l) as T);
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

/** event_id → how many times it is stored under the prefix. */
export async function s3EventCounts(prefix: string): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const e of await s3Archived(prefix)) out.set(e.event_id, (out.get(e.event_id) ?? 0) + 1);
  return out;
}

export function clickhouse(): ClickHouseClient {
  return createClient({ url: rig.clickhouse.url });
}

/** Distinct event_ids in a table (FINAL), optionally only those with a prefix. */
export async function clickhouseIds(
  ch: ClickHouseClient,
  table: string,
  prefix = '',
): Promise<Set<string>> {
  const rs = await ch.query({
    query: `SELECT DISTINCT event_id FROM ${table} FINAL WHERE startsWith(event_id, ${quote(prefix)})`,
    format: 'JSONEachRow',
  });
  return new Set((await rs.json<{ event_id: string }>()).map((r) => r.event_id));
}

/** Rows (not deduplicated) in a table with that prefix: duplicates show as count > distinct. */
export async function clickhouseRows(
  ch: ClickHouseClient,
  table: string,
  prefix = '',
): Promise<number> {
  const rs = await ch.query({
    query: `SELECT count() AS c FROM ${table} WHERE startsWith(event_id, ${quote(prefix)})`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ c: string }>())[0].c);
}

// The rig's ClickHouse predates query parameters: quote by hand.
const quote = (s: string) => `'${s.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`;

export async function until<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 60_000,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
