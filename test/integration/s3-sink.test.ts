import { describe, it, expect, afterAll } from 'vitest';
import { gzipSync, gunzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import {
  S3Client,
  GetObjectCommand,
  ListObjectsV2Command,
  DeleteObjectsCommand,
} from '@aws-sdk/client-s3';
import { rig, stopService, startService } from '../setup/rig.js';
import { S3Sink } from '../../src/sinks/s3.js';
import { deliver } from '../../src/sinks/retry.js';
import type { Codec, EncodedBatch } from '../../src/contracts/batch.js';
import { SinkError } from '../../src/sinks/errors.js';
import type { S3SinkConfig } from '../../src/config/types.js';

// Every object of this file lives under its own prefix, so runs and files never collide.
const prefix = `it-s3-${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
const cfg = (over: Partial<S3SinkConfig> = {}): S3SinkConfig => ({
  type: 's3',
  name: 'archive',
  bucket: rig.s3.bucket,
  region: rig.s3.region,
  endpoint: rig.s3.endpoint,
  force_path_style: true,
  access_key_id: rig.s3.accessKeyId,
  secret_access_key: rig.s3.secretAccessKey,
  key_template: `${prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`,
  multipart_threshold_bytes: 16 * 1024 * 1024,
  ...over,
});
const createdAt = Date.UTC(2026, 10, 23, 7, 5);
const batch = (id: string, body: Uint8Array, codec: Codec = 'gzip', events = 2): EncodedBatch => ({
  id,
  createdAt,
  events,
  archive: { body, codec, rawBytes: body.length },
});
const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});
const getBytes = async (Key: string) => {
  const o = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key }));
  return { obj: o, bytes: Buffer.from(await o.Body!.transformToByteArray()) };
};
const listKeys = async (p: string) =>
  ((await s3.send(new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: p }))).Contents ?? [])
    .map((c) => c.Key!)
    .sort();

afterAll(async () => {
  const keys = await listKeys(`${prefix}/`).catch(() => []);
  if (keys.length)
    await s3
      .send(
        new DeleteObjectsCommand({
          Bucket: rig.s3.bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })) },
        }),
      )
      .catch(() => {});
  s3.destroy();
});

describe('S3 sink against MinIO', () => {
  it('puts the batch at its rendered key, byte-identical, with content type, encoding, length and metadata', async () => {
    const sink = new S3Sink(cfg(), 'edge-1');
    const ndjson =
      '{"event_id":"a","received_at":"2026-11-23T07:05:00.000Z","source":"http","payload":"{}"}\n'.repeat(
        2,
      );
    const body = gzipSync(ndjson);
    const r = await sink.write(batch('b0001', body));
    const key = `${prefix}/dt=2026-11-23/hour=07/edge-1-b0001.ndjson.gz`;
    expect(r.location).toBe(`s3://${rig.s3.bucket}/${key}`);
    const { obj, bytes } = await getBytes(key);
    expect(bytes.equals(body)).toBe(true);
    expect(gunzipSync(bytes).toString()).toBe(ndjson);
    expect(obj.ContentType).toBe('application/x-ndjson');
    expect(obj.ContentEncoding).toBe('gzip');
    expect(obj.ContentLength).toBe(body.length);
    expect(obj.Metadata).toEqual({
      'ferry-codec': 'gzip',
      'ferry-events': '2',
      'ferry-batch-id': 'b0001',
    });
    await sink.close();
  });

  it('sets Content-Encoding per codec (zstd → zstd; lz4 and none → no encoding)', async () => {
    const sink = new S3Sink(cfg({ key_template: `${prefix}/codec/{batch_id}{ext}` }), 'h');
    const want: Record<Codec, [string, string | undefined]> = {
      zstd: ['.ndjson.zst', 'zstd'],
      lz4: ['.ndjson.lz4', undefined],
      none: ['.ndjson', undefined],
      gzip: ['.ndjson.gz', 'gzip'],
    };
    for (const [codec, [ext, enc]] of Object.entries(want) as Array<
      [Codec, [string, string | undefined]]
    >) {
      const body = randomBytes(100);
      await sink.write(batch(`c-${codec}`, body, codec));
      const { obj, bytes } = await getBytes(`${prefix}/codec/c-${codec}${ext}`);
      expect(bytes.equals(body), codec).toBe(true);
      expect(obj.ContentEncoding, codec).toBe(enc);
      expect(obj.Metadata?.['ferry-codec']).toBe(codec);
    }
    await sink.close();
  });

  it('a re-sent batch overwrites its own object: one object per batch id', async () => {
    const sink = new S3Sink(cfg({ key_template: `${prefix}/det/{host}-{batch_id}{ext}` }), 'h');
    await sink.write(batch('same', gzipSync('first\n')));
    const r = await sink.write(batch('same', gzipSync('second\n')));
    await sink.write(batch('other', gzipSync('third\n')));
    expect(await listKeys(`${prefix}/det/`)).toEqual([
      `${prefix}/det/h-other.ndjson.gz`,
      `${prefix}/det/h-same.ndjson.gz`,
    ]);
    expect(r.location).toBe(`s3://${rig.s3.bucket}/${prefix}/det/h-same.ndjson.gz`);
    expect(gunzipSync((await getBytes(`${prefix}/det/h-same.ndjson.gz`)).bytes).toString()).toBe(
      'second\n',
    );
    await sink.close();
  });

  it('uploads in parts above multipart_threshold_bytes (byte-identical) and in one PUT below it', async () => {
    const sink = new S3Sink(
      cfg({ key_template: `${prefix}/mp/{batch_id}{ext}`, multipart_threshold_bytes: 1024 * 1024 }),
      'h',
    );
    const big = randomBytes(12 * 1024 * 1024 + 123);
    await sink.write(batch('big', big, 'none'));
    const got = await getBytes(`${prefix}/mp/big.ndjson`);
    expect(got.obj.ETag).toMatch(/-3"$/); // multipart ETags end in -<parts>: 5 MiB + 5 MiB + the rest
    expect(got.bytes.equals(big)).toBe(true);
    expect(got.obj.Metadata).toMatchObject({ 'ferry-codec': 'none', 'ferry-batch-id': 'big' });
    expect(got.obj.ContentType).toBe('application/x-ndjson');

    const small = randomBytes(1000 * 1024);
    await sink.write(batch('small', small, 'none'));
    const s = await getBytes(`${prefix}/mp/small.ndjson`);
    expect(s.obj.ETag).not.toMatch(/-\d+"$/);
    expect(s.bytes.equals(small)).toBe(true);
    await sink.close();
  }, 60_000);

  it('a missing bucket is a permanent SinkError naming the key, the status and the S3 code', async () => {
    const sink = new S3Sink(cfg({ bucket: 'ferry-no-such-bucket' }), 'h');
    const err = await sink.write(batch('nb', gzipSync('x\n'))).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err).toMatchObject({ retryable: false, status: 404, errorClass: 'http_4xx' });
    expect((err as Error).message).toContain(
      `s3://ferry-no-such-bucket/${prefix}/dt=2026-11-23/hour=07/h-nb.ndjson.gz`,
    );
    expect((err as Error).message).toMatch(/HTTP 404 NoSuchBucket/);
    await expect(sink.probe()).rejects.toMatchObject({ retryable: false, status: 404 });
    await sink.close();
  });

  it('a missing bucket is permanent on the multipart path too', async () => {
    const sink = new S3Sink(
      cfg({ bucket: 'ferry-no-such-bucket', multipart_threshold_bytes: 1024 }),
      'h',
    );
    await expect(
      sink.write(batch('nbmp', randomBytes(6 * 1024 * 1024), 'none')),
    ).rejects.toMatchObject({ retryable: false, status: 404 });
    await sink.close();
  });

  it('wrong credentials are permanent', async () => {
    const sink = new S3Sink(cfg({ secret_access_key: 'definitely-wrong-secret' }), 'h');
    const err = await sink.write(batch('cred', gzipSync('x\n'))).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false, status: 403, errorClass: 'http_4xx' });
    expect((err as Error).message).toMatch(/HTTP 403 SignatureDoesNotMatch/);
    await sink.close();
  });

  it('an attempt whose signal has fired is a retryable timeout', async () => {
    const sink = new S3Sink(cfg(), 'h');
    await expect(
      sink.write(
        batch('t', gzipSync('x\n')),
        AbortSignal.abort(new DOMException('deadline', 'TimeoutError')),
      ),
    ).rejects.toMatchObject({ retryable: true, errorClass: 'timeout' });
    await sink.probe();
    await sink.close();
  });

  it('MinIO down: a retryable network error; deliver() keeps retrying and succeeds once it is back', async () => {
    const sink = new S3Sink(cfg({ key_template: `${prefix}/outage/{batch_id}{ext}` }), 'h');
    const body = gzipSync('during the outage\n');
    await stopService('minio');
    let restarted = false;
    try {
      const err = await sink
        .write(batch('down', body), AbortSignal.timeout(5_000))
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SinkError);
      expect(err).toMatchObject({ retryable: true, errorClass: 'network' });
      expect((err as Error).message).toContain(`${prefix}/outage/down.ndjson.gz`);
      await expect(sink.probe(AbortSignal.timeout(5_000))).rejects.toMatchObject({
        retryable: true,
      });

      const retries: string[] = [];
      const delivered = deliver(
        sink,
        batch('down', body),
        { initial_ms: 100, max_ms: 1_000, max_elapsed_ms: 120_000, attempt_timeout_ms: 5_000 },
        {
          onRetry: (e) => retries.push(e.errorClass),
        },
      );
      await new Promise((r) => setTimeout(r, 1_500));
      await startService('minio');
      restarted = true;
      expect(await delivered).toEqual({
        location: `s3://${rig.s3.bucket}/${prefix}/outage/down.ndjson.gz`,
      });
      expect(retries.length).toBeGreaterThan(0);
      // Down: connection refused. A MinIO still starting may answer 503 for a moment: also retried.
      expect(retries[0]).toBe('network');
      expect(retries.filter((c) => c !== 'network' && c !== 'http_5xx')).toEqual([]);
      expect((await getBytes(`${prefix}/outage/down.ndjson.gz`)).bytes.equals(body)).toBe(true);
    } finally {
      if (!restarted) await startService('minio');
      await sink.close();
    }
  }, 180_000);
});
