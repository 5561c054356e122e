import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { s3SinkConfig } from '../helpers/stores.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { parse, stringify } from 'yaml';
import { join } from 'node:path';
import {
  S3Client,
  ListObjectsV2Command,
  GetObjectCommand,
  PutObjectCommand,
} from '@aws-sdk/client-s3';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { rig } from '../setup/rig.js';
import { runFerryCli as cli, cliReport as report } from '../helpers/cli.js';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { decodeObject, formatOf } from '../helpers/archive.js';

/**
 * Rebuild from the archive (issue 8): HTTP → S3 + ClickHouse, then the table is lost and
 * `ferry replay` rebuilds it from MinIO; `ferry verify` compares the two per hour.
 */
const run = `rp${Date.now().toString(36)}`;
const database = `ferry_${run}`;
const prefix = `replay-${run}`;
const N = 1000;
const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});

describe('ferry replay / verify: rebuild ClickHouse from the S3 archive', () => {
  let f: FerryProc;
  let ch: ClickHouseClient;
  let cfgFile: string;
  const from = `s3://${rig.s3.bucket}/${prefix}/`;
  const count = async (final = true) =>
    Number(
      (
        await (
          await ch.query({
            query: `SELECT count() AS c FROM ${database}.events${final ? ' FINAL' : ''}`,
            format: 'JSONEachRow',
          })
        ).json<{ c: string }>()
      )[0].c,
    );
  const distinct = async () =>
    Number(
      (
        await (
          await ch.query({
            query: `SELECT uniqExact(event_id) AS c FROM ${database}.events`,
            format: 'JSONEachRow',
          })
        ).json<{ c: string }>()
      )[0].c,
    );
  const rows = async () =>
    (
      await ch.query({
        query: `SELECT event_id, toUnixTimestamp(received_at) AS t, source, payload FROM ${database}.events FINAL ORDER BY event_id`,
        format: 'JSONEachRow',
      })
    ).json();
  const recreate = async () => {
    await ch.command({ query: `DROP TABLE IF EXISTS ${database}.events` });
    await ch.command({ query: `DROP TABLE IF EXISTS ${database}.ferry_migrations` });
    const m = await cli(['migrate', '--config', cfgFile]);
    expect(m.code, m.stderr).toBe(0);
    expect(await count(false)).toBe(0);
  };
  let live: unknown[];

  beforeAll(async () => {
    ch = createClient({ url: rig.clickhouse.url });
    f = await startFerryProcess({
      sinks: [
        s3SinkConfig(`${prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`),
        {
          name: 'warehouse',
          type: 'clickhouse',
          url: rig.clickhouse.url,
          database,
          table: 'events',
        },
      ],
      batch: { codec: 'gzip', max_events: 100, max_age_ms: 100 },
    });
    cfgFile = join(f.stateDir, 'ferry.yaml');
    const m = await cli(['migrate', '--config', cfgFile]);
    expect(m.code, m.stderr).toBe(0);
    const ev = makeEvents(N, run);
    for (let i = 0; i < N; i += 100) {
      // ack=delivered: the table is counted the moment the last request is answered.
      const r = await post(f.url, ev.lines.slice(i, i + 100).join('\n'), { ack: 'delivered' });
      expect(r.status).toBe(200);
    }
    expect(await count()).toBe(N);
    live = await rows();
  }, 120_000);

  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
    await ch?.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch?.close();
    s3.destroy();
  });

  it('verify agrees before anything is lost', async () => {
    const v = await cli(['verify', '--config', cfgFile, '--from', from]);
    expect(v.code, v.stderr).toBe(0);
    expect(report(v)).toMatchObject({ differing: [], archiveEvents: N, tableEvents: N });
  });

  it('after the table is lost: verify names the hour, dry run changes nothing, a big run asks for --yes, replay rebuilds every row exactly', async () => {
    await recreate();
    const v = await cli(['verify', '--config', cfgFile, '--from', from]);
    expect(v.code).toBe(1);
    const hour = new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000);
    expect(report(v).differing.map((d: { hour: string }) => d.hour).length).toBeGreaterThan(0);
    expect(v.stderr).toMatch(
      /differs: \d{4}-\d{2}-\d{2}T\d{2}:00:00\.000Z\s+archive \d+\s+table 0/,
    );
    expect(
      report(v).differing.some(
        (d: { hour: string }) => Math.abs(Date.parse(d.hour) - hour.getTime()) <= 3_600_000,
      ),
    ).toBe(true);

    const dry = await cli(['replay', '--config', cfgFile, '--from', from, '--dry-run']);
    expect(dry.code, dry.stderr).toBe(0);
    const plan = report(dry);
    expect(plan).toMatchObject({ outcome: 'dry-run', eventsDone: N });
    expect(plan.objects).toBeGreaterThanOrEqual(10);
    expect(
      plan.plan.every(
        (p: { key: string; events: number }) => p.key.startsWith(`${prefix}/dt=`) && p.events > 0,
      ),
    ).toBe(true);
    expect(await count(false)).toBe(0);

    const big = await cli([
      'replay',
      '--config',
      cfgFile,
      '--from',
      from,
      '--confirm-above-bytes',
      '1',
    ]);
    expect(big.code).toBe(3);
    expect(big.stderr).toContain('--yes');
    expect(await count(false)).toBe(0);

    const r = await cli(['replay', '--config', cfgFile, '--from', from, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    expect(report(r)).toMatchObject({ outcome: 'done', eventsDone: N, skipped: [] });
    expect(await distinct()).toBe(N);
    // The same rows the live pipeline wrote: payload text, received_at and source included.
    expect(await rows()).toEqual(live);

    // Again over existing rows: nothing changes after FINAL.
    const again = await cli(['replay', '--config', cfgFile, '--from', from, '--yes']);
    expect(again.code, again.stderr).toBe(0);
    expect(await count()).toBe(N);
    expect(await rows()).toEqual(live);

    const ok = await cli(['verify', '--config', cfgFile, '--from', from]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(report(ok).differing).toEqual([]);
  }, 180_000);

  it.each(['SIGINT', 'SIGKILL'] as const)(
    'an interrupted replay (%s) resumes where it stopped and ends with every event',
    async (sig) => {
      await recreate();
      // 200 events/s over ~1000 events: about 5 s, stopped after ~2 s.
      const stopped = await cli(
        ['replay', '--config', cfgFile, '--from', from, '--yes', '--max-events-per-sec', '200'],
        { killAfterMs: 1500, signal: sig },
      );
      expect(stopped.code).toBe(sig === 'SIGINT' ? 130 : null);
      const partial = await distinct();
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(N);
      const cps = readdirSync(join(f.stateDir, 'replay')).filter((n) => n.endsWith('.json'));
      expect(cps.length).toBe(1);

      const refused = await cli(['replay', '--config', cfgFile, '--from', from, '--yes']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain('--resume');

      const resumed = await cli([
        'replay',
        '--config',
        cfgFile,
        '--from',
        from,
        '--yes',
        '--resume',
      ]);
      expect(resumed.code, resumed.stderr).toBe(0);
      const rep = report(resumed);
      expect(rep.outcome).toBe('done');
      expect(rep.resumedPast).toBeGreaterThan(0);
      expect(rep.resumedPast).toBeLessThan(rep.objects);
      expect(await distinct()).toBe(N);
      expect(await count()).toBe(N);
      expect(existsSync(join(f.stateDir, 'replay', cps[0]))).toBe(false);
    },
    120_000,
  );

  it('SIGINT while an insert hangs (ClickHouse accepts and never answers) exits 130 at once, and the object is not counted as done', async () => {
    const sockets: Socket[] = [];
    let killer: ((s: NodeJS.Signals) => void) | undefined;
    const hole = createServer((s) => {
      sockets.push(s);
      // The first insert is in flight and will never be answered: interrupt now.
      if (sockets.length === 1) setTimeout(() => killer?.('SIGINT'), 200);
    });
    await new Promise<void>((r) => hole.listen(0, '127.0.0.1', r));
    const port = (hole.address() as { port: number }).port;
    const cfg = parse(readFileSync(cfgFile, 'utf8')) as {
      state_dir: string;
      retry?: Record<string, number>;
      sinks: { type: string; url?: string }[];
    };
    cfg.state_dir = mkdtempSync(join(tmpdir(), 'ferry-replay-hole-'));
    cfg.retry = { ...(cfg.retry ?? {}), attempt_timeout_ms: 60_000, max_elapsed_ms: 120_000 };
    for (const s of cfg.sinks) if (s.type === 'clickhouse') s.url = `http://127.0.0.1:${port}`;
    const holeCfg = join(cfg.state_dir, 'ferry.yaml');
    writeFileSync(holeCfg, stringify(cfg));
    try {
      const t0 = Date.now();
      const r = await cli(['replay', '--config', holeCfg, '--from', from, '--yes'], {
        onSpawn: (k) => (killer = k),
      });
      expect(sockets.length).toBeGreaterThan(0);
      expect(r.code, r.stderr).toBe(130);
      // Well inside the 60 s attempt timeout: the abort ends the hung insert.
      expect(Date.now() - t0).toBeLessThan(30_000);
      expect(report(r)).toMatchObject({ outcome: 'interrupted', eventsDone: 0, objectsDone: 0 });
    } finally {
      for (const s of sockets) s.destroy();
      hole.close();
    }
  }, 60_000);

  it('a truncated object is reported and skipped, the rest is replayed; verify names the hour of deleted rows', async () => {
    // A corrupt copy of a real object under a key of the same layout.
    const listed = await s3.send(
      new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: `${prefix}/` }),
    );
    const first = listed.Contents![0].Key!;
    const body = await (
      await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: first }))
    ).Body!.transformToByteArray();
    const badKey = first.replace(/-[A-Za-z0-9]+\.ndjson\.gz$/, '-truncated0000.ndjson.gz');
    expect(badKey).not.toBe(first);
    await s3.send(
      new PutObjectCommand({
        Bucket: rig.s3.bucket,
        Key: badKey,
        Body: body.subarray(0, Math.floor(body.length / 2)),
      }),
    );

    await recreate();
    const r = await cli(['replay', '--config', cfgFile, '--from', from, '--yes']);
    expect(r.code, r.stderr).toBe(0);
    const rep = report(r);
    expect(rep.skipped.map((s: { key: string }) => s.key)).toEqual([badKey]);
    expect(await distinct()).toBe(N);

    // Rows of one hour lost: verify names that hour and the counts.
    const ids = (
      await (
        await ch.query({
          query: `SELECT event_id FROM ${database}.events ORDER BY event_id LIMIT 10`,
          format: 'JSONEachRow',
        })
      ).json<{ event_id: string }>()
    ).map((x) => x.event_id);
    await ch.command({
      query: `ALTER TABLE ${database}.events DELETE WHERE event_id IN (${ids.map((i) => `'${i}'`).join(',')})`,
    });
    for (let i = 0; i < 100 && (await distinct()) !== N - 10; i++)
      await new Promise((res) => setTimeout(res, 200));
    const v = await cli(['verify', '--config', cfgFile, '--from', from]);
    expect(v.code).toBe(1);
    const diff = report(v).differing;
    expect(
      diff.reduce((n: number, d: { archive: number; table: number }) => n + d.archive - d.table, 0),
    ).toBe(10);
    expect(report(v).skipped.map((s: { key: string }) => s.key)).toEqual([badKey]);
  }, 120_000);

  it('refuses bad arguments with a usage error', async () => {
    expect((await cli(['replay', '--config', cfgFile])).code).toBe(2);
    const bad = await cli(['replay', '--config', cfgFile, '--from', 'http://x/y']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('s3://bucket/prefix');
    const badTime = await cli([
      'replay',
      '--config',
      cfgFile,
      '--from',
      from,
      '--since',
      'yesterday',
      '--dry-run',
    ]);
    expect(badTime.stderr).toContain('--since');
  });
});

/**
 * Issue 15: the same requests archived as format 1 (envelopes) by one ferry and format 2 (a
 * header, then the events' bytes) by another; each archive replayed into an empty table gives
 * back exactly the rows that ferry inserted live — ids ferry derived (sha256) recomputed, odd
 * payload ids decoded as ingestion decoded them — and the two formats give the same rows.
 */
describe('ferry replay reads format 1 and format 2 objects alike', () => {
  const sub = `${run}f`;
  const ev = makeEvents(150, sub);
  const odd = [
    '{"msg":"no id: ferry derives it"}',
    '{"event_id":null,"n":1.0}',
    '{"\\u0065vent_id":"escaped-key","s":"žluťoučký 🚢"}',
    '{"event_id":1e3,"big":12345678901234567890}',
    '{"event_id":"dup","event_id":"last-wins"}',
    '{ "spaced" : [1, 2.50] ,\t"x":"a\\"b" }',
  ];
  const requests = [
    ev.lines.slice(0, 100).join('\n'),
    odd.join('\n'),
    ev.lines.slice(100).join('\n'),
  ];
  const total = 150 + odd.length;
  const sides = ([1, 2] as const).map((format) => ({
    format,
    database: `ferry_${sub}${format}`,
    prefix: `replay-${sub}-v${format}`,
    f: undefined as FerryProc | undefined,
    cfgFile: '',
    live: [] as unknown[],
  }));
  let ch: ClickHouseClient;
  const rowsOf = async (db: string) =>
    (
      await ch.query({
        query: `SELECT event_id, toUnixTimestamp(received_at) AS t, source, payload FROM ${db}.events FINAL ORDER BY event_id`,
        format: 'JSONEachRow',
      })
    ).json<{ event_id: string; t: number; source: string; payload: string }>();

  beforeAll(async () => {
    ch = createClient({ url: rig.clickhouse.url });
    for (const side of sides) {
      side.f = await startFerryProcess({
        sinks: [
          s3SinkConfig(`${side.prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`),
          {
            name: 'warehouse',
            type: 'clickhouse',
            url: rig.clickhouse.url,
            database: side.database,
            table: 'events',
          },
        ],
        batch: {
          codec: side.format === 1 ? 'gzip' : 'zstd',
          max_events: 100,
          max_age_ms: 100,
          archive_format: side.format,
        },
      });
      side.cfgFile = join(side.f.stateDir, 'ferry.yaml');
      const m = await cli(['migrate', '--config', side.cfgFile]);
      expect(m.code, m.stderr).toBe(0);
    }
    // ack=delivered: the live rows are read right after the answers.
    for (const body of requests)
      for (const side of sides)
        expect((await post(side.f!.url, body, { ack: 'delivered' })).status).toBe(200);
    for (const side of sides) {
      side.live = await rowsOf(side.database);
      expect(side.live).toHaveLength(total);
    }
  }, 120_000);

  afterAll(async () => {
    for (const side of sides) {
      side.f?.kill('SIGTERM');
      await side.f?.exited;
      await ch?.command({ query: `DROP DATABASE IF EXISTS ${side.database}` }).catch(() => {});
    }
    await ch?.close();
  });

  it('each archive is in its format; replayed into an empty table it gives back the live rows exactly', async () => {
    for (const side of sides) {
      const listed = await s3.send(
        new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: `${side.prefix}/` }),
      );
      expect(listed.Contents?.length ?? 0).toBeGreaterThan(0);
      for (const o of listed.Contents ?? []) {
        const body = await (
          await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: o.Key! }))
        ).Body!.transformToByteArray();
        expect(formatOf(decodeObject(o.Key!, body)), o.Key).toBe(side.format);
      }

      await ch.command({ query: `DROP TABLE ${side.database}.events` });
      await ch.command({ query: `DROP TABLE ${side.database}.ferry_migrations` });
      expect((await cli(['migrate', '--config', side.cfgFile])).code).toBe(0);
      expect(await rowsOf(side.database)).toEqual([]);
      const from = `s3://${rig.s3.bucket}/${side.prefix}/`;
      const r = await cli(['replay', '--config', side.cfgFile, '--from', from, '--yes']);
      expect(r.code, r.stderr).toBe(0);
      expect(report(r)).toMatchObject({ outcome: 'done', eventsDone: total, skipped: [] });
      expect(await rowsOf(side.database)).toEqual(side.live);
      const v = await cli(['verify', '--config', side.cfgFile, '--from', from]);
      expect(v.code, v.stderr).toBe(0);
      expect(report(v)).toMatchObject({ differing: [], archiveEvents: total, tableEvents: total });
    }
    // The two formats rebuild the same rows (received_at: the two ferries got the requests
    // a few ms apart, so the second may differ by one).
    const [a, b] = await Promise.all(sides.map((s) => rowsOf(s.database)));
    expect(b.map(({ t: _t, ...r }) => r)).toEqual(a.map(({ t: _t, ...r }) => r));
    for (let i = 0; i < a.length; i++) expect(Math.abs(a[i].t - b[i].t)).toBeLessThanOrEqual(1);
    // Ids ferry derived are the sha256 of the event's bytes; the payload ids as decoded.
    const ids = a.map((r) => r.event_id);
    expect(ids).toEqual(expect.arrayContaining(['escaped-key', '1000', 'last-wins', ...ev.ids]));
    expect(ids.filter((id) => /^[0-9a-f]{64}$/.test(id))).toHaveLength(3);
  }, 180_000);
});
