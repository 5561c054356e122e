import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { createClient } from '@clickhouse/client';
import { pino } from 'pino';
import { CH_TARGETS } from '../setup/rig.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse.js';
import { migrate } from '../../src/sinks/clickhouse-migrate.js';
import type { BatchLimits, EncodedBatch } from '../../src/contracts/batch.js';
import type { ClickHouseSinkConfig } from '../../src/config/types.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { parseBody } from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

/**
 * Columns mode and row-level poison on both ClickHouse targets: the worker's batcher converts
 * NDJSON events by the plan the sink read from system.columns, the sink inserts the rows; a value
 * that does not fit makes only its row a poison row. A batch the server refuses is bisected.
 */
const log = pino({ level: 'silent' });
const MIGRATIONS = join(import.meta.dirname, '..', '..', 'config', 'migrations', 'clickhouse');
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const enc = new TextEncoder();
const RECEIVED = Date.UTC(2026, 10, 23, 2, 13, 20, 250);

/** Seal the events of one NDJSON body into one batch, converted by the sink's plan. */
async function batchVia(sink: ClickHouseSink, lines: unknown[], compress = true) {
  const plan = await sink.rowPlan();
  const limits: BatchLimits = {
    maxEvents: 1_000_000,
    maxBytes: 1 << 30,
    maxAgeMs: 60_000,
    codec: 'none',
    level: 0,
    archive: false,
    rows: true,
    compressRows: compress,
    rowPlan: plan,
  };
  let sealed: SealedBatch | undefined;
  const b = new Batcher(limits, (s) => (sealed = s));
  const parsed = parseBody(
    BodyFormat.Ndjson,
    enc.encode(lines.map((l) => JSON.stringify(l)).join('\n')),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  b.appendRequest(1, parsed.events, RECEIVED, 'tok-a');
  b.sealIfDue(Date.now(), true);
  return sealed!.batch;
}

describe.each(CH_TARGETS)('ClickHouse columns mode on $name', (target) => {
  const database = `ferry_it_cols_${run}`;
  const current = target.service === 'chdb';
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const cfg = (over: Partial<ClickHouseSinkConfig> = {}): ClickHouseSinkConfig => ({
    type: 'clickhouse',
    name: 'typed',
    url: target.url,
    database,
    table: 'typed',
    username: 'default',
    password: '',
    compress: true,
    preset: 'envelope',
    bisect_max_inserts: 64,
    ...over,
  });

  beforeAll(async () => {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    const cols = [
      'event_id String',
      'received_at DateTime',
      'src LowCardinality(String)',
      'user_id UInt32',
      'level Int8',
      'big Int64',
      'ratio Float32',
      'name String',
      'code FixedString(3)',
      'uid UUID',
      'at DateTime',
      'n Nullable(Int16)',
      'tags Array(String)',
      'nums Array(UInt16)',
      "status Enum8('ok' = 1, 'fail' = 2)",
      'rest String',
      "dflt String DEFAULT 'd'",
    ];
    if (current)
      cols.push(
        'ok Bool',
        'ts64 DateTime64(6)',
        'ip4 IPv4',
        'ip6 IPv6',
        'attrs Map(String, String)',
      );
    await ch.command({
      query: `CREATE TABLE ${database}.typed (${cols.join(', ')}) ENGINE = MergeTree() ORDER BY event_id`,
      // 18.16 has LowCardinality behind a flag.
      clickhouse_settings: current ? {} : { allow_experimental_low_cardinality_type: 1 },
    });
  });

  afterAll(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  const good = (id: string, over: Record<string, unknown> = {}) => ({
    event_id: id,
    user: { id: 7 },
    level: -3,
    big: '9007199254740993',
    ratio: 1.5,
    name: 'héllo',
    code: 'abc',
    uid: '6F9619FF-8B86-D011-B42D-00C04FC964FF',
    at: '2026-11-23T03:13:20.5+01:00',
    n: null,
    tags: ['a', 'b'],
    nums: [1, 65535],
    status: 'ok',
    extra: { x: 1 },
    ...(current
      ? {
          ok: true,
          ts64: 1_795_400_000_123_456,
          ip4: '10.1.2.3',
          ip6: '2001:db8::1',
          attrs: { a: 1, b: 'c' },
        }
      : {}),
    ...over,
  });

  it('converts every column type and fills ferry fields, paths and the catch-all column', async () => {
    const sink = new ClickHouseSink(
      cfg({
        columns: {
          paths: { user_id: 'user.id' },
          event_id_column: 'event_id',
          received_at_column: 'received_at',
          source_column: 'src',
          unknown: 'keep',
          catch_all_column: 'rest',
        },
      }),
      log,
      10_000,
    );
    const batch = await batchVia(sink, [
      good('g1'),
      good('g2', { at: 1_795_400_000_000, level: 127, n: 5, user: { id: 4294967295 } }),
    ]);
    expect(batch.rowPoison).toBeUndefined();
    const r = await sink.write(batch);
    expect(r.poisonRows).toBeUndefined();
    const rows = await q<Record<string, unknown>>(
      `SELECT event_id, toUnixTimestamp(received_at) AS recv, src, user_id, level, toString(big) AS big, ratio, name, toString(code) AS code, toString(uid) AS uid, toUnixTimestamp(at) AS at, n, tags, nums, toString(status) AS status, rest, dflt${current ? ', ok, toString(ts64) AS ts64, toString(ip4) AS ip4, toString(ip6) AS ip6, attrs' : ''} FROM ${database}.typed ORDER BY event_id`,
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      event_id: 'g1',
      src: 'tok-a',
      user_id: 7,
      level: -3,
      big: '9007199254740993',
      ratio: 1.5,
      name: 'héllo',
      code: 'abc',
      uid: '6f9619ff-8b86-d011-b42d-00c04fc964ff',
      n: null,
      tags: ['a', 'b'],
      nums: [1, 65535],
      status: 'ok',
      // An omitted field: current servers evaluate the column's DEFAULT, 18.16 puts the type's default.
      dflt: current ? 'd' : '',
    });
    expect(Number(rows[0].recv)).toBe(1_795_400_000);
    // 03:13:20.5+01:00 is 02:13:20 UTC: 1795400000 (the fraction dropped for DateTime).
    expect(Number(rows[0].at)).toBe(1_795_400_000);
    const rest = JSON.parse(rows[0].rest as string);
    expect(rest).toEqual({ extra: { x: 1 } });
    expect(rows[1]).toMatchObject({ event_id: 'g2', level: 127, n: 5, user_id: 4294967295 });
    expect(Number(rows[1].at)).toBe(1_795_400_000);
    if (current) {
      expect(rows[0]).toMatchObject({
        ok: true,
        ts64: '2026-11-23 02:13:20.123456',
        ip4: '10.1.2.3',
        ip6: '2001:db8::1',
        attrs: { a: '1', b: 'c' },
      });
    }
    await sink.close();
  });

  it('a value that does not fit makes only its row a poison row, naming the column and the reason', async () => {
    const sink = new ClickHouseSink(
      cfg({
        columns: {
          paths: { user_id: 'user.id' },
          event_id_column: 'event_id',
          received_at_column: 'received_at',
          source_column: 'src',
          unknown: 'skip',
        },
      }),
      log,
      10_000,
    );
    const bad: [string, Record<string, unknown>, string, RegExp][] = [
      ['b-uid-neg', { user: { id: -1 } }, 'user_id', /-1 is out of range for UInt32/],
      ['b-level', { level: 128 }, 'level', /128 is out of range for Int8/],
      ['b-big', { big: 2 ** 60 }, 'big', /beyond 2\^53/],
      ['b-ratio', { ratio: 'abc' }, 'ratio', /is not a number/],
      ['b-code', { code: 'abcd' }, 'code', /4 bytes do not fit FixedString\(3\)/],
      ['b-uid', { uid: 'nope' }, 'uid', /is not a UUID/],
      ['b-at', { at: 'yesterday' }, 'at', /neither RFC 3339 nor an epoch number/],
      ['b-at-range', { at: '2200-01-01T00:00:00Z' }, 'at', /out of DateTime's range/],
      ['b-nums', { nums: [1, 70000] }, 'nums', /70000 is out of range for UInt16/],
      ['b-tags', { tags: 'x' }, 'tags', /is not an array/],
      ['b-status', { status: 'maybe' }, 'status', /not one of the enum's values/],
    ];
    if (current)
      bad.push(
        ['b-ok', { ok: 'yes' }, 'ok', /is not a boolean/],
        ['b-ip4', { ip4: '300.1.1.1' }, 'ip4', /is not an IPv4 address/],
        ['b-ip6', { ip6: 'zz::1' }, 'ip6', /is not an IPv6 address/],
        ['b-attrs', { attrs: [1] }, 'attrs', /is not an object/],
        ['b-ts64', { ts64: 'soon' }, 'ts64', /neither RFC 3339/],
      );
    const events = [good('p-good-1'), ...bad.map(([id, over]) => good(id, over)), good('p-good-2')];
    const batch = await batchVia(sink, events);
    expect(batch.rowPoison?.map((p) => [p.event_id, p.column])).toEqual(
      bad.map(([id, , col]) => [id, col]),
    );
    for (const [i, [, , , reason]] of bad.entries())
      expect(batch.rowPoison![i].reason).toMatch(reason);
    // The poison row keeps the event as it arrived.
    expect(JSON.parse(batch.rowPoison![0].event)).toEqual(events[1]);
    const r = await sink.write(batch);
    // The workers' misfits are the uploader's to keep (before the first attempt): the sink
    // found no other refused row.
    expect(r.poisonRows).toBeUndefined();
    expect(
      (
        await q<{ event_id: string }>(
          `SELECT event_id FROM ${database}.typed WHERE event_id LIKE 'p-%' ORDER BY event_id`,
        )
      ).map((x) => x.event_id),
    ).toEqual(['p-good-1', 'p-good-2']);
    // Unknown fields are skipped: nothing went into the catch-all column.
    expect(
      await q(`SELECT rest FROM ${database}.typed WHERE event_id = 'p-good-1' AND rest != ''`),
    ).toEqual([]);
    await sink.close();
  });

  it('a batch the server refuses is bisected: 5000 rows with 3 bad → 4997 delivered, 3 poison rows with the server message, inserts bounded', async () => {
    const c = cfg({ table: 'events', name: 'envelope' });
    await migrate(c, MIGRATIONS, log);
    const sink = new ClickHouseSink(c, log, 30_000);
    const badAt = new Set([17, 2500, 4999]);
    const lines = Array.from({ length: 5000 }, (_, i) =>
      badAt.has(i)
        ? // The worker does not check envelope rows: the server refuses this one.
          `{"event_id":"bis-${i}","received_at":"not a time","source":"http","payload":"{}"}\n`
        : `{"event_id":"bis-${i}","received_at":1795400000,"source":"http","payload":"{\\"i\\":${i}}"}\n`,
    ).join('');
    const raw = Buffer.from(lines);
    const batch: EncodedBatch = {
      id: 'bisect-1',
      createdAt: Date.now(),
      events: 5000,
      rows: { body: gzipSync(raw), codec: 'gzip', rawBytes: raw.length },
    };
    const before = sink.inserts;
    const r = await sink.write(batch);
    const inserts = sink.inserts - before;
    expect(r.poisonRows?.map((p) => p.event_id).sort()).toEqual(['bis-17', 'bis-2500', 'bis-4999']);
    for (const p of r.poisonRows!) {
      expect(p.reason).toMatch(/^code \d+: /);
      expect(p.row).toContain('"not a time"');
    }
    expect(
      Number(
        (
          await q<{ c: string }>(
            `SELECT count() AS c FROM ${database}.events WHERE event_id LIKE 'bis-%'`,
          )
        )[0].c,
      ),
    ).toBe(4997);
    // 1 refused insert + the search: never more than the configured budget, and with the
    // server's row hints far fewer than plain halving (2 · 3 · log2(5000) ≈ 78).
    expect(inserts).toBeLessThanOrEqual(1 + 64);
    console.log(`[${target.name}] bisection of 5000 rows with 3 bad: ${inserts} inserts`);
    await sink.close();
  });

  it('with too small an insert budget the rows not yet placed go to poison too, none is lost or doubled', async () => {
    const c = cfg({ table: 'events', name: 'envelope', bisect_max_inserts: 2 });
    await migrate(c, MIGRATIONS, log);
    const sink = new ClickHouseSink(c, log, 30_000);
    const lines = Array.from({ length: 64 }, (_, i) =>
      i % 9 === 4
        ? `{"event_id":"tight-${i}","received_at":"not a time","source":"http","payload":"{}"}\n`
        : `{"event_id":"tight-${i}","received_at":1795400000,"source":"http","payload":"{}"}\n`,
    ).join('');
    const raw = Buffer.from(lines);
    const r = await sink.write({
      id: 'tight',
      createdAt: Date.now(),
      events: 64,
      rows: { body: raw, codec: 'none', rawBytes: raw.length },
    });
    const stored = (
      await q<{ event_id: string }>(
        `SELECT event_id FROM ${database}.events WHERE event_id LIKE 'tight-%'`,
      )
    ).map((x) => x.event_id);
    const poisoned = r.poisonRows!.map((p) => p.event_id);
    expect(new Set([...stored, ...poisoned]).size).toBe(64);
    expect(stored.length + poisoned.length).toBe(64);
    expect(r.poisonRows!.some((p) => /bisection's 2 inserts were spent/.test(p.reason))).toBe(true);
    await sink.close();
  });
});
