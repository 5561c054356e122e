import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { S3Client, GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { createClient } from '@clickhouse/client';
import { pino } from 'pino';
import { rig, stopService, startService } from '../setup/rig.js';
import { S3Sink } from '../../src/sinks/s3.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse.js';
import { migrate } from '../../src/sinks/clickhouse-migrate.js';
import type { EncodedBatch } from '../../src/pipeline/batch.js';
import type { ClickHouseSinkConfig, S3SinkConfig } from '../../src/config/types.js';

const log = pino({ level: 'silent' });
const run = `s${Date.now().toString(36)}`;
const s3cfg = (over: Partial<S3SinkConfig> = {}): S3SinkConfig => ({
  type: 's3', name: 'arch', bucket: rig.s3.bucket, region: rig.s3.region, endpoint: rig.s3.endpoint, force_path_style: true,
  access_key_id: rig.s3.accessKeyId, secret_access_key: rig.s3.secretAccessKey, key_template: `${run}/{batch_id}{ext}`, multipart_threshold_bytes: 5 * 1024 * 1024, ...over,
});
const chcfg: ClickHouseSinkConfig = { type: 'clickhouse', name: 'wh', url: rig.clickhouse.url, database: `ferry_sink_${run}`, table: 'events', username: 'default', password: '', compress: true };
const rowsBatch = (rows: string, gzip: boolean, id = 'b'): EncodedBatch => ({
  id, createdAt: Date.now(), events: rows.split('\n').filter(Boolean).length,
  archive: { body: Buffer.from(rows), codec: 'none', rawBytes: rows.length },
  rows: gzip ? { body: gzipSync(rows), codec: 'gzip', rawBytes: rows.length } : { body: Buffer.from(rows), codec: 'none', rawBytes: rows.length },
});
const s3 = new S3Client({ endpoint: rig.s3.endpoint, region: rig.s3.region, forcePathStyle: true, credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey } });

describe('S3 sink against MinIO', () => {
  it('puts at the deterministic key with content type, encoding and metadata; a re-put overwrites', async () => {
    const sink = new S3Sink(s3cfg(), 'h');
    const b = { ...rowsBatch('{"a":1}\n', false, 'det1'), archive: { body: gzipSync('{"a":1}\n'), codec: 'gzip' as const, rawBytes: 8 } };
    const r1 = await sink.write(b);
    expect(r1.location).toBe(`s3://${rig.s3.bucket}/${run}/det1.ndjson.gz`);
    await sink.write({ ...b, archive: { ...b.archive, body: gzipSync('{"a":2}\n') } });
    const head = await s3.send(new HeadObjectCommand({ Bucket: rig.s3.bucket, Key: `${run}/det1.ndjson.gz` }));
    expect(head.ContentType).toBe('application/x-ndjson');
    expect(head.ContentEncoding).toBe('gzip');
    expect(head.Metadata).toMatchObject({ 'ferry-codec': 'gzip', 'ferry-batch-id': 'det1', 'ferry-events': '1' });
    await sink.close();
  });

  it('uses multipart above the threshold and stores the bytes intact', async () => {
    const sink = new S3Sink(s3cfg(), 'h');
    const big = Buffer.alloc(11 * 1024 * 1024, 7);
    await sink.write({ ...rowsBatch('x', false, 'big1'), archive: { body: big, codec: 'none', rawBytes: big.length } });
    const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: `${run}/big1.ndjson` }));
    expect(got.ETag).toMatch(/-\d+"$/); // multipart ETags end in -<parts>
    expect(Buffer.compare(Buffer.from(await got.Body!.transformToByteArray()), big)).toBe(0);
    await sink.close();
  });

  it('a missing bucket is permanent; bad credentials are permanent', async () => {
    await expect(new S3Sink(s3cfg({ bucket: 'no-such-bucket-ferry' }), 'h').write(rowsBatch('x', false))).rejects.toMatchObject({ retryable: false, status: 404 });
    await expect(new S3Sink(s3cfg({ secret_access_key: 'wrong-secret-123' }), 'h').write(rowsBatch('x', false))).rejects.toMatchObject({ retryable: false, status: 403 });
  });

  it('MinIO down is a retryable network error', async () => {
    await stopService('minio');
    try {
      const sink = new S3Sink(s3cfg(), 'h');
      await expect(sink.write(rowsBatch('x', false), AbortSignal.timeout(5000))).rejects.toMatchObject({ retryable: true, errorClass: 'network' });
      await expect(sink.probe(AbortSignal.timeout(3000))).rejects.toBeDefined();
    } finally {
      await startService('minio');
    }
  }, 90000);
});

describe('ClickHouse sink against a real server', () => {
  const ch = createClient({ url: rig.clickhouse.url });
  beforeAll(async () => {
    expect((await migrate(chcfg, 'config/migrations/clickhouse', log)).applied).toEqual(['001_events.sql']);
  });
  afterAll(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${chcfg.database}` });
    await ch.close();
  });
  const row = (id: string) => JSON.stringify({ event_id: id, received_at: Math.floor(Date.now() / 1000), source: 'http', payload: JSON.stringify({ id }) }) + '\n';
  const count = async () => Number((await (await ch.query({ query: `SELECT count() AS c FROM ${chcfg.database}.events FINAL`, format: 'JSONEachRow' })).json<{ c: string }>())[0].c);

  it('inserts plain and gzip-encoded bodies; re-inserts dedupe under FINAL', async () => {
    const sink = new ClickHouseSink(chcfg, log, 5000);
    await sink.write(rowsBatch(row('a') + row('b'), false));
    await sink.write(rowsBatch(row('c') + row('a'), true));
    expect(await count()).toBe(3);
    await sink.probe();
    await sink.close();
  });

  it('a malformed row and an unknown table are permanent errors', async () => {
    const sink = new ClickHouseSink(chcfg, log, 5000);
    await expect(sink.write(rowsBatch('{"event_id": "x", "received_at": "not a date"}\n', false))).rejects.toMatchObject({ retryable: false, errorClass: 'rejected' });
    const other = new ClickHouseSink({ ...chcfg, table: 'missing_table' }, log, 5000);
    await expect(other.write(rowsBatch(row('z'), false))).rejects.toMatchObject({ retryable: false });
    await sink.close();
    await other.close();
  });

  it('ClickHouse down is retryable', async () => {
    await stopService('clickhouse');
    try {
      const sink = new ClickHouseSink(chcfg, log, 5000);
      await expect(sink.write(rowsBatch(row('d'), false), AbortSignal.timeout(4000))).rejects.toMatchObject({ retryable: true });
      await sink.close();
    } finally {
      await startService('clickhouse');
    }
  }, 90000);
});
