import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { s3SinkConfig } from '../helpers/stores.js';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { pack } from 'msgpackr';
import { rig, stopService, startService } from '../setup/rig.js';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { decodeObject, linesOf, readDirectorySink, type Envelope } from '../helpers/archive.js';

const run = `t${Date.now().toString(36)}`;
const database = `ferry_e2e_${run}`;
const prefix = `e2e-${run}`;

const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});

async function s3Objects(): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
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
      out.set(o.Key!, Buffer.from(await got.Body!.transformToByteArray()));
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

function sinksConfig(codec: string) {
  return {
    // ack=delivered (the `durable` of before the write-ahead log): these tests read the sinks the
    // moment a request is answered, and hold a request while a sink is down. `durable` answers
    // from the log first (test/integration/wal.test.ts).
    http: { ack: 'delivered' },
    sinks: [
      s3SinkConfig(`${prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`),
      { name: 'warehouse', type: 'clickhouse', url: rig.clickhouse.url, database, table: 'events' },
      {
        name: 'local',
        type: 'directory',
        path: '${STATE_DIR}/mirror',
        key_template: `${prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`,
      },
    ],
    batch: { codec, max_age_ms: 100, max_events: 500 },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 120000, attempt_timeout_ms: 5000 },
  };
}

describe('HTTP → S3 (MinIO), ClickHouse and directory, end to end', () => {
  let f: FerryProc;
  let ch: ClickHouseClient;
  const sent = new Map<string, string>(); // event_id → exact JSON text sent

  beforeAll(async () => {
    ch = createClient({ url: rig.clickhouse.url });
    f = await startFerryProcess(sinksConfig('lz4'));
    // ferry migrate against the real server, through the CLI
    const { execFileSync } = await import('node:child_process');
    const cfgFile = join(f.stateDir, 'ferry.yaml');
    const outp = execFileSync(
      process.execPath,
      ['dist/src/cli.js', 'migrate', '--config', cfgFile],
      { encoding: 'utf8' },
    );
    expect(outp).toContain('warehouse: applied 1');
    const again = execFileSync(
      process.execPath,
      ['dist/src/cli.js', 'migrate', '--config', cfgFile],
      { encoding: 'utf8' },
    );
    expect(again).toContain('applied 0');
  });
  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
    await ch?.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch?.close();
  });

  it('every acknowledged event is in S3, ClickHouse and the directory; objects match byte for byte', async () => {
    const N = 2400;
    const ev = makeEvents(N, `${run}-a`);
    for (const [i, id] of ev.ids.entries()) sent.set(id, ev.lines[i]);
    const reqs: Promise<{ status: number }>[] = [];
    for (let i = 0; i < N; i += 100) {
      const chunk = ev.lines.slice(i, i + 100);
      const kind = (i / 100) % 4;
      if (kind === 0) reqs.push(post(f.url, chunk.join('\n')));
      else if (kind === 1)
        reqs.push(post(f.url, `[${chunk.join(',')}]`, { type: 'application/json' }));
      else if (kind === 2)
        reqs.push(post(f.url, gzipSync(chunk.join('\n') + '\n'), { encoding: 'gzip' }));
      else
        reqs.push(
          post(f.url, pack(chunk.map((l) => JSON.parse(l))), { type: 'application/msgpack' }),
        );
    }
    const results = await Promise.all(reqs);
    for (const r of results) expect(r.status).toBe(200);

    // S3: decompress every object and account for every event, exactly once
    const objects = await s3Objects();
    expect(objects.size).toBeGreaterThan(0);
    const seen = new Map<string, number>();
    for (const [key, body] of objects) {
      expect(key).toMatch(/\.ndjson\.lz4$/);
      for (const line of linesOf(decodeObject(key, body))) {
        const e = JSON.parse(line) as Envelope;
        seen.set(e.event_id, (seen.get(e.event_id) ?? 0) + 1);
        expect(e.source).toBe('http');
        expect(Number.isNaN(Date.parse(e.received_at))).toBe(false);
        // the payload is the event as sent (compact JSON), byte for byte
        expect(line.slice(line.indexOf('"payload":') + 10, -1)).toBe(sent.get(e.event_id));
      }
    }
    expect(seen.size).toBe(N);
    for (const id of ev.ids) expect(seen.get(id), id).toBe(1);

    // the directory sink holds exactly the objects S3 got
    const mirror = readDirectorySink(join(f.stateDir, 'mirror'));
    expect([...mirror.keys()].sort()).toEqual([...objects.keys()].sort());
    for (const [key, body] of objects) expect(Buffer.compare(mirror.get(key)!, body), key).toBe(0);

    // ClickHouse: N distinct rows, payload intact
    const rows = await (
      await ch.query({
        query: `SELECT count() AS c, uniqExact(event_id) AS u FROM ${database}.events FINAL WHERE event_id LIKE '${run}-a-%'`,
        format: 'JSONEachRow',
      })
    ).json<{ c: string; u: string }>();
    expect(Number(rows[0].c)).toBe(N);
    expect(Number(rows[0].u)).toBe(N);
    const sample = await (
      await ch.query({
        query: `SELECT payload FROM ${database}.events WHERE event_id = '${ev.ids[7]}' LIMIT 1`,
        format: 'JSONEachRow',
      })
    ).json<{ payload: string }>();
    expect(sample[0].payload).toBe(ev.lines[7]);

    const metrics = await (await fetch(`${f.url}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`^s3_events_stored_total ${N}$`, 'm'));
  });

  it('re-sending the same events changes nothing after FINAL (event_id dedup)', async () => {
    const ev = makeEvents(300, `${run}-a`);
    expect((await post(f.url, ev.lines.join('\n'))).status).toBe(200);
    const rows = await (
      await ch.query({
        query: `SELECT count() AS c FROM ${database}.events FINAL WHERE event_id LIKE '${run}-a-%'`,
        format: 'JSONEachRow',
      })
    ).json<{ c: string }>();
    expect(Number(rows[0].c)).toBe(2400);
  });

  it('events without event_id get sha256 ids, stable across re-sends', async () => {
    const body = '{"k":"no-id-1"}\n{"k":"no-id-2"}\n';
    expect((await post(f.url, body)).status).toBe(200);
    expect((await post(f.url, body)).status).toBe(200);
    const { createHash } = await import('node:crypto');
    const ids = ['{"k":"no-id-1"}', '{"k":"no-id-2"}'].map((t) =>
      createHash('sha256').update(t).digest('hex'),
    );
    const rows = await (
      await ch.query({
        query: `SELECT event_id, count() AS c FROM ${database}.events FINAL WHERE event_id IN ('${ids.join("','")}') GROUP BY event_id ORDER BY event_id`,
        format: 'JSONEachRow',
      })
    ).json<{ event_id: string; c: string }>();
    expect(rows.map((r) => r.event_id)).toEqual([...ids].sort());
    expect(rows.every((r) => Number(r.c) === 1)).toBe(true);
  });

  it('a delivered-mode request is held while ClickHouse is down and answered once it is back', async () => {
    await stopService('clickhouse');
    const ev = makeEvents(50, `${run}-held`);
    let answered: { status: number } | undefined;
    const pending = post(f.url, ev.lines.join('\n')).then((r) => (answered = r));
    try {
      await new Promise((r) => setTimeout(r, 3000));
      expect(answered).toBeUndefined();
      const ready = await fetch(`${f.url}/readyz`);
      expect(ready.status).toBe(503);
    } finally {
      await startService('clickhouse');
    }
    await pending;
    expect(answered!.status).toBe(200);
    const rows = await (
      await ch.query({
        query: `SELECT count() AS c FROM ${database}.events FINAL WHERE event_id LIKE '${run}-held-%'`,
        format: 'JSONEachRow',
      })
    ).json<{ c: string }>();
    expect(Number(rows[0].c)).toBe(50);
  }, 120000);
});
