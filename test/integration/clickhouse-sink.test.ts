import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { pino } from 'pino';
import { CH_TARGETS, stopService, startService } from '../setup/rig.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse.js';
import { migrate } from '../../src/sinks/clickhouse-migrate.js';
import { deliver } from '../../src/sinks/retry.js';
import type { EncodedBatch } from '../../src/contracts/batch.js';
import { SinkError } from '../../src/sinks/errors.js';
import type { ClickHouseSinkConfig } from '../../src/config/types.js';

const log = pino({ level: 'silent' });
const MIGRATIONS = join(import.meta.dirname, '..', '..', 'config', 'migrations', 'clickhouse');
// Each file run gets its own databases, dropped at the end.
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
/** A row exactly as the workers encode it: received_at in Unix seconds, the event JSON as an escaped string. */
const row = (
  id: string,
  receivedAt = 1_795_400_000,
  payload: unknown = { id, msg: 'héllo "quoted" \\ back\nslash', emoji: '😀', n: 1.5 },
) =>
  `{"event_id":${JSON.stringify(id)},"received_at":${receivedAt},"source":"http","payload":${JSON.stringify(JSON.stringify(payload))}}\n`;
const batch = (rows: string, gzip: boolean, id = 'b'): EncodedBatch => {
  const raw = Buffer.from(rows);
  return {
    id,
    createdAt: Date.now(),
    events: rows.split('\n').filter(Boolean).length,
    archive: { body: raw, codec: 'none', rawBytes: raw.length },
    rows: gzip
      ? { body: gzipSync(raw), codec: 'gzip', rawBytes: raw.length }
      : { body: raw, codec: 'none', rawBytes: raw.length },
  };
};

describe.each(CH_TARGETS)('ClickHouse on $name', (target) => {
  const database = `ferry_it_ch_${run}`;
  const cfg = (over: Partial<ClickHouseSinkConfig> = {}): ClickHouseSinkConfig => ({
    type: 'clickhouse',
    name: 'warehouse',
    url: target.url,
    database,
    table: 'events',
    username: 'default',
    password: '',
    compress: true,
    preset: 'envelope',
    bisect_max_inserts: 64,
    ...over,
  });
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const createdDbs = new Set<string>([database]);

  const countFinal = async (table = `${database}.events`) =>
    Number((await q<{ c: string }>(`SELECT count() AS c FROM ${table} FINAL`))[0].c);

  afterAll(async () => {
    for (const db of createdDbs)
      await ch.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => {});
    await ch.close();
  });

  describe('ClickHouse migrations', () => {
    it('create the database and the events table, record the migration, and a re-run applies nothing', async () => {
      expect(await migrate(cfg(), MIGRATIONS, log)).toEqual({
        applied: ['001_events.sql'],
        skipped: [],
      });
      const tables = await q<{ name: string; engine: string }>(
        `SELECT name, engine FROM system.tables WHERE database = '${database}' ORDER BY name`,
      );
      expect(tables).toEqual([
        { name: 'events', engine: 'ReplacingMergeTree' },
        { name: 'ferry_migrations', engine: 'MergeTree' },
      ]);
      const cols = await q<{ name: string; type: string }>(
        `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = 'events'`,
      );
      expect(cols).toEqual([
        { name: 'event_id', type: 'String' },
        { name: 'received_at', type: 'DateTime' },
        { name: 'source', type: 'String' },
        { name: 'payload', type: 'String' },
      ]);
      const recorded = await q<{ name: string; checksum: string; age: string }>(
        `SELECT name, checksum, now() - applied_at AS age FROM ${database}.ferry_migrations`,
      );
      expect(recorded).toHaveLength(1);
      expect(recorded[0].name).toBe('001_events.sql');
      expect(recorded[0].checksum).toMatch(/^[0-9a-f]{64}$/);
      expect(Math.abs(Number(recorded[0].age))).toBeLessThan(120);

      expect(await migrate(cfg(), MIGRATIONS, log)).toEqual({
        applied: [],
        skipped: ['001_events.sql'],
      });
      expect(await q(`SELECT name FROM ${database}.ferry_migrations`)).toHaveLength(1);
    });

    it('apply files in lexicographic order with placeholders and several statements; refuse an edited applied file', async () => {
      const db = `ferry_it_chm_${run}`;
      createdDbs.add(db);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-mig-'));
      try {
        copyFileSync(join(MIGRATIONS, '001_events.sql'), join(dir, '001_events.sql'));
        writeFileSync(
          join(dir, '010_views.sql'),
          '-- needs 002 first\nCREATE VIEW IF NOT EXISTS {database}.{table}_by_source AS\n  SELECT source, count() AS c FROM {database}.{table}_copy GROUP BY source;\n',
        );
        writeFileSync(
          join(dir, '002_copy.sql'),
          [
            '-- two statements, the second uses the first',
            'CREATE TABLE IF NOT EXISTS {database}.{table}_copy (event_id String, source String) ENGINE = MergeTree() ORDER BY event_id;',
            '',
            'INSERT INTO {database}.{table}_copy SELECT event_id, source FROM {database}.{table};',
            '',
          ].join('\n'),
        );
        writeFileSync(join(dir, 'README.md'), 'not a migration');
        const c = cfg({ database: db, table: 'ev' });
        expect(await migrate(c, dir, log)).toEqual({
          applied: ['001_events.sql', '002_copy.sql', '010_views.sql'],
          skipped: [],
        });
        expect(
          (
            await q<{ name: string }>(
              `SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`,
            )
          ).map((t) => t.name),
        ).toEqual(['ev', 'ev_by_source', 'ev_copy', 'ferry_migrations']);

        // Rewording a comment is not a change…
        writeFileSync(
          join(dir, '010_views.sql'),
          '-- reworded\nCREATE VIEW IF NOT EXISTS {database}.{table}_by_source AS\n  SELECT source, count() AS c FROM {database}.{table}_copy GROUP BY source;\n',
        );
        expect(await migrate(c, dir, log)).toEqual({
          applied: [],
          skipped: ['001_events.sql', '002_copy.sql', '010_views.sql'],
        });
        // …changing a statement is.
        writeFileSync(
          join(dir, '002_copy.sql'),
          'CREATE TABLE IF NOT EXISTS {database}.{table}_copy (event_id String) ENGINE = MergeTree() ORDER BY event_id;\n',
        );
        await expect(migrate(c, dir, log)).rejects.toThrow(
          /002_copy\.sql was changed after it was applied/,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a failing statement names the file and is not recorded', async () => {
      const db = `ferry_it_chf_${run}`;
      createdDbs.add(db);
      const dir = mkdtempSync(join(tmpdir(), 'ferry-mig-'));
      try {
        writeFileSync(
          join(dir, '001_bad.sql'),
          'CREATE TABLE {database}.x (a String) ENGINE = NoSuchEngine;\n',
        );
        await expect(migrate(cfg({ database: db }), dir, log)).rejects.toThrow(
          /migration 001_bad\.sql statement 1\/1 on warehouse/,
        );
        expect(await q(`SELECT name FROM ${db}.ferry_migrations`)).toEqual([]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  describe('ClickHouse sink against a real server', () => {
    beforeAll(async () => {
      await migrate(cfg(), MIGRATIONS, log);
    });

    it('detects the server and inserts a plain JSONEachRow body; values read back exactly', async () => {
      const sink = new ClickHouseSink(cfg(), log, 10_000);
      const f = await sink.detect();
      expect(f.version).toMatch(/^\d+\.\d+/);
      expect(f.insertSettings).toMatchObject({
        wait_end_of_query: 1,
        input_format_skip_unknown_fields: 0,
      });
      // What differs between the two engines is detected, never assumed from the version.
      if (target.service === 'chdb') {
        expect(f.version).toMatch(/^2[4-9]\./);
        expect(f).toMatchObject({ asyncInsert: true, dedupToken: true, optimizeOnInsert: true });
        expect(f.jsonType).toBe(true);
        expect([...f.types].sort()).toEqual(['Bool', 'DateTime64', 'IPv4', 'IPv6', 'JSON', 'Map']);
        expect(f.insertSettings).toMatchObject({
          wait_for_async_insert: 1,
          input_format_json_read_objects_as_strings: 0,
        });
      } else {
        expect(f.version).toMatch(/^18\.16\./);
        expect(f).toMatchObject({ asyncInsert: false, dedupToken: false, optimizeOnInsert: false });
        expect(f.jsonType).toBe(false);
        expect([...f.types]).toEqual([]);
        expect(f.insertSettings).not.toHaveProperty('wait_for_async_insert');
      }
      const payload = { id: 'p1', msg: 'héllo "quoted" \\ back\nslash', emoji: '😀', n: 1.5 };
      const r = await sink.write(
        batch(row('plain-1', 1_795_400_000, payload) + row('plain-2', 1_795_400_001), false),
      );
      expect(r.location).toBe(`${database}.events`);
      // wait_end_of_query: the rows are there as soon as write() resolved.
      const got = await q<{ event_id: string; ts: string; source: string; payload: string }>(
        `SELECT event_id, toUnixTimestamp(received_at) AS ts, source, payload FROM ${database}.events WHERE event_id LIKE 'plain-%' ORDER BY event_id`,
      );
      expect(got.map((g) => [g.event_id, Number(g.ts), g.source])).toEqual([
        ['plain-1', 1_795_400_000, 'http'],
        ['plain-2', 1_795_400_001, 'http'],
      ]);
      expect(JSON.parse(got[0].payload)).toEqual(payload);
      // A JSON number for a DateTime is a Unix timestamp: the same instant whatever the server's timezone.
      expect(
        (
          await q<{ t: string }>(
            `SELECT toString(received_at, 'UTC') AS t FROM ${database}.events WHERE event_id = 'plain-1'`,
          )
        )[0].t,
      ).toBe('2026-11-23 02:13:20');
      await sink.close();
    });

    it('inserts a gzip-encoded body sent as it is (Content-Encoding: gzip)', async () => {
      const sink = new ClickHouseSink(cfg(), log, 10_000);
      const rows = Array.from({ length: 1000 }, (_, i) => row(`gz-${i}`)).join('');
      await sink.write(batch(rows, true));
      expect(
        Number(
          (
            await q<{ c: string }>(
              `SELECT count() AS c FROM ${database}.events WHERE event_id LIKE 'gz-%'`,
            )
          )[0].c,
        ),
      ).toBe(1000);
      await sink.close();
    });

    it('re-inserting the same event_ids (plain or gzip, later received_at) leaves count() FINAL unchanged', async () => {
      const sink = new ClickHouseSink(cfg(), log, 10_000);
      const ids = Array.from({ length: 50 }, (_, i) => `dup-${i}`);
      await sink.write(batch(ids.map((id) => row(id)).join(''), false));
      const before = await countFinal();
      await sink.write(batch(ids.map((id) => row(id, 1_795_400_999)).join(''), true));
      await sink.write(
        batch(
          ids
            .slice(0, 10)
            .map((id) => row(id, 1_795_401_999))
            .join(''),
          false,
        ),
      );
      expect(await countFinal()).toBe(before);
      expect(
        Number(
          (
            await q<{ c: string }>(
              `SELECT count() AS c FROM ${database}.events FINAL WHERE event_id LIKE 'dup-%'`,
            )
          )[0].c,
        ),
      ).toBe(50);
      // No time partition: every part is in the single partition 'all', so merges can collapse duplicates.
      expect(
        await q<{ partition_id: string }>(
          `SELECT DISTINCT partition_id FROM system.parts WHERE database = '${database}' AND table = 'events' AND active`,
        ),
      ).toEqual([{ partition_id: 'all' }]);
      await sink.close();
    });

    it('a malformed row is a permanent SinkError, and nothing of that batch is inserted', async () => {
      // With bisection off (bisect_max_inserts: 0): the whole batch is refused, as before
      // bisection existed. With it on, see 'a malformed row with bisection on' below.
      const sink = new ClickHouseSink(cfg({ bisect_max_inserts: 0 }), log, 10_000);
      const before = await countFinal();
      for (const [bad, gzip] of [
        [
          row('bad-1') +
            '{"event_id":"bad-2","received_at":1,"source":"http","payload":{"not":"a string"}}\n' +
            row('bad-3'),
          false,
        ],
        [row('bad-4') + '{"event_id":"bad-5", oops\n', true],
        [
          '{"event_id":"bad-6","received_at":1,"source":"http","payload":"x","no_such_column":1}\n',
          false,
        ],
      ] as const) {
        const err = await sink.write(batch(bad, gzip, 'badbatch')).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SinkError);
        expect(err).toMatchObject({ retryable: false, errorClass: 'rejected' });
        expect((err as Error).message).toMatch(
          /ClickHouse insert of batch badbatch into ferry_it_ch_\w+\.events: HTTP \d{3} code (26|27|33|117)\b/,
        );
      }
      expect(await countFinal()).toBe(before);
      await sink.close();
    });

    it('a malformed row with bisection on: the other rows are inserted, the bad one comes back as a poison row', async () => {
      const sink = new ClickHouseSink(cfg({ bisect_max_inserts: 64 }), log, 10_000);
      const r = await sink.write(
        batch(
          row('bisect-a') +
            '{"event_id":"bisect-b","received_at":1,"source":"http","payload":{"not":"a string"}}\n' +
            row('bisect-c'),
          true,
        ),
      );
      expect(r.poisonRows?.map((p) => p.event_id)).toEqual(['bisect-b']);
      expect(r.poisonRows![0].reason).toMatch(/^code (26|27|33|117): /);
      expect(
        (
          await q<{ event_id: string }>(
            `SELECT event_id FROM ${database}.events WHERE event_id LIKE 'bisect-%' ORDER BY event_id`,
          )
        ).map((x) => x.event_id),
      ).toEqual(['bisect-a', 'bisect-c']);
      await sink.close();
    });

    it('a corrupt gzip body, an unknown table and a wrong password are permanent', async () => {
      const good = batch(row('x'), false);
      const corrupt: EncodedBatch = {
        ...good,
        rows: { body: Buffer.from('this is not gzip at all'), codec: 'gzip', rawBytes: 20 },
      };
      const sink = new ClickHouseSink(cfg(), log, 10_000);
      await expect(sink.write(corrupt)).rejects.toMatchObject({
        retryable: false,
        errorClass: 'rejected',
      });
      const noTable = new ClickHouseSink(cfg({ table: 'no_such_table' }), log, 10_000);
      const e1 = await noTable.write(good).catch((e: unknown) => e);
      expect(e1).toMatchObject({ retryable: false, errorClass: 'rejected' });
      expect((e1 as Error).message).toMatch(/code 60/);
      const badPw = new ClickHouseSink(cfg({ password: 'wrong-password' }), log, 10_000);
      await expect(badPw.write(good)).rejects.toMatchObject({
        retryable: false,
        errorClass: 'auth',
      });
      await expect(badPw.probe()).rejects.toMatchObject({ retryable: false, errorClass: 'auth' });
      await Promise.all([sink.close(), noTable.close(), badPw.close()]);
    });

    it('an attempt whose signal has fired is a retryable timeout; probe is SELECT 1', async () => {
      const sink = new ClickHouseSink(cfg(), log, 10_000);
      await sink.probe();
      await expect(
        sink.write(
          batch(row('t'), false),
          AbortSignal.abort(new DOMException('deadline', 'TimeoutError')),
        ),
      ).rejects.toMatchObject({ retryable: true, errorClass: 'timeout' });
      await sink.close();
    });

    it('ClickHouse down: retryable network error; deliver() holds the batch and inserts it once the server is back', async () => {
      const sink = new ClickHouseSink(cfg(), log, 5_000);
      await sink.detect(); // features known before the outage, as in a running ferry
      await stopService(target.service);
      let restarted = false;
      try {
        const err = await sink
          .write(batch(row('outage-1'), true), AbortSignal.timeout(5_000))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SinkError);
        expect(err).toMatchObject({ retryable: true, errorClass: 'network' });
        await expect(sink.probe(AbortSignal.timeout(3_000))).rejects.toMatchObject({
          retryable: true,
        });
        // A sink created during the outage cannot detect the server yet: also retryable.
        const fresh = new ClickHouseSink(cfg(), log, 5_000);
        await expect(fresh.write(batch(row('outage-1'), false))).rejects.toMatchObject({
          retryable: true,
          errorClass: 'network',
        });

        const retries: string[] = [];
        const delivered = deliver(
          fresh,
          batch(row('outage-1') + row('outage-2'), true),
          { initial_ms: 100, max_ms: 1_000, max_elapsed_ms: 150_000, attempt_timeout_ms: 5_000 },
          {
            onRetry: (e) => retries.push(e.errorClass),
          },
        );
        await new Promise((r) => setTimeout(r, 1_500));
        await startService(target.service);
        restarted = true;
        expect(await delivered).toEqual({ location: `${database}.events` });
        expect(retries.length).toBeGreaterThan(0);
        expect(
          Number(
            (
              await q<{ c: string }>(
                `SELECT count() AS c FROM ${database}.events FINAL WHERE event_id LIKE 'outage-%'`,
              )
            )[0].c,
          ),
        ).toBe(2);
        await fresh.close();
      } finally {
        if (!restarted) await startService(target.service);
        await sink.close();
      }
    }, 240_000);
  });
});
