import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { Client } from '@elastic/elasticsearch';
import { CH_TARGETS, startService, stopService } from '../setup/rig.js';
import { startFerryProcess, post, type FerryProc } from '../helpers/ferry-proc.js';
import { reloadAndWait, rewriteConfig } from '../helpers/reload.js';

/**
 * A running ferry routing events to ClickHouse tables (docs/clickhouse.md "Routing"), on both
 * targets: each table holds exactly its events, unmatched ones go to the default table or — when
 * refused — to the poison area with the reason (and a metric), a reload adds a route, and with the
 * server down the routed batches wait in the DLQ and land in their own tables once it is back.
 */
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const ENVELOPE = 'event_id String, received_at DateTime, source String, payload String';

describe.each(CH_TARGETS)('ferry → ClickHouse routing on $name', (target) => {
  const database = `ferry_it_route_${run}`;
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  /** event_ids in a table, sorted. */
  const idsIn = async (table: string) =>
    (
      await q<{ event_id: string }>(`SELECT event_id FROM ${database}.${table} ORDER BY event_id`)
    ).map((r) => r.event_id);
  const ndjson = (evs: unknown[]) => evs.map((e) => JSON.stringify(e)).join('\n');

  beforeAll(async () => {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    for (const t of ['api', 'web', 'other', 'dbt'])
      await ch.command({
        query: `CREATE TABLE ${database}.${t} (${ENVELOPE}) ENGINE = MergeTree() ORDER BY event_id`,
      });
    await ch.command({
      query: `CREATE TABLE ${database}.logs_a (event_id String, msg String, n UInt8) ENGINE = MergeTree() ORDER BY event_id`,
    });
    await ch.command({
      query: `CREATE TABLE ${database}.logs_b (event_id String, msg String) ENGINE = MergeTree() ORDER BY event_id`,
    });
  });

  afterAll(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  describe('envelope mode, by a field of the event', () => {
    let f: FerryProc;
    const config = (tables: Record<string, string>) => ({
      sinks: [
        {
          name: 'wh',
          type: 'clickhouse',
          url: target.url,
          database,
          table: 'other',
          route: { field: 'service.name', tables },
        },
      ],
      batch: { max_age_ms: 100, max_events: 500 },
      retry: { initial_ms: 100, max_ms: 500, max_elapsed_ms: 2000, attempt_timeout_ms: 2000 },
    });

    beforeAll(async () => {
      f = await startFerryProcess(config({ api: 'api', web: 'web' }));
    });
    afterAll(async () => {
      f?.kill();
      if (f) await f.exited;
    });

    it('each table holds exactly its events; unmatched and absent values go to the default table', async () => {
      const evs = [
        { event_id: 'a1', service: { name: 'api' } },
        { event_id: 'w1', service: { name: 'web' } },
        { event_id: 'a2', service: { name: 'api' }, msg: 'x' },
        { event_id: 'd1', service: { name: 'db' } },
        { event_id: 'n1', msg: 'no service' },
        { event_id: 'w2', 'service.name': 'web' },
      ];
      const r = await post(f.url, ndjson(evs), { ack: 'delivered' });
      expect(r.status).toBe(200);
      expect(await idsIn('api')).toEqual(['a1', 'a2']);
      expect(await idsIn('web')).toEqual(['w1', 'w2']);
      expect(await idsIn('other')).toEqual(['d1', 'n1']);
      // The envelope row is today's: the payload as it arrived.
      expect(await q(`SELECT source, payload FROM ${database}.api WHERE event_id = 'a2'`)).toEqual([
        { source: 'http', payload: JSON.stringify(evs[2]) },
      ]);
    });

    it('a reload adds a route: the new value goes to its table from then on', async () => {
      rewriteConfig(f, config({ api: 'api', web: 'web', db: 'dbt' }));
      const outcome = await reloadAndWait(f);
      expect(String(outcome.msg)).toMatch(/^config reloaded/);
      const r = await post(
        f.url,
        ndjson([
          { event_id: 'd2', service: { name: 'db' } },
          { event_id: 'a3', service: { name: 'api' } },
        ]),
        { ack: 'delivered' },
      );
      expect(r.status).toBe(200);
      expect(await idsIn('dbt')).toEqual(['d2']);
      expect(await idsIn('api')).toEqual(['a1', 'a2', 'a3']);
      expect(await idsIn('other')).toEqual(['d1', 'n1']);
    });

    it('ClickHouse down: routed batches wait in the DLQ, then every table is complete', async () => {
      await stopService(target.service);
      let up = false;
      try {
        for (let i = 0; i < 3; i++) {
          const r = await post(
            f.url,
            ndjson([
              { event_id: `o-api-${i}`, service: { name: 'api' } },
              { event_id: `o-web-${i}`, service: { name: 'web' } },
              { event_id: `o-db-${i}`, service: { name: 'db' } },
              { event_id: `o-x-${i}`, service: { name: 'x' } },
            ]),
            { ack: 'delivered' },
          );
          // ack=delivered answers 200 once the batch is fsync'd in the DLQ.
          expect(r.status).toBe(200);
        }
        const spooled = readdirSync(join(f.stateDir, 'dlq', 'wh')).filter((n) =>
          n.endsWith('.fdq'),
        );
        expect(spooled.length).toBeGreaterThan(0);
        await startService(target.service);
        up = true;
        const want = (p: string) => [0, 1, 2].map((i) => `o-${p}-${i}`);
        const deadline = Date.now() + 90_000;
        for (;;) {
          const got = {
            api: (await idsIn('api')).filter((x) => x.startsWith('o-')),
            web: (await idsIn('web')).filter((x) => x.startsWith('o-')),
            dbt: (await idsIn('dbt')).filter((x) => x.startsWith('o-')),
            other: (await idsIn('other')).filter((x) => x.startsWith('o-')),
          };
          const expected = {
            api: want('api'),
            web: want('web'),
            dbt: want('db'),
            other: want('x'),
          };
          if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() > deadline) {
            expect(got).toEqual(expected);
            break;
          }
          await new Promise((r) => setTimeout(r, 500));
        }
        // Nothing twice: one insert per table per batch, however often the batch was tried.
        for (const t of ['api', 'web', 'dbt', 'other'])
          expect(
            Number((await q<{ c: string }>(`SELECT count() AS c FROM ${database}.${t}`))[0].c),
            t,
          ).toBe(new Set(await idsIn(t)).size);
      } finally {
        if (!up) await startService(target.service);
      }
    }, 240_000);
  });

  describe('columns mode, by the _bulk _index, unmatched refused', () => {
    let f: FerryProc;
    const config = (tables: Record<string, string>) => ({
      sinks: [
        {
          name: 'typed',
          type: 'clickhouse',
          url: target.url,
          database,
          table: 'logs_a',
          columns: { received_at_column: '', source_column: '' },
          route: { by: 'index', tables, unmatched: 'refuse' },
        },
      ],
      batch: { max_age_ms: 100, max_events: 500 },
    });
    beforeAll(async () => {
      f = await startFerryProcess(config({ 'logs-a': 'logs_a', 'logs-b': 'logs_b' }));
    });
    afterAll(async () => {
      f?.kill();
      if (f) await f.exited;
    });

    it('the Elasticsearch client’s documents land typed in the table of their _index; the others are poison rows with the reason, counted', async () => {
      const es = new Client({ node: f.url });
      try {
        const operations: unknown[] = [];
        const doc = (index: string, id: string, body: Record<string, unknown>) =>
          operations.push({ index: { _index: index, _id: id } }, body);
        doc('logs-a', 'b-a1', { msg: 'one', n: 1 });
        doc('logs-b', 'b-b1', { msg: 'two' });
        doc('logs-c', 'b-c1', { msg: 'nowhere' });
        doc('logs-a', 'b-a2', { msg: 'three', n: 3 });
        doc('logs-a', 'b-a3', { msg: 'too big', n: 300 });
        const res = await es.bulk({ operations, refresh: false });
        expect(res.errors).toBe(false);
      } finally {
        await es.close();
      }
      const deadline = Date.now() + 30_000;
      while (
        (await idsIn('logs_a')).length + (await idsIn('logs_b')).length < 3 &&
        Date.now() < deadline
      )
        await new Promise((r) => setTimeout(r, 200));
      expect(await q(`SELECT event_id, msg, n FROM ${database}.logs_a ORDER BY event_id`)).toEqual([
        { event_id: 'b-a1', msg: 'one', n: 1 },
        { event_id: 'b-a2', msg: 'three', n: 3 },
      ]);
      expect(await q(`SELECT event_id, msg FROM ${database}.logs_b ORDER BY event_id`)).toEqual([
        { event_id: 'b-b1', msg: 'two' },
      ]);
      const dir = join(f.stateDir, 'dlq', 'typed', 'poison', 'rows');
      let rows: Record<string, unknown>[] = [];
      while (Date.now() < deadline) {
        rows = readdirSync(dir, { withFileTypes: true })
          .filter((e) => e.isFile())
          .flatMap((e) =>
            readFileSync(join(dir, e.name), 'utf8')
              .trim()
              .split('\n')
              .map((l) => JSON.parse(l) as Record<string, unknown>),
          );
        if (rows.length >= 2) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const byId = new Map(rows.map((r) => [r.event_id, r]));
      expect([...byId.keys()].sort()).toEqual(['b-a3', 'b-c1']);
      expect(byId.get('b-c1')).toMatchObject({
        sink: 'typed',
        column: '_index',
        reason: 'no route for _index = "logs-c"',
        unrouted: true,
      });
      expect(JSON.parse(byId.get('b-c1')!.event as string)).toEqual({ msg: 'nowhere' });
      expect(byId.get('b-a3')).toMatchObject({ column: 'n' });
      const metrics = await (await fetch(`${f.url}/metrics`)).text();
      expect(metrics).toMatch(/^clickhouse_unrouted_events_total\{sink="typed"\} 1$/m);
    });

    it('a reload adds a route to a new typed table: its schema is read, its documents land typed', async () => {
      await ch.command({
        query: `CREATE TABLE ${database}.logs_c (event_id String, msg String, lvl Int8) ENGINE = MergeTree() ORDER BY event_id`,
      });
      rewriteConfig(f, config({ 'logs-a': 'logs_a', 'logs-b': 'logs_b', 'logs-c': 'logs_c' }));
      const outcome = await reloadAndWait(f);
      expect(String(outcome.msg)).toMatch(/^config reloaded/);
      const es = new Client({ node: f.url });
      try {
        const res = await es.bulk({
          operations: [
            { index: { _index: 'logs-c', _id: 'r-c1' } },
            { msg: 'routed now', lvl: -2 },
            { create: { _index: 'logs-b', _id: 'r-b1' } },
            { msg: 'still b' },
          ],
        });
        expect(res.errors).toBe(false);
      } finally {
        await es.close();
      }
      const deadline = Date.now() + 30_000;
      while ((await idsIn('logs_c')).length < 1 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(await q(`SELECT event_id, msg, lvl FROM ${database}.logs_c`)).toEqual([
        { event_id: 'r-c1', msg: 'routed now', lvl: -2 },
      ]);
      while ((await idsIn('logs_b')).length < 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 200));
      expect(await idsIn('logs_b')).toEqual(['b-b1', 'r-b1']);
    });
  });
});
