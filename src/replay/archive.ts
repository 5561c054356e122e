import { ListObjectsV2Command, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { keyMatcher } from '../sinks/keys.js';
import { decompress, type Codec } from '../codecs/index.js';

/** `s3://bucket/prefix` → parts. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/.exec(url);
  if (!m) throw new Error(`--from must look like s3://bucket/prefix, got "${url}"`);
  return { bucket: m[1], prefix: m[2] };
}

/** A time given as ISO 8601 (`2026-11-23T07:00:00Z`, `2026-11-23T07`, `2026-11-23`) → ms; UTC unless it says otherwise. */
export function parseTime(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  let v = value.trim();
  if (/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(v)) v += ':00';
  if (/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$/.test(v))
    v += v.includes('T') ? 'Z' : 'T00:00:00Z';
  const t = Date.parse(v);
  if (!Number.isFinite(t))
    throw new Error(`${flag}: "${value}" is not a time (use ISO 8601, e.g. 2026-11-23T07:00Z)`);
  return t;
}

export interface ArchiveObject {
  key: string;
  size: number;
  codec: Codec;
  /** Start of the object's hour (or day), from its key. */
  periodStart?: number;
}

export interface Listing {
  objects: ArchiveObject[];
  /** Keys under the prefix that this template did not make (reported, never touched). */
  foreign: string[];
}

/**
 * The archive objects under prefix whose key period overlaps [since, until). Keys are matched
 * against the S3 sink's key template; objects are returned in key order (the replay order).
 */
export async function listArchive(
  s3: S3Client,
  bucket: string,
  prefix: string,
  template: string,
  since?: number,
  until?: number,
): Promise<Listing> {
  const match = keyMatcher(template);
  const objects: ArchiveObject[] = [];
  const foreign: string[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const o of page.Contents ?? []) {
      const key = o.Key!;
      const facts = match(key);
      if (!facts?.codec) {
        foreign.push(key);
        continue;
      }
      if (facts.periodStart !== undefined) {
        const span = facts.granularity === 'day' ? 86_400_000 : 3_600_000;
        if (since !== undefined && facts.periodStart + span <= since) continue;
        if (until !== undefined && facts.periodStart >= until) continue;
      }
      objects.push({ key, size: o.Size ?? 0, codec: facts.codec, periodStart: facts.periodStart });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  objects.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return { objects, foreign };
}

/** Fetch and decompress one object (bounded: maxBytes of NDJSON at most). Throws on a corrupt body. */
export async function readArchiveObject(
  s3: S3Client,
  bucket: string,
  o: ArchiveObject,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<string> {
  const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: o.key }), {
    abortSignal: signal,
  });
  const body = await got.Body!.transformToByteArray();
  const raw = o.codec === 'none' ? body : decompress(o.codec, body, maxBytes);
  return new TextDecoder('utf-8', { fatal: true }).decode(raw);
}
