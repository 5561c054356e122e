/**
 * ClickHouse routing (docs/clickhouse.md "Routing"): the route config and its checks, the worker's
 * choice of table, the rows part's per-table sections (each compressed on its own), and their
 * round trip through the DLQ (and the poison area), old single-table records included.
 */
import { afterEach, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gunzipSync, gzipSync } from 'node:zlib';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { parseBody } from '../../workers/parse.js';
import { routeEvent } from '../../workers/route.js';
import { BodyFormat } from '../../src/rings/record.js';
import type { BatchLimits, EncodedBatch } from '../../src/contracts/batch.js';
import {
  buildRoutePlan,
  routeConfigProblems,
  routeTables,
  type RouteConfig,
} from '../../src/sinks/clickhouse/route-plan.js';
import { sectionsOf, sectionsProblem } from '../../src/sinks/clickhouse/sections.js';
import { buildRowPlan } from '../../src/sinks/clickhouse/row-plan.js';
import { SinkDlq } from '../../src/dlq/sink-dlq.js';
import { SinkError } from '../../src/sinks/errors.js';
import { poisonBatch, readPoison, listPoison } from '../../src/dlq/poison.js';
import {
  ScriptedSink,
  configOf,
  removeTmpDirs,
  segmentRecords,
  silentLog,
  tmpDir,
} from '../helpers/scripted-sink.js';

const enc = new TextEncoder();
const dec = new TextDecoder();

afterEach(() => removeTmpDirs());

describe('route config', () => {
  const ok: RouteConfig = { field: 'service.name', tables: { api: 'api_logs', web: 'web_logs' } };

  it('accepts a bounded set of valid tables and names every problem at its key', () => {
    expect(routeConfigProblems(ok)).toEqual([]);
    expect(routeConfigProblems({ by: 'index', tables: { a: 'a' } })).toEqual([]);
    const bad = routeConfigProblems({
      by: 'source',
      field: 'x',
      tables: { a: 'bad-name', b: 'ok' },
      unmatched: 'refuse',
      default_table: 'd',
    });
    expect(bad.map((p) => p.key)).toEqual(['field', 'tables.a', 'default_table']);
    expect(routeConfigProblems({ tables: { a: 'a' } })[0]).toMatchObject({ key: 'field' });
    expect(routeConfigProblems({ field: 'a', tables: {} })[0]).toMatchObject({ key: 'tables' });
    const many = Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`v${i}`, `t${i}`]));
    expect(routeConfigProblems({ field: 'a', tables: many })[0].message).toMatch(/at most 256/);
  });

  it('the loader refuses a bad route with the key path, and more than one ClickHouse sink is not needed for it', () => {
    const sink = (route: unknown) => ({
      sinks: [{ type: 'clickhouse', name: 'ch', url: 'http://127.0.0.1:1', route }],
    });
    expect(() => configOf(sink({ field: 'a', tables: { x: 'no-dash' } }))).toThrow(/route/);
    expect(() => configOf(sink({ by: 'index', field: 'a', tables: { x: 't' } }))).toThrow(
      /route\.field/,
    );
    expect(() => configOf(sink({ by: 'somewhere', tables: { x: 't' } }))).toThrow();
    const cfg = configOf(sink({ field: 'svc', tables: { x: 't' } }));
    const s = cfg.sinks[0];
    expect(s.type === 'clickhouse' && s.route).toMatchObject({
      by: 'field',
      unmatched: 'default',
    });
  });

  it('plans distinct tables in order, the default table last and only when used', () => {
    expect(routeTables({ ...ok, tables: { a: 't1', b: 't2', c: 't1' } }, 'events')).toEqual([
      't1',
      't2',
      'events',
    ]);
    expect(routeTables({ ...ok, default_table: 't2', tables: { a: 't1', b: 't2' } }, 'e')).toEqual([
      't1',
      't2',
    ]);
    expect(routeTables({ ...ok, unmatched: 'refuse' }, 'events')).toEqual(['api_logs', 'web_logs']);
    const p = buildRoutePlan({ ...ok, tables: { a: 't1', b: 't2', c: 't1' } }, 'events');
    expect(p.values).toEqual({ a: 0, b: 1, c: 0 });
    expect(p.unmatched).toBe(2);
    expect(p.by).toEqual({ kind: 'field', path: ['service', 'name'] });
    expect(buildRoutePlan({ ...ok, unmatched: 'refuse' }, 'e').unmatched).toBe('refuse');
    expect(() => buildRoutePlan({ tables: { a: 'b' } }, 'e')).toThrow(/route\.field/);
  });
});

describe('routeEvent (worker)', () => {
  const plan = buildRoutePlan(
    {
      field: 'service.name',
      tables: { api: 'api', '7': 'seven', true: 'yes' },
      unmatched: 'refuse',
    },
    'events',
  );
  const ev = (o: unknown) => ({ bytes: enc.encode(JSON.stringify(o)) });

  it('takes the value at the dotted path (nested, or a literal dotted key), scalars as their text', () => {
    const t = (name: string) => ({ table: plan.tables.indexOf(name) });
    expect(routeEvent(plan, ev({ service: { name: 'api' } }), 's')).toEqual(t('api'));
    expect(routeEvent(plan, ev({ 'service.name': 'api' }), 's')).toEqual(t('api'));
    expect(routeEvent(plan, ev({ service: { name: 7 } }), 's')).toEqual(t('seven'));
    expect(routeEvent(plan, ev({ service: { name: true } }), 's')).toEqual(t('yes'));
    expect(routeEvent(plan, { text: '{"service":{"name":"api"}}' }, 's')).toEqual(t('api'));
    // An escaped key is the same key: the byte shortcut must not call it absent.
    expect(
      routeEvent(plan, { bytes: enc.encode('{"serv\\u0069ce":{"name":"api"}}') }, 's'),
    ).toEqual(t('api'));
  });

  it('reading the field from the bytes decides exactly as JSON.parse does (same table, same reason)', () => {
    const svc = buildRoutePlan(
      {
        field: 'svc',
        tables: { a: 'ta', b: 'tb', '7': 't7', '100': 't100', '0': 't0', true: 'tt' },
        unmatched: 'refuse',
      },
      'e',
    );
    const nested = buildRoutePlan(
      { field: 'svc.name', tables: { a: 'ta', b: 'tb', '7': 't7' }, unmatched: 'refuse' },
      'e',
    );
    const same = (text: string) => {
      for (const plan of [svc, nested]) {
        const viaBytes = routeEvent(plan, { bytes: enc.encode(text) }, 's');
        const viaParse = routeEvent(plan, { text }, 's');
        expect(viaBytes, `${plan.what} in ${text}`).toEqual(viaParse);
      }
    };
    for (const text of [
      '{"svc":"a","svc":"b"}',
      '{"svc":7.0}',
      '{"svc":1e2}',
      '{"svc":-0}',
      '{"svc":007}'.replace('007', '7'),
      '{"a":{"svc":"x"},"svc":"a"}',
      '{ "svc" : "b" , "x" : [ "svc" , { "svc" : 1 } ] }',
      '{"x":"\\"svc\\":\\"a\\"","svc":"b"}',
      '{"sv\\u0063":"a"}',
      '{"svc":"\\u0061"}',
      '{"svc":{"name":"a"},"svc.name":"b"}',
      '{"svc":{"other":1},"svc.name":"b"}',
      '{"svc.name":"a"}',
      '{"svc":null}',
      '{"svc":true,"n":false}',
      '{"svc":{"name":7}}',
      '{"svc":[1]}',
      '{}',
    ])
      same(text);
    const key = fc.constantFrom('svc', 'name', 'svc.name', 'x', 'sv\\u0063');
    const scalar = fc.oneof(
      fc.constantFrom('a', 'b', '7', 'zz', 'é', 'a"b'),
      fc.constantFrom(7, 100, 0, -0, 7.5, 1e21, -3),
      fc.boolean(),
      fc.constant(null),
    );
    const value = fc.letrec((tie) => ({
      v: fc.oneof({ depthSize: 'small' }, scalar, fc.array(tie('v'), { maxLength: 2 }), tie('o')),
      o: fc.dictionary(key, tie('v'), { maxKeys: 4 }),
    }));
    fc.assert(
      fc.property(value.o, (o) => same(JSON.stringify(o))),
      { numRuns: 500 },
    );
  });

  it('says why no route took an event', () => {
    const why = (o: unknown) => (routeEvent(plan, ev(o), 's') as { reason: string }).reason;
    expect(why({ service: { name: 'db' } })).toBe('no route for service.name = "db"');
    expect(why({ other: 1 })).toBe('no route for service.name (absent)');
    expect(why({ service: { name: null } })).toBe('no route for service.name (null, not a scalar)');
    expect(why({ service: { name: ['api'] } })).toBe(
      'no route for service.name (object, not a scalar)',
    );
  });

  it('routes by the _bulk index or the source; unmatched to the default table', () => {
    const byIndex = buildRoutePlan({ by: 'index', tables: { 'logs-a': 'a' } }, 'events');
    expect(routeEvent(byIndex, { text: '{}', index: 'logs-a' }, 's')).toEqual({ table: 0 });
    expect(routeEvent(byIndex, { text: '{}', index: 'logs-b' }, 's')).toEqual({ table: 1 });
    expect(routeEvent(byIndex, { text: '{}' }, 's')).toEqual({ table: 1 });
    const refuse = buildRoutePlan({ by: 'index', tables: { x: 'a' }, unmatched: 'refuse' }, 'e');
    expect(routeEvent(refuse, { text: '{}' }, 's')).toMatchObject({
      table: -1,
      reason: 'no route for _index (the event came through no _bulk index)',
    });
    const bySource = buildRoutePlan({ by: 'source', tables: { 'tok-a': 'a' } }, 'events');
    expect(routeEvent(bySource, { text: '{}' }, 'tok-a')).toEqual({ table: 0 });
    expect(routeEvent(bySource, { text: '{}' }, 'tok-b')).toEqual({ table: 1 });
  });
});

/** Seal NDJSON events into one batch with these limits. */
function seal(limits: Partial<BatchLimits>, events: unknown[], source = 'tok'): EncodedBatch {
  let sealed: SealedBatch | undefined;
  const b = new Batcher(
    {
      maxEvents: 1_000_000,
      maxBytes: 1 << 30,
      maxAgeMs: 60_000,
      codec: 'none',
      level: 0,
      archive: false,
      rows: true,
      compressRows: true,
      ...limits,
    },
    (s) => (sealed = s),
  );
  const parsed = parseBody(
    BodyFormat.Ndjson,
    enc.encode(events.map((e) => JSON.stringify(e)).join('\n')),
  );
  if (!parsed.ok) throw new Error(parsed.message);
  b.appendRequest(1, parsed.events, 1_700_000_000_000, source);
  b.sealIfDue(Date.now(), true);
  return sealed!.batch;
}

const rowsOf = (body: Uint8Array, gz: boolean) =>
  dec
    .decode(gz ? gunzipSync(body) : body)
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('routed rows part (batcher)', () => {
  const routes = buildRoutePlan({ field: 'svc', tables: { a: 'ta', b: 'tb' } }, 'events');
  const events = [
    { event_id: 'e1', svc: 'a' },
    { event_id: 'e2', svc: 'b' },
    { event_id: 'e3', svc: 'zz' },
    { event_id: 'e4', svc: 'a' },
  ];

  it('one section per table, each a gzip of its own; the whole body is still one valid gzip', () => {
    const batch = seal({ routes }, events);
    const part = batch.rows!;
    expect(part.sections!.map((s) => [s.table, s.rows])).toEqual([
      ['ta', 2],
      ['tb', 1],
      ['events', 1],
    ]);
    const got = sectionsOf(part, 'ignored').map((s) => [
      s.table,
      rowsOf(s.body, true).map((r) => r.event_id),
    ]);
    expect(got).toEqual([
      ['ta', ['e1', 'e4']],
      ['tb', ['e2']],
      ['events', ['e3']],
    ]);
    // Each section's rawBytes is its own length; together they are the part's.
    for (const s of sectionsOf(part, 'x')) expect(gunzipSync(s.body).length).toBe(s.rawBytes);
    expect(
      rowsOf(part.body, true)
        .map((r) => r.event_id)
        .sort(),
    ).toEqual(['e1', 'e2', 'e3', 'e4']);
    // Envelope shape in every table.
    expect(Object.keys(rowsOf(sectionsOf(part, 'x')[0].body, true)[0])).toEqual([
      'event_id',
      'received_at',
      'source',
      'payload',
    ]);
    expect(batch.rowPoison).toBeUndefined();
  });

  it('uncompressed sections too; refused events become unrouted poison rows, not rows', () => {
    const refuse = buildRoutePlan(
      { field: 'svc', tables: { a: 'ta', b: 'tb' }, unmatched: 'refuse' },
      'events',
    );
    const batch = seal({ routes: refuse, compressRows: false }, events);
    expect(batch.rows!.sections!.map((s) => s.table)).toEqual(['ta', 'tb']);
    expect(rowsOf(sectionsOf(batch.rows!, 'x')[1].body, false).map((r) => r.event_id)).toEqual([
      'e2',
    ]);
    expect(batch.rowPoison).toEqual([
      {
        event_id: 'e3',
        column: 'svc',
        reason: 'no route for svc = "zz"',
        event: JSON.stringify(events[2]),
        unrouted: true,
      },
    ]);
  });

  it('columns mode: each table converted by its own plan', () => {
    const pa = buildRowPlan(
      'db.ta',
      [
        { name: 'event_id', type: 'String' },
        { name: 'n', type: 'UInt8' },
      ],
      {},
    );
    const pb = buildRowPlan(
      'db.tb',
      [
        { name: 'event_id', type: 'String' },
        { name: 'svc', type: 'String' },
      ],
      {},
    );
    const pe = buildRowPlan('db.events', [{ name: 'event_id', type: 'String' }], {});
    const plan = buildRoutePlan({ field: 'svc', tables: { a: 'ta', b: 'tb' } }, 'events', [
      pa,
      pb,
      pe,
    ]);
    const batch = seal({ routes: plan }, [
      { event_id: 'e1', svc: 'a', n: 5 },
      { event_id: 'e2', svc: 'b', n: 5 },
      { event_id: 'e3', svc: 'a', n: 300 },
      { event_id: 'e4', svc: 'q' },
    ]);
    const s = sectionsOf(batch.rows!, 'x');
    expect(s.map((x) => [x.table, rowsOf(x.body, true)])).toEqual([
      ['ta', [{ event_id: 'e1', n: 5 }]],
      ['tb', [{ event_id: 'e2', svc: 'b' }]],
      ['events', [{ event_id: 'e4' }]],
    ]);
    expect(batch.rows!.sections!.map((x) => x.rows)).toEqual([1, 1, 1]);
    expect(batch.rowPoison).toMatchObject([{ event_id: 'e3', column: 'n' }]);
    expect(batch.rowPoison![0].unrouted).toBeUndefined();
  });

  it('a reload that changes the routes applies from the next batch', () => {
    let sealed: SealedBatch[] = [];
    const limits: BatchLimits = {
      maxEvents: 2,
      maxBytes: 1 << 30,
      maxAgeMs: 60_000,
      codec: 'none',
      level: 0,
      archive: false,
      rows: true,
      compressRows: false,
      routes,
    };
    const b = new Batcher(limits, (s) => sealed.push(s));
    const p = (o: unknown[]) => {
      const r = parseBody(
        BodyFormat.Ndjson,
        enc.encode(o.map((x) => JSON.stringify(x)).join('\n')),
      );
      if (!r.ok) throw new Error(r.message);
      return r.events;
    };
    b.appendRequest(1, p([{ event_id: 'x1', svc: 'c' }]), 1, 's');
    b.setLimits({
      ...limits,
      routes: buildRoutePlan({ field: 'svc', tables: { a: 'ta', c: 'tc' } }, 'events'),
    });
    b.appendRequest(
      2,
      p([
        { event_id: 'x2', svc: 'c' },
        { event_id: 'x3', svc: 'c' },
      ]),
      1,
      's',
    );
    b.sealIfDue(Date.now(), true);
    expect(sealed.map((s) => s.batch.rows!.sections!.map((x) => [x.table, x.rows]))).toEqual([
      [['events', 2]],
      [['tc', 1]],
    ]);
    sealed = [];
  });
});

describe('sections', () => {
  it('a part without sections is the one table; bad sections are refused', () => {
    const body = gzipSync('{"a":1}\n');
    expect(sectionsOf({ body, codec: 'gzip', rawBytes: 8 }, 'events')).toEqual([
      { table: 'events', body, rawBytes: 8 },
    ]);
    expect(sectionsProblem([{ table: 't', bytes: 3, rawBytes: 3, rows: 1 }], 4)).toMatch(
      /3 bytes of a 4-byte body/,
    );
    expect(sectionsProblem([{ table: 'x;drop', bytes: 4, rawBytes: 3, rows: 1 }], 4)).toMatch(
      /not a table name/,
    );
    expect(() =>
      sectionsOf(
        {
          body,
          codec: 'gzip',
          rawBytes: 8,
          sections: [{ table: 't', bytes: 1, rawBytes: 1, rows: 1 }],
        },
        'e',
      ),
    ).toThrow(/sections take 1 bytes/);
  });
});

describe('DLQ round trip of a routed batch', () => {
  const dlqOf = () =>
    new SinkDlq(
      new ScriptedSink('ch', 'rows'),
      tmpDir('ferry-route-dlq-'),
      { maxBytes: 1 << 30, maxFiles: 1000, segmentMaxBytes: 1 << 20, policy: 'reject' },
      1,
      silentLog,
      { dropped: () => {}, expiredFile: () => {}, changed: () => {} },
    );
  const routes = buildRoutePlan({ by: 'source', tables: { 'tok-a': 'ta' } }, 'events');

  it('keeps the sections in the record head; the batch read back has the same tables and rows', async () => {
    const d = dlqOf();
    const batch = seal({ routes }, [{ event_id: 'r1' }, { event_id: 'r2' }], 'tok-a');
    const other = seal({ routes }, [{ event_id: 'r3' }], 'tok-b');
    const both: EncodedBatch = {
      ...batch,
      rows: {
        body: Buffer.concat([batch.rows!.body, other.rows!.body]),
        codec: 'gzip',
        rawBytes: batch.rows!.rawBytes + other.rows!.rawBytes,
        sections: [...batch.rows!.sections!, ...other.rows!.sections!],
      },
    };
    await d.spool(both, new SinkError('down', { retryable: true, errorClass: 'network' }));
    const onDisk = await segmentRecords(d.dir);
    expect(onDisk[0].head.sections!.map((s) => s.table)).toEqual(['ta', 'events']);
    const back = await d.batchOf(d.store.pendingRecords()[0]);
    expect(back.rows!.sections).toEqual(both.rows!.sections);
    expect(
      sectionsOf(back.rows!, 'x').map((s) => [
        s.table,
        rowsOf(s.body, true).map((r) => r.event_id),
      ]),
    ).toEqual([
      ['ta', ['r1', 'r2']],
      ['events', ['r3']],
    ]);
    await d.store.close();
  });

  it('an old record (one rows part, no sections) still reads back as the sink table', async () => {
    const d = dlqOf();
    const body = gzipSync('{"event_id":"o1"}\n');
    await d.spool(
      { id: 'old', createdAt: 1, events: 1, rows: { body, codec: 'gzip', rawBytes: 18 } },
      undefined,
    );
    const onDisk = await segmentRecords(d.dir);
    expect('sections' in onDisk[0].head).toBe(false);
    const back = await d.batchOf(d.store.pendingRecords()[0]);
    expect(sectionsOf(back.rows!, 'events').map((s) => [s.table, rowsOf(s.body, true)])).toEqual([
      ['events', [{ event_id: 'o1' }]],
    ]);
    await d.store.close();
  });

  it('the poison area keeps the sections too, so a replay after a fix goes to the right tables', async () => {
    const d = dlqOf();
    const batch = seal({ routes }, [{ event_id: 'p1' }], 'tok-a');
    await d.poison(batch, new SinkError('refused', { retryable: false, errorClass: 'rejected' }));
    const names = await listPoison(d.poisonDir);
    const e = await readPoison(d.poisonDir, names[0]);
    expect(e.meta.sections).toEqual(batch.rows!.sections);
    const back = await poisonBatch(e);
    expect(sectionsOf(back.rows!, 'x').map((s) => s.table)).toEqual(['ta']);
    await d.store.close();
  });
});
