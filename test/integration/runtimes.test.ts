import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { S3Client, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createClient } from '@clickhouse/client';
import { rig } from '../setup/rig.js';
import { startFerryProcess, post, makeEvents, type Runtime } from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';

const run = `r${Date.now().toString(36)}`;
const ch = createClient({ url: rig.clickhouse.url });
const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});
afterAll(async () => {
  for (const rt of ['node', 'bun', 'deno'])
    for (const codec of ['lz4', 'gzip'])
      await ch
        .command({ query: `DROP DATABASE IF EXISTS ferry_rt_${run}_${rt}_${codec}` })
        .catch(() => {});
  await ch.close();
});

/**
 * The same end-to-end smoke on every supported runtime: HTTP → directory, MinIO and ClickHouse,
 * with the default codec (lz4, a native binding's buffers) and gzip.
 */
describe.each<Runtime>(['node', 'bun', 'deno'])('end-to-end smoke on %s', (runtime) => {
  it.each(['lz4', 'gzip'])(
    'ingests (%s), delivers to every sink and stops cleanly on SIGTERM',
    async (codec) => {
      const database = `ferry_rt_${run}_${runtime}_${codec}`;
      const prefix = `rt-${run}-${runtime}-${codec}`;
      const f = await startFerryProcess(
        {
          batch: { max_age_ms: 100, codec },
          sinks: [
            { name: 'local', type: 'directory', path: '${STATE_DIR}/out' },
            {
              name: 'archive',
              type: 's3',
              bucket: rig.s3.bucket,
              endpoint: rig.s3.endpoint,
              force_path_style: true,
              access_key_id: rig.s3.accessKeyId,
              secret_access_key: rig.s3.secretAccessKey,
              key_template: `${prefix}/{date}/{host}-{batch_id}{ext}`,
            },
            {
              name: 'warehouse',
              type: 'clickhouse',
              url: rig.clickhouse.url,
              database,
              table: 'events',
            },
          ],
        },
        { runtime },
      );
      try {
        const { execFileSync } = await import('node:child_process');
        execFileSync(process.execPath, [
          'dist/src/cli.js',
          'migrate',
          '--config',
          join(f.stateDir, 'ferry.yaml'),
        ]);
        const ev = makeEvents(500, `${run}-${runtime}-${codec}`);
        for (let i = 0; i < 500; i += 100) {
          const r = await post(f.url, ev.lines.slice(i, i + 100).join('\n'));
          expect(r.status, JSON.stringify(r.json)).toBe(200);
        }
        const bad = await post(f.url, '{"a":1}\n{oops}\n');
        expect(bad).toMatchObject({ status: 400, json: { line: 2, offset: 9 } });
        // ack=durable answered from the write-ahead log: the batches reach the sinks right after;
        // the log releases a record only once every sink has it.
        for (const end = Date.now() + 20_000; Date.now() < end; ) {
          const text = await (await fetch(`${f.url}/metrics`)).text();
          if (/^wal_records_pending 0$/m.test(text)) break;
          await new Promise((r) => setTimeout(r, 100));
        }

        const ids = new Set(envelopesIn(join(f.stateDir, 'out')).map((e) => e.event_id));
        expect(ev.ids.every((id) => ids.has(id))).toBe(true);
        const listed = await s3.send(
          new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: `${prefix}/` }),
        );
        expect(listed.KeyCount).toBeGreaterThan(0);
        const rows = await (
          await ch.query({
            query: `SELECT count() AS c FROM ${database}.events FINAL`,
            format: 'JSONEachRow',
          })
        ).json<{ c: string }>();
        expect(Number(rows[0].c)).toBe(500);
      } finally {
        f.kill('SIGTERM');
      }
      expect(await f.exited).toBe(0);
    },
    90000,
  );
});

/**
 * The DLQ on every runtime: with S3 unreachable delivered-mode requests are answered 200 from fsync'd
 * segments; after a SIGKILL the restart (same state dir, S3 fixed) recovers and ships them.
 */
describe.each<Runtime>(['node', 'bun', 'deno'])('DLQ on %s', (runtime) => {
  it('spools while S3 is unreachable, survives SIGKILL, ships everything after the restart', async () => {
    const prefix = `rt-dlq-${run}-${runtime}`;
    const s3Sink = (endpoint: string) => ({
      name: 'archive',
      type: 's3',
      bucket: rig.s3.bucket,
      endpoint,
      force_path_style: true,
      access_key_id: rig.s3.accessKeyId,
      secret_access_key: rig.s3.secretAccessKey,
      key_template: `${prefix}/{batch_id}{ext}`,
    });
    // ack=delivered: this test's subject is a 200 answered from fsync'd DLQ segments (with the
    // default, durable, the write-ahead log answers first: test/integration/wal.test.ts).
    const cfg = (endpoint: string) => ({
      http: { ack: 'delivered' },
      batch: { max_age_ms: 50 },
      retry: { initial_ms: 50, max_ms: 200, max_elapsed_ms: 500 },
      dlq: { probe_interval_ms: 200 },
      sinks: [s3Sink(endpoint)],
    });
    const f = await startFerryProcess(cfg('http://127.0.0.1:9'), { runtime });
    const ev = makeEvents(300, `${run}-dlq-${runtime}`);
    for (let i = 0; i < 300; i += 100) {
      const r = await post(f.url, ev.lines.slice(i, i + 100).join('\n'));
      expect(r.status, JSON.stringify(r.json)).toBe(200);
    }
    const { readdirSync } = await import('node:fs');
    expect(readdirSync(join(f.stateDir, 'dlq', 'archive')).some((n) => n.endsWith('.fdq'))).toBe(
      true,
    );
    f.kill('SIGKILL');
    await f.exited;
    const g = await startFerryProcess(cfg(rig.s3.endpoint), { runtime, stateDir: f.stateDir });
    try {
      const deadline = Date.now() + 30_000;
      let stored = new Set<string>();
      while (Date.now() < deadline) {
        const listed = await s3.send(
          new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: `${prefix}/` }),
        );
        if ((listed.KeyCount ?? 0) > 0) {
          const { s3EventCounts } = await import('../helpers/stores.js');
          stored = new Set((await s3EventCounts(prefix)).keys());
          if (ev.ids.every((id) => stored.has(id))) break;
        }
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(ev.ids.filter((id) => !stored.has(id))).toEqual([]);
    } finally {
      g.kill('SIGTERM');
    }
    expect(await g.exited).toBe(0);
  }, 90000);
});
