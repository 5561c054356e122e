/**
 * The ClickHouse sink's handling of a routed rows part, against a scripted HTTP answerer (pure
 * sink logic: which INSERTs go out; the real servers are in test/integration/clickhouse-routing):
 * one INSERT per section into its own table, and a retried batch does not send again the sections
 * a failed attempt already inserted.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync, gzipSync } from 'node:zlib';
import { pino } from 'pino';
import { ClickHouseSink } from '../../src/sinks/clickhouse.js';
import type { ClickHouseSinkConfig } from '../../src/config/types.js';
import type { EncodedBatch } from '../../src/contracts/batch.js';

interface Insert {
  table: string;
  rows: string[];
}

let server: Server;
let url = '';
const inserts: Insert[] = [];
/** Tables whose next INSERT is answered 503. */
const failNext = new Set<string>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      let body = Buffer.concat(chunks);
      const query = u.searchParams.get('query') ?? body.toString('utf8');
      const m = /^INSERT INTO `db`\.`(\w+)`/.exec(query);
      if (m) {
        if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
        if (failNext.delete(m[1])) {
          res.writeHead(503).end('Service Unavailable');
          return;
        }
        inserts.push({ table: m[1], rows: body.toString('utf8').split('\n').filter(Boolean) });
        res.writeHead(200).end('');
        return;
      }
      // Feature detection: a server with none of the probed settings or types.
      res.writeHead(200).end(/version\(\)/.test(query) ? '26.9.1.1\n' : '');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const cfg = (): ClickHouseSinkConfig => ({
  type: 'clickhouse',
  name: 'ch',
  url,
  database: 'db',
  table: 'events',
  username: 'default',
  password: '',
  compress: true,
  preset: 'envelope',
  bisect_max_inserts: 64,
});

function routed(id: string, tables: Record<string, string[]>): EncodedBatch {
  const bodies = Object.values(tables).map((ids) =>
    gzipSync(ids.map((e) => `{"event_id":"${e}"}\n`).join('')),
  );
  return {
    id,
    createdAt: 0,
    events: Object.values(tables).flat().length,
    rows: {
      body: Buffer.concat(bodies),
      codec: 'gzip',
      rawBytes: 1,
      sections: Object.entries(tables).map(([table, ids], i) => ({
        table,
        bytes: bodies[i].byteLength,
        rawBytes: 1,
        rows: ids.length,
      })),
    },
  };
}

describe('ClickHouse sink, routed rows part', () => {
  it('one INSERT per table; a retry sends only the sections not in yet', async () => {
    const sink = new ClickHouseSink(cfg(), pino({ level: 'silent' }), 5_000);
    inserts.length = 0;
    const batch = routed('b1', { t1: ['a', 'b'], t2: ['c'], t3: ['d'] });
    failNext.add('t2');
    await expect(sink.write(batch)).rejects.toMatchObject({ retryable: true });
    expect(inserts.map((i) => i.table)).toEqual(['t1']);
    const receipt = await sink.write(batch);
    expect(receipt).toEqual({ location: 'db.t1,db.t2,db.t3' });
    expect(inserts).toEqual([
      { table: 't1', rows: ['{"event_id":"a"}', '{"event_id":"b"}'] },
      { table: 't2', rows: ['{"event_id":"c"}'] },
      { table: 't3', rows: ['{"event_id":"d"}'] },
    ]);
    // Delivered whole: the batch is forgotten, so the same id sent again is sent whole.
    await sink.write(batch);
    expect(inserts.map((i) => i.table)).toEqual(['t1', 't2', 't3', 't1', 't2', 't3']);
    await sink.close();
  });

  it('a rows part without sections (an old DLQ record) goes to the sink table', async () => {
    const sink = new ClickHouseSink(cfg(), pino({ level: 'silent' }), 5_000);
    inserts.length = 0;
    const body = gzipSync('{"event_id":"o"}\n');
    expect(
      await sink.write({
        id: 'old',
        createdAt: 0,
        events: 1,
        rows: { body, codec: 'gzip', rawBytes: 17 },
      }),
    ).toEqual({ location: 'db.events' });
    expect(inserts).toEqual([{ table: 'events', rows: ['{"event_id":"o"}'] }]);
    await sink.close();
  });

  it('sections that do not add up to the body are refused, nothing is sent', async () => {
    const sink = new ClickHouseSink(cfg(), pino({ level: 'silent' }), 5_000);
    inserts.length = 0;
    const batch = routed('b2', { t1: ['a'] });
    batch.rows!.sections![0].bytes -= 1;
    await expect(sink.write(batch)).rejects.toMatchObject({
      retryable: false,
      errorClass: 'internal',
    });
    expect(inserts).toEqual([]);
    await sink.close();
  });
});
