import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { CH_TARGETS, rig } from '../setup/rig.js';
import { s3SinkConfig } from '../helpers/stores.js';
import { startFerryProcess, post, type FerryProc } from '../helpers/ferry-proc.js';
import { runFerryCli, cliReport } from '../helpers/cli.js';

/**
 * `ferry replay` into typed, routed tables (docs/clickhouse.md "Routing", docs/operations.md
 * "Rebuilding ClickHouse"): a live ferry archives to S3 and writes columns-mode rows routed by a
 * field; the tables are emptied; the replay rebuilds exactly the rows the live pipeline wrote —
 * the same conversions, the same tables — and reports the event no column could take, as the
 * live sink poisoned it. On both ClickHouse targets.
 */
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

describe.each(CH_TARGETS)('ferry replay into typed, routed tables on $name', (target) => {
  const database = `ferry_it_replaycols_${run}_${target.service}`;
  const prefix = `replay-cols-${run}-${target.service}`;
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const tables = ['api_logs', 'other_logs'];
  const snapshot = async () =>
    Object.fromEntries(
      await Promise.all(
        tables.map(
          async (t) =>
            [t, await q(`SELECT * FROM ${database}.${t} ORDER BY event_id`)] as [string, unknown],
        ),
      ),
    );
  let f: FerryProc;
  let live: Record<string, unknown>;
  const replayAll = () =>
    runFerryCli([
      'replay',
      '--config',
      join(f.stateDir, 'ferry.yaml'),
      '--from',
      `s3://${rig.s3.bucket}/${prefix}/`,
      '--yes',
    ]);

  beforeAll(async () => {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await ch.command({
      query: `CREATE TABLE ${database}.api_logs (event_id String, received_at DateTime, source String, msg String, status UInt16, user_id String) ENGINE = MergeTree() ORDER BY event_id`,
    });
    await ch.command({
      query: `CREATE TABLE ${database}.other_logs (event_id String, received_at DateTime, source String, msg String, n Int32, user_id String) ENGINE = MergeTree() ORDER BY event_id`,
    });
    f = await startFerryProcess({
      sinks: [
        s3SinkConfig(`${prefix}/dt={date}/hour={hour}/{host}-{batch_id}{ext}`),
        {
          name: 'typed',
          type: 'clickhouse',
          url: target.url,
          database,
          table: 'other_logs',
          columns: { paths: { user_id: 'user.id' } },
          route: { field: 'svc', tables: { api: 'api_logs' } },
        },
      ],
      batch: { max_age_ms: 100, max_events: 40 },
    });
    const evs: Record<string, unknown>[] = [];
    for (let i = 0; i < 120; i++)
      evs.push(
        i % 3 === 0
          ? { event_id: `o${i}`, svc: 'db', msg: `other ${i}`, n: -i }
          : { svc: 'api', msg: `api ${i} é`, status: 200 + (i % 5), user: { id: `u${i % 7}` } },
      );
    // One a column cannot take (status 70000 does not fit UInt16): a poison row, live and replayed.
    evs.push({ event_id: 'too-big', svc: 'api', msg: 'x', status: 70_000, user: { id: 'u0' } });
    for (let i = 0; i < evs.length; i += 30) {
      const body = evs
        .slice(i, i + 30)
        .map((e) => JSON.stringify(e))
        .join('\n');
      expect((await post(f.url, body, { ack: 'delivered' })).status).toBe(200);
    }
    live = await snapshot();
  }, 120_000);

  afterAll(async () => {
    f?.kill('SIGTERM');
    if (f) await f.exited;
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  it('rebuilds each table with exactly the rows the live pipeline wrote, and reports the misfit', async () => {
    expect((live.api_logs as unknown[]).length).toBe(80);
    expect((live.other_logs as unknown[]).length).toBe(40);
    expect((live.api_logs as Record<string, unknown>[])[0]).toMatchObject({
      status: expect.any(Number),
      user_id: expect.stringMatching(/^u\d$/),
    });
    for (const t of tables) await ch.command({ query: `TRUNCATE TABLE ${database}.${t}` });
    expect(await snapshot()).toEqual({ api_logs: [], other_logs: [] });

    const r = await replayAll();
    expect(r.code, r.stderr).toBe(0);
    const rep = cliReport(r);
    expect(rep).toMatchObject({ outcome: 'done', eventsDone: 121, poisonRows: 1 });
    expect(rep.poisonSample).toEqual([
      expect.objectContaining({ event_id: 'too-big', column: 'status' }),
    ]);
    expect(await snapshot()).toEqual(live);
    // verify counts the routed tables together: every event but the misfit.
    const v = await runFerryCli([
      'verify',
      '--config',
      join(f.stateDir, 'ferry.yaml'),
      '--from',
      `s3://${rig.s3.bucket}/${prefix}/`,
    ]);
    expect(cliReport(v)).toMatchObject({ archiveEvents: 121, tableEvents: 120 });
    expect(v.code).toBe(1);
  }, 120_000);

  it('a table that does not fit the columns config stops a start at once, not after 30 s of retries', async () => {
    const started = Date.now();
    await expect(
      startFerryProcess({
        sinks: [
          {
            name: 'typed',
            type: 'clickhouse',
            url: target.url,
            database,
            table: 'other_logs',
            columns: { paths: { no_such_column: 'x' } },
          },
        ],
      }),
    ).rejects.toThrow(/names column no_such_column, which the table does not have/);
    expect(Date.now() - started).toBeLessThan(15_000);
  }, 60_000);

  it('a routed table that does not exist stops the replay before it inserts anything', async () => {
    await ch.command({ query: `TRUNCATE TABLE ${database}.other_logs` });
    await ch.command({ query: `DROP TABLE ${database}.api_logs` });
    const r = await replayAll();
    expect(r.code).not.toBe(0);
    expect(r.stderr + r.stdout).toMatch(/api_logs does not exist/);
    expect(await q(`SELECT event_id FROM ${database}.other_logs`)).toEqual([]);
  }, 60_000);
});
