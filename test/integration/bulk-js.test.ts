import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Client, errors, type estypes } from '@elastic/elasticsearch';
import { rig } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { clickhouse, until, s3SinkConfig, s3Archived } from '../helpers/stores.js';
import { newToken } from '../helpers/cli.js';

/**
 * The official Elasticsearch JavaScript client (npm `@elastic/elasticsearch`, a devDependency:
 * nobody here wrote it) ships documents to the `_bulk` door with `helpers.bulk`: its product
 * check (every 2xx answer must carry `X-Elastic-Product: Elasticsearch`), gzip request bodies
 * (`compression: true`) and several requests per run (a small `flushBytes`). Each run: N documents
 * → exactly N distinct events in S3 and in ClickHouse FINAL, `_index` and `_id` as sent.
 *
 * Its retry on 429 is per item: `helpers.bulk` resends the items a 200 answer marks 429
 * (`retries`, `wait`), and its transport retries only 502/503/504. Ferry at capacity refuses the
 * whole request with 429 (as Elasticsearch's indexing pressure does), which the helper does not
 * retry: it stops and rejects with that ResponseError. The capacity test asserts exactly that, and
 * that a shipper resending the same documents (same bytes → same event_ids) loses and doubles
 * nothing.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `bj${Date.now().toString(36)}`;
const database = `ferry_bulkjs_${run}`;
const ch = clickhouse();

const shipper = newToken('shipper', 'es-shipper');

afterAll(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

function sinks(prefix: string) {
  return [
    s3SinkConfig(`${prefix}/{batch_id}{ext}`),
    { name: 'warehouse', type: 'clickhouse', url: rig.clickhouse.url, database, table: 'events' },
  ];
}

async function startWith(prefix: string, extra: Record<string, unknown> = {}): Promise<FerryProc> {
  const f = await startFerryProcess({
    sinks: sinks(prefix),
    batch: { max_age_ms: 100, max_events: 500 },
    auth: {
      enabled: true,
      tokens: [
        {
          name: 'shipper',
          sha256: shipper.sha256,
          source: 'es-shipper',
          routes: ['ingest', 'metrics'],
        },
      ],
    },
    ...extra,
  });
  execFileSync(
    process.execPath,
    ['dist/src/cli.js', 'migrate', '--config', join(f.stateDir, 'ferry.yaml')],
    {
      cwd: ROOT,
    },
  );
  return f;
}

interface Archived {
  event_id: string;
  _index?: string;
  source: string;
  payload: { seq: number; prefix: string; msg: string };
}

/** Every archived envelope under the key prefix whose document carries the prefix. */
async function archived(keyPrefix: string, prefix: string): Promise<Archived[]> {
  return (await s3Archived<Archived>(keyPrefix)).filter((e) => e.payload.prefix === prefix);
}

/** Distinct events in ClickHouse FINAL whose payload carries the prefix: event_id → payload. */
async function inClickhouse(prefix: string): Promise<Map<string, { seq: number; source: string }>> {
  const rs = await ch.query({
    query: `SELECT event_id, source, payload FROM ${database}.events FINAL WHERE visitParamExtractString(payload, 'prefix') = '${prefix}'`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ event_id: string; source: string; payload: string }>();
  const out = new Map<string, { seq: number; source: string }>();
  for (const r of rows)
    out.set(r.event_id, { seq: (JSON.parse(r.payload) as { seq: number }).seq, source: r.source });
  return out;
}

/** N documents → N distinct events, in S3 and ClickHouse, each with its `_index` and `_id`. */
async function expectStored(
  keyPrefix: string,
  prefix: string,
  n: number,
  withIds: boolean,
  sentIds?: Map<number, string>,
) {
  const bySeq = await until(
    `${n} distinct events in S3`,
    async () => {
      const all = await archived(keyPrefix, prefix);
      const m = new Map<number, Archived>();
      for (const e of all) m.set(e.payload.seq, e);
      if (m.size < n) throw new Error(`${m.size} of ${n} so far`);
      return m;
    },
    45_000,
  );
  expect(bySeq.size).toBe(n);
  const ids = new Set<string>();
  for (const [seq, e] of bySeq) {
    expect(e._index).toBe(seq % 2 === 0 ? `${prefix}-logs` : `${prefix}-metrics`);
    expect(e.source).toBe('es-shipper');
    expect(e.payload.msg).toBe(`document ${seq} é ✓`);
    if (withIds && seq % 2 === 0) expect(e.event_id).toBe(`${prefix}-${seq}`);
    if (sentIds?.has(seq)) expect(e.event_id).toBe(sentIds.get(seq));
    ids.add(e.event_id);
  }
  expect(ids.size, 'distinct event_ids').toBe(n);
  const rows = await until(
    `${n} distinct events in ClickHouse FINAL`,
    async () => {
      const r = await inClickhouse(prefix);
      if (r.size < n) throw new Error(`${r.size} of ${n} so far`);
      return r;
    },
    45_000,
  );
  expect(rows.size).toBe(n);
  for (const [id, r] of rows) {
    expect(ids.has(id)).toBe(true);
    expect(bySeq.get(r.seq)?.event_id).toBe(id);
  }
}

interface Doc {
  seq: number;
  prefix: string;
  msg: string;
  pad: string;
}

function documents(prefix: string, start: number, count: number, pad = 0): Doc[] {
  return Array.from({ length: count }, (_, k) => ({
    seq: start + k,
    prefix,
    msg: `document ${start + k} é ✓`,
    pad: 'x'.repeat(pad),
  }));
}

/** The action `onDocument` returns: every third a `create`, `_index` by parity, even ones an `_id`. */
function action(prefix: string, withIds: boolean) {
  return (d: Doc) => {
    const meta: { _index: string; _id?: string } = {
      _index: d.seq % 2 === 0 ? `${prefix}-logs` : `${prefix}-metrics`,
    };
    if (withIds && d.seq % 2 === 0) meta._id = `${prefix}-${d.seq}`;
    return d.seq % 3 === 0 ? { create: meta } : { index: meta };
  };
}

/** Requests the client sent to `_bulk`, and whether each body went gzip. */
function watchBulk(es: Client): { requests: number; gzip: number } {
  const seen = { requests: 0, gzip: 0 };
  es.diagnostic.on('response', (_err, result) => {
    const params = result?.meta.request.params;
    if (!params?.path.endsWith('/_bulk')) return;
    seen.requests++;
    if (params.headers?.['content-encoding'] === 'gzip') seen.gzip++;
  });
  return seen;
}

describe('the official Elasticsearch JavaScript client → _bulk → S3 + ClickHouse', () => {
  let f: FerryProc;
  const keyPrefix = `bulkjs-${run}`;
  beforeAll(async () => {
    f = await startWith(keyPrefix);
  }, 60_000);
  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
  });

  it('product check, then helpers.bulk (ApiKey, gzip, several requests): N documents → N distinct events, _id → event_id', async () => {
    const prefix = `${run}-h`;
    const n = 1500;
    const es = new Client({ node: f.url, auth: { apiKey: shipper.token }, compression: true });
    const seen = watchBulk(es);
    try {
      // The client checks X-Elastic-Product on every 2xx answer; info() would throw
      // ProductNotSupportedError without it.
      const info = await es.info({}, { meta: true });
      expect(info.headers['x-elastic-product']).toBe('Elasticsearch');
      expect(info.body.tagline).toBe('You Know, for Search');
      expect(await es.ping()).toBe(true);

      const reported = new Map<number, string>();
      const dropped: unknown[] = [];
      const stats = await es.helpers.bulk<Doc>({
        datasource: documents(prefix, 0, n),
        onDocument: action(prefix, true),
        flushBytes: 16_384,
        concurrency: 3,
        onSuccess: ({ result, document }) => {
          const item = Object.values(result)[0] as estypes.BulkResponseItem;
          expect(item.status).toBe(201);
          reported.set((document as Doc).seq, item._id!);
        },
        onDrop: (d) => dropped.push(d),
      });
      expect(dropped).toEqual([]);
      expect(stats).toMatchObject({ total: n, successful: n, failed: 0, retry: 0, aborted: false });
      expect(seen.requests, 'bulk requests (flushBytes 16 KiB)').toBeGreaterThanOrEqual(5);
      expect(seen.gzip).toBe(seen.requests);
      console.log(`helpers.bulk: ${n} documents in ${seen.requests} gzip requests`);
      expect(reported.size).toBe(n);
      for (const [seq, id] of reported) if (seq % 2 === 0) expect(id).toBe(`${prefix}-${seq}`);
      await expectStored(keyPrefix, prefix, n, true, reported);
    } finally {
      await es.close();
    }
  }, 180_000);

  it('Basic (password = token) and Bearer auth; a wrong token is a 401 ResponseError', async () => {
    const prefix = `${run}-a`;
    for (const [k, auth] of [
      { username: 'elastic', password: shipper.token },
      { bearer: shipper.token },
    ].entries()) {
      const es = new Client({ node: f.url, auth });
      try {
        const stats = await es.helpers.bulk<Doc>({
          datasource: documents(prefix, k * 50, 50),
          onDocument: action(prefix, false),
        });
        expect(stats).toMatchObject({ successful: 50, failed: 0 });
      } finally {
        await es.close();
      }
    }
    await expectStored(keyPrefix, prefix, 100, false);
    const bad = new Client({ node: f.url, auth: { apiKey: 'fry_wrong' } });
    const err = await bad.helpers
      .bulk<Doc>({ datasource: documents(prefix, 0, 1), onDocument: action(prefix, false) })
      .catch((e: unknown) => e);
    await bad.close();
    expect(err).toBeInstanceOf(errors.ResponseError);
    expect((err as errors.ResponseError).statusCode).toBe(401);
    expect((err as errors.ResponseError).body).toMatchObject({
      error: { type: 'security_exception' },
    });
  }, 120_000);
});

describe('capacity: the whole-request 429 stops helpers.bulk; resending loses and doubles nothing', () => {
  it('six shippers against a 64 KiB ring: 429s happen, every document ends up stored once', async () => {
    const prefix = `${run}-cap`;
    const keyPrefix = `bulkjscap-${run}`;
    const f = await startWith(keyPrefix, {
      // The Python test's pressure: 20 KiB requests from six shippers into a 64 KiB ring that
      // drains only while fewer than one batch is in flight to S3 + ClickHouse.
      workers: { threads: 1, max_inflight_batches: 1, ring_bytes: 65536 },
      http: { max_body_bytes: 28672 },
      batch: { max_age_ms: 300, max_events: 100 },
    });
    const per = 400;
    let stopped = 0;
    let retryAfterSeen = 0;
    try {
      await Promise.all(
        Array.from({ length: 6 }, async (_, k) => {
          const es = new Client({
            node: f.url,
            auth: { apiKey: shipper.token },
            compression: k % 2 === 0,
          });
          try {
            // What a shipper on this client does with a rejected run: wait, send it again.
            for (let attempt = 0; ; attempt++) {
              expect(attempt, 'runs refused in a row').toBeLessThan(200);
              try {
                const stats = await es.helpers.bulk<Doc>({
                  datasource: documents(prefix, k * per, per, 300),
                  onDocument: action(prefix, false),
                  flushBytes: 20_480,
                  concurrency: 2,
                  retries: 50,
                  wait: 100,
                });
                expect(stats).toMatchObject({ successful: per, failed: 0 });
                return;
              } catch (e) {
                expect(e).toBeInstanceOf(errors.ResponseError);
                const r = e as errors.ResponseError;
                expect(r.statusCode).toBe(429);
                expect(r.body).toMatchObject({
                  error: { type: 'es_rejected_execution_exception' },
                });
                stopped++;
                if (r.headers?.['retry-after'] !== undefined) retryAfterSeen++;
                await new Promise((ok) => setTimeout(ok, 100 + Math.random() * 200));
              }
            }
          } finally {
            await es.close();
          }
        }),
      );
      const metrics = await (
        await fetch(`${f.url}/metrics`, { headers: { authorization: `Bearer ${shipper.token}` } })
      ).text();
      const refused = Number(
        /^bulk_requests_total\{status="429"\} (\d+)$/m.exec(metrics)?.[1] ?? 0,
      );
      expect(
        refused,
        'requests answered 429 (the ring was too small for the load)',
      ).toBeGreaterThan(0);
      expect(stopped, 'helpers.bulk runs stopped by a 429').toBeGreaterThan(0);
      expect(retryAfterSeen).toBe(stopped);
      console.log(`capacity: ${refused} requests answered 429, ${stopped} helper runs resent`);
      await expectStored(keyPrefix, prefix, 6 * per, false);
    } finally {
      f.kill('SIGKILL');
      await f.exited;
    }
  }, 300_000);
});
