import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { createClient } from '@clickhouse/client';
import { CH_TARGETS } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { until } from '../helpers/stores.js';

/**
 * Typed ClickHouse columns filled through the protocol doors by clients nobody here wrote, on
 * both ClickHouse targets (Debian's 18.16 server and the chDB 26.9 engine): the OpenTelemetry
 * Python SDK's OTLP/HTTP protobuf exporter and the official Elasticsearch Python client's
 * `bulk` helper ship to one ferry whose ClickHouse sink runs in columns mode. Every record is
 * one typed row, its values converted on the workers by the table's own column types.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const OTLP_CLIENT = join(ROOT, 'test', 'fixtures', 'otlp-python-logs.py');
const ES_CLIENT = join(ROOT, 'test', 'helpers', 'es_bulk_client.py');
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const exec = promisify(execFile);
const procs: FerryProc[] = [];
let python: string;

beforeAll(() => {
  // Under CI a missing client is a failure: the script installs them or exits non-zero.
  python = execFileSync('bash', [join(ROOT, 'scripts', 'rig', 'pyclients.sh')], {
    encoding: 'utf8',
  }).trim();
}, 600_000);

afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

/** One table for both doors: each column takes the field its door's events carry, or is left out. */
const COLUMNS = [
  'event_id String',
  'received_at DateTime',
  'source String',
  // OTLP LogRecords (docs/protocols.md "OTLP" mapping)
  'ts Nullable(DateTime)',
  'severity Nullable(String)',
  'severity_number Nullable(UInt8)',
  'body Nullable(String)',
  'service Nullable(String)',
  'i Nullable(UInt32)',
  'ratio Nullable(Float64)',
  'tags Array(String)',
  'trace_id Nullable(String)',
  // _bulk documents (test/helpers/es_bulk_client.py)
  'seq Nullable(UInt32)',
  'msg Nullable(String)',
  'prefix Nullable(String)',
];

describe.each(CH_TARGETS)('typed columns from the OTLP and _bulk doors on $name', (target) => {
  const database = `ferry_it_doors_${run}`;
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  let ferry: FerryProc;

  beforeAll(async () => {
    await ch.command({ query: `CREATE DATABASE IF NOT EXISTS ${database}` });
    await ch.command({
      query: `CREATE TABLE ${database}.typed (${COLUMNS.join(', ')}) ENGINE = ReplacingMergeTree() ORDER BY event_id`,
    });
    ferry = await startFerryProcess({
      otlp: { enabled: true },
      sinks: [
        {
          name: 'warehouse',
          type: 'clickhouse',
          url: target.url,
          database,
          table: 'typed',
          columns: {
            paths: {
              ts: 'timestamp',
              severity: 'severity_text',
              // A literal dotted key under attributes is found as it is.
              service: 'resource.attributes.service.name',
              i: 'attributes.i',
              ratio: 'attributes.ratio',
              tags: 'attributes.tags',
            },
          },
        },
      ],
      batch: { max_age_ms: 200, max_events: 1000 },
    });
    procs.push(ferry);
  }, 120_000);

  afterAll(async () => {
    ferry?.kill('SIGKILL');
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  it('OTel Python SDK (OTLP/HTTP protobuf): N records → N typed rows, each field in its column', async () => {
    const n = 120;
    const tag = `${run}-otlp`;
    const r = await exec(python, [OTLP_CLIENT, `${ferry.url}/v1/logs`, tag, String(n)], {
      timeout: 180_000,
    });
    expect(r.stdout).toMatch(/failed=0/);
    interface Row {
      event_id: string;
      source: string;
      ts: number | null;
      severity: string;
      severity_number: number;
      body: string;
      service: string;
      i: number;
      ratio: number;
      tags: string[];
      trace_id: string;
      seq: number | null;
    }
    const rows = await until(
      `${n} OTLP rows in ${target.name}`,
      async () => {
        const got = await q<Row>(
          `SELECT event_id, source, toUnixTimestamp(ts) AS ts, severity, severity_number, body, service, i, ratio, tags, trace_id, seq FROM ${database}.typed FINAL WHERE body LIKE '% of ${tag}'`,
        );
        return got.length >= n ? got : undefined;
      },
      120_000,
    );
    expect(rows.length).toBe(n);
    expect(new Set(rows.map((x) => x.event_id)).size).toBe(n);
    expect(new Set(rows.map((x) => x.i))).toEqual(new Set(Array.from({ length: n }, (_, k) => k)));
    const byI = new Map(rows.map((x) => [x.i, x]));
    const r3 = byI.get(3)!;
    // i % 3 == 0 is a warning; an odd i has no span context (the mapping's empty trace_id).
    expect(r3).toMatchObject({
      severity: 'WARN',
      severity_number: 13,
      body: `record 3 of ${tag}`,
      service: 'otlp-python-test',
      ratio: 0.75,
      tags: ['a', 'b'],
      trace_id: '',
      seq: null,
    });
    const r4 = byI.get(4)!;
    expect(r4).toMatchObject({ severity: 'INFO', severity_number: 9, ratio: 1 });
    expect(r4.trace_id).toBe(
      (0x0af7651916cd43dd8448eb211c80319cn + 4n).toString(16).padStart(32, '0'),
    );
    // DateTime from the record's RFC 3339 nanosecond time: the moment it was logged, to the second.
    expect(Math.abs(Number(r4.ts) - Date.now() / 1000)).toBeLessThan(600);
  }, 300_000);

  it('Elasticsearch Python client (bulk helper): N documents → N typed rows, `_id` as event_id', async () => {
    const n = 150;
    const prefix = `${run}-es`;
    const { stdout } = await exec(
      python,
      [
        ES_CLIENT,
        JSON.stringify({
          url: ferry.url,
          helper: 'bulk',
          prefix,
          count: n,
          chunk_size: 40,
          with_ids: true,
        }),
      ],
      { timeout: 180_000, maxBuffer: 16 << 20 },
    );
    const out = JSON.parse(stdout) as { ok: number; failed: number };
    expect(out).toMatchObject({ ok: n, failed: 0 });
    const rows = await until(
      `${n} _bulk rows in ${target.name}`,
      async () => {
        const got = await q<{
          event_id: string;
          seq: number;
          msg: string;
          prefix: string;
          body: string | null;
          tags: string[];
        }>(
          `SELECT event_id, seq, msg, prefix, body, tags FROM ${database}.typed FINAL WHERE prefix = '${prefix}'`,
        );
        return got.length >= n ? got : undefined;
      },
      120_000,
    );
    expect(rows.length).toBe(n);
    expect(new Set(rows.map((x) => x.seq))).toEqual(
      new Set(Array.from({ length: n }, (_, k) => k)),
    );
    for (const x of rows) {
      expect(x.msg).toBe(`document ${x.seq} é ✓`);
      // Fields the document does not carry are left out: NULL, or the empty array.
      expect(x.body).toBeNull();
      expect(x.tags).toEqual([]);
      // Every other document was sent with an _id: that is its event_id.
      if (x.seq % 2 === 0) expect(x.event_id).toBe(`${prefix}-${x.seq}`);
      else expect(x.event_id).toMatch(/^[0-9a-f]{64}$/);
    }
  }, 300_000);
});
