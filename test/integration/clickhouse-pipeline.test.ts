import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClient } from '@clickhouse/client';
import { CH_TARGETS } from '../setup/rig.js';
import { startFerryProcess, post, type FerryProc } from '../helpers/ferry-proc.js';
import { reloadAndWait, rewriteConfig } from '../helpers/reload.js';

/**
 * A running ferry in ClickHouse columns mode, on both targets: NDJSON over HTTP lands in the
 * operator's typed table, a misfit event goes to the sink's poison area while the rest of its
 * request is delivered, and a reload picks up a column added to the table.
 */
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;

describe.each(CH_TARGETS)('ferry → ClickHouse columns mode on $name', (target) => {
  const database = `ferry_it_pipe_${run}`;
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  let f: FerryProc;
  const config = () => ({
    sinks: [
      {
        name: 'wh',
        type: 'clickhouse',
        url: target.url,
        database,
        table: 'app',
        columns: { paths: { user_id: 'user.id' }, source_column: 'src' },
      },
    ],
    batch: { max_age_ms: 100, max_events: 500 },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 60000, attempt_timeout_ms: 5000 },
  });

  beforeAll(async () => {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await ch.command({
      query: `CREATE TABLE ${database}.app (event_id String, received_at DateTime, src String, user_id UInt32, level Int8, msg String) ENGINE = MergeTree() ORDER BY event_id`,
    });
    f = await startFerryProcess(config());
  });

  afterAll(async () => {
    f?.kill();
    if (f) await f.exited;
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  it('typed rows from NDJSON; the misfit event goes to the poison area, its request is still answered 200', async () => {
    const lines = [
      { event_id: 'e1', user: { id: 1 }, level: 2, msg: 'one', other: 'skipped' },
      { event_id: 'e2', user: { id: 2 }, level: 300, msg: 'too loud' },
      { event_id: 'e3', user: { id: 3 }, msg: 'three' },
    ];
    // ack=delivered: the rows are read right after the answer.
    const r = await post(f.url, lines.map((l) => JSON.stringify(l)).join('\n'), {
      ack: 'delivered',
    });
    expect(r.status).toBe(200);
    expect(
      await q(`SELECT event_id, src, user_id, level, msg FROM ${database}.app ORDER BY event_id`),
    ).toEqual([
      { event_id: 'e1', src: 'http', user_id: 1, level: 2, msg: 'one' },
      { event_id: 'e3', src: 'http', user_id: 3, level: 0, msg: 'three' },
    ]);
    const dir = join(f.stateDir, 'dlq', 'wh', 'poison', 'rows');
    const files = readdirSync(dir);
    expect(files).toHaveLength(1);
    const rows = readFileSync(join(dir, files[0]), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ sink: 'wh', event_id: 'e2', column: 'level' });
    expect(rows[0].reason).toMatch(/300 is out of range for Int8/);
    expect(JSON.parse(rows[0].event as string)).toEqual(lines[1]);
  });

  it('a reload reads the table again: a column added since is filled', async () => {
    await ch.command({ query: `ALTER TABLE ${database}.app ADD COLUMN country String` });
    rewriteConfig(f, config());
    const outcome = await reloadAndWait(f);
    expect(String(outcome.msg)).toMatch(/^config reloaded/);
    const r = await post(
      f.url,
      JSON.stringify({ event_id: 'e4', country: 'NZ', user: { id: 4 } }),
      {
        ack: 'delivered',
      },
    );
    expect(r.status).toBe(200);
    expect(await q(`SELECT event_id, country FROM ${database}.app WHERE event_id = 'e4'`)).toEqual([
      { event_id: 'e4', country: 'NZ' },
    ]);
  });
});
