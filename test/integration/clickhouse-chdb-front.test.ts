import { describe, it, expect, afterAll } from 'vitest';
import { gzipSync } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import { rig } from '../setup/rig.js';

/**
 * The rig's chDB front end (scripts/rig/chdb_http.py) answers the way clickhouse-server's HTTP
 * interface does in what ferry relies on: status + X-ClickHouse-Exception-Code + `Code: N.` body,
 * per-query settings from the URL that do not leak into the next query, gzip and chunked bodies.
 */
const url = rig.chdb.url;
const db = `ferry_it_front_${randomBytes(3).toString('hex')}`;
const post = (params: Record<string, string>, body?: BodyInit, headers?: HeadersInit) =>
  fetch(`${url}/?${new URLSearchParams(params)}`, {
    method: 'POST',
    body,
    headers,
    // A ReadableStream body is sent chunked.
    ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
  } as RequestInit);
const text = async (params: Record<string, string>, body?: BodyInit) => {
  const r = await post(params, body);
  const t = await r.text();
  if (r.status !== 200) throw new Error(`${r.status} ${t}`);
  return t;
};

afterAll(async () => {
  await post({ query: `DROP DATABASE IF EXISTS ${db}` });
});

describe('chDB front end (the rig’s current ClickHouse engine)', () => {
  it('/ping and a bare GET answer Ok.', async () => {
    expect(await (await fetch(`${url}/ping`)).text()).toBe('Ok.\n');
    expect(await (await fetch(`${url}/`)).text()).toBe('Ok.\n');
  });

  it('errors: the server’s status, X-ClickHouse-Exception-Code and `Code: N. DB::Exception: … (NAME) (version V)`', async () => {
    const unknownTable = await post({ query: 'SELECT * FROM system.no_such_table' });
    expect(unknownTable.status).toBe(404);
    expect(unknownTable.headers.get('x-clickhouse-exception-code')).toBe('60');
    expect(await unknownTable.text()).toMatch(
      /^Code: 60\. DB::Exception: .*\(UNKNOWN_TABLE\) \(version 2\d\.\d+\.\d+\.\d+\)\n$/s,
    );
    const syntax = await post({ query: 'SELEKT 1' });
    expect(syntax.status).toBe(400);
    expect(syntax.headers.get('x-clickhouse-exception-code')).toBe('62');
    const auth = await fetch(`${url}/?query=SELECT+1`, {
      headers: { 'X-ClickHouse-User': 'default', 'X-ClickHouse-Key': 'wrong' },
    });
    expect(auth.status).toBe(403);
    expect(auth.headers.get('x-clickhouse-exception-code')).toBe('516');
    const setting = await post({ query: 'SELECT 1', no_such_setting: '1' });
    expect(setting.status).toBe(404);
    expect(setting.headers.get('x-clickhouse-exception-code')).toBe('115');
    const gzipBad = await post({ query: 'SELECT 1' }, 'not gzip', { 'Content-Encoding': 'gzip' });
    expect(gzipBad.headers.get('x-clickhouse-exception-code')).toBe('354');
  });

  it('URL settings apply to their query only; database= is the current database', async () => {
    expect(await text({ query: "SELECT getSetting('max_threads')", max_threads: '3' })).toBe('3\n');
    expect(await text({ query: "SELECT getSetting('max_threads') = 3" })).toBe('0\n');
    await text({ query: `CREATE DATABASE ${db}` });
    expect(await text({ query: 'SELECT currentDatabase()', database: db })).toBe(`${db}\n`);
    expect(await text({ query: 'SELECT currentDatabase()' })).toBe('default\n');
  });

  it('INSERT … FORMAT JSONEachRow takes its rows from the body: plain, gzip and chunked; a summary header tells what was written', async () => {
    await text({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
    await text({
      query: `CREATE TABLE ${db}.t (a UInt32, s String) ENGINE = MergeTree ORDER BY a`,
    });
    const rows = (from: number, n: number) =>
      Array.from({ length: n }, (_, i) => JSON.stringify({ a: from + i, s: `é${i}` })).join('\n');
    const ins = { query: `INSERT INTO ${db}.t FORMAT JSONEachRow`, wait_end_of_query: '1' };
    const plain = await post(ins, rows(0, 10));
    expect(plain.status).toBe(200);
    expect(JSON.parse(plain.headers.get('x-clickhouse-summary') ?? '{}')).toMatchObject({
      written_rows: '10',
    });
    expect((await post(ins, gzipSync(rows(10, 10)), { 'Content-Encoding': 'gzip' })).status).toBe(
      200,
    );
    const chunks = [rows(20, 5), '\n', rows(25, 5)].map((c) => new TextEncoder().encode(c));
    const stream = new ReadableStream<Uint8Array>({
      pull(c) {
        const next = chunks.shift();
        if (next) c.enqueue(next);
        else c.close();
      },
    });
    expect((await post(ins, stream)).status).toBe(200);
    expect(
      await text({ query: `SELECT count(), uniqExact(a), max(a) FROM ${db}.t FORMAT CSV` }),
    ).toBe('30,30,29\n');
    const r = await post({ query: `SELECT a, s FROM ${db}.t WHERE a = 1 FORMAT JSONEachRow` });
    expect(r.headers.get('x-clickhouse-format')).toBe('JSONEachRow');
    expect(await r.text()).toBe('{"a":1,"s":"é1"}\n');
  });
});
