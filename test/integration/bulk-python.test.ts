import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { rig } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { clickhouse, until, s3SinkConfig, s3Archived } from '../helpers/stores.js';
import { newToken } from '../helpers/cli.js';

/**
 * The official Elasticsearch Python client (9.x and 8.x, from PyPI through scripts/rig/pyclients.sh)
 * ships documents to the `_bulk` door with its `bulk` and `streaming_bulk` helpers — which refuse
 * a server without `X-Elastic-Product: Elasticsearch`. Each run: N documents → exactly N distinct
 * events in S3 and in ClickHouse FINAL, `_index` and `_id` as sent; the helper's own retry on 429
 * (a ring too small for the load) loses nothing.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const CLIENT = join(ROOT, 'test', 'helpers', 'es_bulk_client.py');
const run = `bk${Date.now().toString(36)}`;
const database = `ferry_bulk_${run}`;
const ch = clickhouse();
const run$ = promisify(execFile);
let python9: string;
let python8: string;

const shipper = newToken('shipper', 'es-shipper');

beforeAll(() => {
  // Under CI a missing client is a failure: the script installs it or exits non-zero.
  python9 = execFileSync('bash', [join(ROOT, 'scripts', 'rig', 'pyclients.sh')], {
    encoding: 'utf8',
  }).trim();
  python8 = join(dirname(dirname(dirname(python9))), 'py-es8', 'bin', 'python');
  if (!existsSync(python8)) throw new Error(`pyclients.sh made no ${python8}`);
}, 600_000);

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

interface ClientOut {
  version: string;
  info: { version: { number: string }; tagline: string };
  ok: number;
  failed: number;
  errors?: unknown[];
  items: [number, string, string][];
}

async function client(python: string, spec: Record<string, unknown>): Promise<ClientOut> {
  const { stdout } = await run$(python, [CLIENT, JSON.stringify(spec)], {
    maxBuffer: 64 << 20,
    timeout: 240_000,
  });
  return JSON.parse(stdout) as ClientOut;
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

describe('the official Elasticsearch Python client → _bulk → S3 + ClickHouse', () => {
  let f: FerryProc;
  const keyPrefix = `bulk-${run}`;
  beforeAll(async () => {
    f = await startWith(keyPrefix);
  }, 60_000);
  afterAll(async () => {
    f?.kill('SIGTERM');
    await f?.exited;
  });

  it('9.x helpers.bulk (ApiKey auth, gzip): N documents → N distinct events with _index and _id', async () => {
    const prefix = `${run}-b9`;
    const n = 1200;
    const out = await client(python9, {
      url: f.url,
      auth: 'api_key',
      token: shipper.token,
      helper: 'bulk',
      prefix,
      count: n,
      chunk_size: 250,
      with_ids: true,
      http_compress: true,
    });
    expect(out.version).toMatch(/^9\./);
    expect(out.info.tagline).toBe('You Know, for Search');
    expect(out).toMatchObject({ ok: n, failed: 0 });
    await expectStored(keyPrefix, prefix, n, true);
  }, 180_000);

  it('8.x helpers.streaming_bulk (Basic auth, password = token): ids it reports are the stored event_ids', async () => {
    const prefix = `${run}-s8`;
    const n = 900;
    const out = await client(python8, {
      url: f.url,
      auth: 'basic',
      token: shipper.token,
      helper: 'streaming_bulk',
      prefix,
      count: n,
      chunk_size: 200,
      with_ids: false,
    });
    expect(out.version).toMatch(/^8\./);
    expect(out).toMatchObject({ ok: n, failed: 0 });
    expect(out.items.every(([status]) => status === 201)).toBe(true);
    const sent = new Map<number, string>();
    out.items.forEach(([, index, id], i) => {
      expect(index).toBe(i % 2 === 0 ? `${prefix}-logs` : `${prefix}-metrics`);
      sent.set(i, id);
    });
    await expectStored(keyPrefix, prefix, n, false, sent);
  }, 180_000);

  it('9.x with a bearer token; a wrong token is a 401 the client raises as AuthenticationException', async () => {
    const prefix = `${run}-br`;
    const out = await client(python9, {
      url: f.url,
      auth: 'bearer',
      token: shipper.token,
      helper: 'streaming_bulk',
      prefix,
      count: 10,
    });
    expect(out).toMatchObject({ ok: 10, failed: 0 });
    const bad = await client(python9, {
      url: f.url,
      auth: 'api_key',
      token: 'fry_wrong',
      helper: 'bulk',
      prefix,
      count: 1,
    }).catch((e: Error & { stderr?: string }) => e);
    expect(bad).toBeInstanceOf(Error);
    expect((bad as { stderr: string }).stderr).toMatch(
      /AuthenticationException\(401, 'security_exception'/,
    );
  }, 120_000);
});

describe('capacity: 429 with Retry-After, and streaming_bulk retries until everything is in', () => {
  it('six clients against a 64 KiB ring: 429s happen, no document is lost or doubled', async () => {
    const prefix = `${run}-cap`;
    const keyPrefix = `bulkcap-${run}`;
    const f = await startWith(keyPrefix, {
      // 20 KiB requests from six clients at once into a 64 KiB ring that drains only while
      // fewer than one batch is in flight to S3 + ClickHouse.
      workers: { threads: 1, max_inflight_batches: 1, ring_bytes: 65536 },
      http: { max_body_bytes: 28672 },
      batch: { max_age_ms: 300, max_events: 100 },
    });
    try {
      const per = 400;
      const outs = await Promise.all(
        Array.from({ length: 6 }, (_, k) =>
          client(k % 2 === 0 ? python9 : python8, {
            url: f.url,
            auth: 'api_key',
            token: shipper.token,
            helper: 'streaming_bulk',
            prefix,
            start: k * per,
            count: per,
            chunk_size: 50,
            pad: 300,
            retries: 200,
          }),
        ),
      );
      for (const o of outs) expect(o).toMatchObject({ ok: per, failed: 0 });
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
      expect(metrics).toMatch(/^bulk_items_total\{action="create",status="201"\} \d+$/m);
      await expectStored(keyPrefix, prefix, 6 * per, false);
    } finally {
      f.kill('SIGKILL');
      await f.exited;
    }
  }, 300_000);
});
