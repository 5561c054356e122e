import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import {
  clickhouse,
  clickhouseIds,
  s3EventCounts,
  until,
  s3SinkConfig,
} from '../helpers/stores.js';
import { metricSum } from '../helpers/kafka.js';
import { ferryCli } from '../helpers/cli.js';
import { rig } from '../setup/rig.js';
import { compress } from '../../src/codecs/index.js';
import { otlpLogsProto } from '../../src/sources/otlp/proto.js';
import { otelClients, runClient, startCollector } from '../helpers/otelcol.js';

/**
 * The OTLP/HTTP logs door with clients nobody here wrote: the OpenTelemetry Python SDK's
 * protobuf exporter (PyPI, scripts/rig/pyclients.sh), the OpenTelemetry JS SDK's JSON exporter
 * (npm devDependencies, test/fixtures/otlp-js-logs.mjs) and the OpenTelemetry Collector
 * (built from the Go module proxy by scripts/rig/otelcol.sh) with its otlphttp exporter in both
 * encodings. N records → exactly N distinct events in S3 and in ClickHouse FINAL; the clients'
 * own retries on 429 lose nothing; bad input gets the OTLP answers.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `ot${Date.now().toString(36)}`;
const database = `ferry_otlp_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
const children: ChildProcess[] = [];
let python: string;
let otelcol: string;

const TOKEN = `otlp-test-token-${run}`;
const OPS = `otlp-ops-token-${run}`;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

beforeAll(() => {
  ({ python, otelcol } = otelClients());
}, 1_800_000);

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  for (const c of children) c.kill('SIGKILL');
  for (const t of ['py', 'js', 'col', 'answers'])
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}_${t}` }).catch(() => {});
  await ch.close();
});

function ferryConfig(table: string, prefix: string, extra: Record<string, unknown> = {}) {
  return {
    otlp: { enabled: true },
    auth: {
      enabled: true,
      tokens: [
        // Two requests a second at most: the clients' exports run into 429 + Retry-After.
        { name: 'otel', sha256: sha(TOKEN), rate_limit: { requests_per_s: 2, burst: 1 } },
        { name: 'ops', sha256: sha(OPS), routes: ['metrics'] },
      ],
    },
    sinks: [
      s3SinkConfig(`${prefix}/{host}-{batch_id}{ext}`),
      // One database per ferry: `ferry migrate` records what it applied per database.
      {
        name: 'warehouse',
        type: 'clickhouse',
        url: rig.clickhouse.url,
        database: `${database}_${table}`,
        table: 'events',
      },
    ],
    batch: { max_age_ms: 100, max_events: 1000, codec: 'lz4' },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 30000, attempt_timeout_ms: 5000 },
    ...extra,
  };
}

async function startFerry(table: string, prefix: string): Promise<FerryProc> {
  const f = await startFerryProcess(ferryConfig(table, prefix));
  procs.push(f);
  ferryCli(['migrate', '--config', join(f.stateDir, 'ferry.yaml')]);
  return f;
}

async function metrics(f: FerryProc): Promise<string> {
  return (await fetch(`${f.url}/metrics`, { headers: { Authorization: `Bearer ${OPS}` } })).text();
}

function series(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    if (Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`)))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

type Payload = Record<string, unknown> & {
  body: unknown;
  attributes: Record<string, unknown>;
  resource: { attributes: Record<string, unknown> };
  scope: { name: string; version: string };
};

/** Every stored payload (FINAL), parsed. */
async function payloads(table: string): Promise<Payload[]> {
  const rs = await ch.query({
    query: `SELECT payload FROM ${database}_${table}.events FINAL`,
    format: 'JSONEachRow',
  });
  return (await rs.json<{ payload: string }>()).map((r) => JSON.parse(r.payload) as Payload);
}

/**
 * N records in → N distinct event_ids in ClickHouse FINAL and in S3. `maxCopies` > 1 when the
 * same records were sent more than once: S3 may then hold a line twice (different batches) or
 * once (a batch of the very same ids has the very same key).
 */
async function expectStored(table: string, prefix: string, n: number, maxCopies = 1) {
  const ids = await until(
    `${n} events in ClickHouse ${table}`,
    async () => {
      const s = await clickhouseIds(ch, `${database}_${table}.events`);
      return s.size >= n ? s : undefined;
    },
    120_000,
  );
  expect(ids.size).toBe(n);
  const counts = await until(
    `${n} events in S3 under ${prefix}`,
    async () => {
      const c = await s3EventCounts(prefix);
      return c.size >= n ? c : undefined;
    },
    60_000,
  );
  expect(counts.size).toBe(n);
  expect(new Set(counts.keys())).toEqual(ids);
  for (const c of counts.values()) expect(c).toBeLessThanOrEqual(maxCopies);
}

const ISO_NANOS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

describe('OTLP/HTTP logs with real OpenTelemetry clients', () => {
  it('Python SDK, protobuf: N records → N distinct events in S3 and ClickHouse FINAL, fields mapped; its retries on 429 lose nothing', async () => {
    const n = 300;
    const prefix = `otlp-${run}-py`;
    const f = await startFerry('py', prefix);
    const r = await runClient(python, [
      join(ROOT, 'test', 'fixtures', 'otlp-python-logs.py'),
      `${f.url}/v1/logs`,
      `${run}-py`,
      String(n),
      `Authorization=Bearer ${TOKEN}`,
    ]);
    expect(r.code, r.out).toBe(0);
    await expectStored('py', prefix, n);
    const m = await metrics(f);
    expect(
      series(m, 'otlp_requests_total', { encoding: 'protobuf', status: '200' }),
    ).toBeGreaterThan(0);
    // The rate limit answered 429 at least once, and the SDK's retry still delivered everything.
    expect(series(m, 'otlp_requests_total', { status: '429' })).toBeGreaterThan(0);
    expect(series(m, 'events_received_total', { source: 'otel' })).toBe(n);

    const all = await payloads('py');
    const byBody = new Map(all.map((p) => [p.body as string, p]));
    const even = byBody.get(`record 2 of ${run}-py`)!;
    expect(even).toMatchObject({
      severity_number: 9,
      severity_text: 'INFO',
      trace_id: (0x0af7651916cd43dd8448eb211c80319cn + 2n).toString(16).padStart(32, '0'),
      span_id: 'b7ad6b7169203331',
      flags: 1,
      dropped_attributes_count: 0,
      event_name: '',
      scope: { name: 'ferry.otlp.test', version: '' },
    });
    expect(even.attributes).toMatchObject({
      run: `${run}-py`,
      i: 2,
      ratio: 0.5,
      ok: true,
      tags: ['a', 'b'],
    });
    expect(even.resource.attributes).toMatchObject({
      'service.name': 'otlp-python-test',
      run: `${run}-py`,
      'telemetry.sdk.language': 'python',
    });
    expect(even.timestamp).toMatch(ISO_NANOS);
    expect(even.time_unix_nano).toMatch(/^\d{19}$/);
    expect(even.observed_time_unix_nano).toMatch(/^\d{19}$/);
    const odd = byBody.get(`record 3 of ${run}-py`)!;
    expect(odd).toMatchObject({
      severity_number: 13,
      severity_text: 'WARN',
      trace_id: '',
      span_id: '',
    });
  }, 300_000);

  it('JS SDK, OTLP/JSON: N records → N distinct events; structured body, int and double attributes, event timestamp', async () => {
    const n = 200;
    const prefix = `otlp-${run}-js`;
    const f = await startFerry('js', prefix);
    const r = await runClient(process.execPath, [
      join(ROOT, 'test', 'fixtures', 'otlp-js-logs.mjs'),
      `${f.url}/v1/logs`,
      `${run}-js`,
      String(n),
      `Bearer ${TOKEN}`,
    ]);
    expect(r.code, r.out).toBe(0);
    await expectStored('js', prefix, n);
    const m = await metrics(f);
    expect(series(m, 'otlp_requests_total', { encoding: 'json', status: '200' })).toBeGreaterThan(
      0,
    );
    const all = await payloads('js');
    const seven = all.find((p) => (p.body as { i?: number }).i === 7)!;
    expect(seven).toMatchObject({
      timestamp: '2023-11-14T22:13:20.007000000Z',
      time_unix_nano: '1700000000007000000',
      severity_number: 17,
      severity_text: 'ERROR',
      body: { msg: `js record 7 of ${run}-js`, i: 7 },
      attributes: { run: `${run}-js`, i: 7, half: 3.5, ok: true },
      trace_id: '',
      scope: { name: 'ferry.otlp.js', version: '1.2.3' },
      resource: { attributes: { 'service.name': 'otlp-js-test' } },
    });
  }, 300_000);

  it('OpenTelemetry Collector: SDK → otlp receiver → otlphttp (protobuf + gzip, and JSON) → ferry; both encodings map to the same event_ids', async () => {
    const n = 250;
    const prefix = `otlp-${run}-col`;
    const f = await startFerry('col', prefix);
    const exporter = (encoding: string, compression: string) => ({
      logs_endpoint: `${f.url}/v1/logs`,
      encoding,
      compression,
      headers: { Authorization: `Bearer ${TOKEN}` },
      retry_on_failure: {
        enabled: true,
        initial_interval: '100ms',
        max_interval: '1s',
        max_elapsed_time: '120s',
      },
    });
    const col = await startCollector(otelcol, f.stateDir, {
      'otlphttp/proto': exporter('proto', 'gzip'),
      'otlphttp/json': exporter('json', 'none'),
    });
    children.push(col.proc);
    const r = await runClient(python, [
      join(ROOT, 'test', 'fixtures', 'otlp-python-logs.py'),
      col.logsUrl,
      `${run}-col`,
      String(n),
    ]);
    expect(r.code, r.out).toBe(0);
    // Each record arrives twice (once per exporter, once per encoding) with the same event_id
    // both times: ClickHouse FINAL holds N, S3 N distinct ids (a line at most twice).
    await expectStored('col', prefix, n, 2);
    const m = await metrics(f);
    expect(
      series(m, 'otlp_requests_total', { encoding: 'protobuf', status: '200' }),
    ).toBeGreaterThan(0);
    expect(series(m, 'otlp_requests_total', { encoding: 'json', status: '200' })).toBeGreaterThan(
      0,
    );
    // ferry's rate limit answered 429 on the way, and the Collector's retry_on_failure re-sent.
    expect(series(m, 'otlp_requests_total', { status: '429' })).toBeGreaterThan(0);
    const all = await payloads('col');
    const even = all.find((p) => p.body === `record 4 of ${run}-col`)!;
    expect(even).toMatchObject({
      trace_id: (0x0af7651916cd43dd8448eb211c80319cn + 4n).toString(16).padStart(32, '0'),
      span_id: 'b7ad6b7169203331',
      severity_text: 'INFO',
      attributes: { i: 4, tags: ['a', 'b'] },
    });
    col.proc.kill('SIGTERM');
  }, 600_000);
});

describe('OTLP/HTTP answers', () => {
  let f: FerryProc;
  const url = () => `${f.url}/v1/logs`;
  const auth = () => ({ Authorization: `Bearer ${TOKEN}` });
  const proto = otlpLogsProto();
  const req = (records: unknown[]) => ({
    resourceLogs: [
      { resource: { attributes: [] }, scopeLogs: [{ scope: { name: 's' }, logRecords: records }] },
    ],
  });

  beforeAll(async () => {
    f = await startFerryProcess(
      ferryConfig('answers', `otlp-${run}-answers`, {
        auth: {
          enabled: true,
          tokens: [{ name: 'otel', sha256: sha(TOKEN), routes: ['ingest', 'metrics'] }],
        },
        http: { max_body_bytes: 65536, max_decompressed_bytes: 262144 },
      }),
    );
    procs.push(f);
    ferryCli(['migrate', '--config', join(f.stateDir, 'ferry.yaml')]);
  }, 60_000);

  /** google.rpc.Status from a protobuf body: field 1 code (varint), field 2 message. */
  function decodeStatus(b: Uint8Array): { code: number; message: string } {
    expect(b[0]).toBe(0x08);
    const code = b[1];
    expect(b[2]).toBe(0x12);
    let len = 0;
    let shift = 0;
    let i = 3;
    for (;;) {
      const c = b[i++];
      len |= (c & 0x7f) << shift;
      if (c < 0x80) break;
      shift += 7;
    }
    return { code, message: Buffer.from(b.subarray(i, i + len)).toString() };
  }

  it('garbage protobuf → 400 with a google.rpc.Status (INVALID_ARGUMENT) in protobuf', async () => {
    const r = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/x-protobuf' },
      body: Buffer.from([0xff, 0xff, 0xff, 0x07, 0x01]),
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/x-protobuf');
    const s = decodeStatus(new Uint8Array(await r.arrayBuffer()));
    expect(s.code).toBe(3);
    expect(s.message).toMatch(/not an OTLP ExportLogsServiceRequest/);
  });

  it('bad JSON → 400 with a Status in JSON; a wrong Content-Type → 415', async () => {
    const r = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: '{"resourceLogs": [',
    });
    expect(r.status).toBe(400);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(await r.json()).toMatchObject({ code: 3, details: [] });
    const t = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'text/plain' },
      body: 'hello',
    });
    expect(t.status).toBe(415);
    expect(await t.json()).toMatchObject({ code: 3 });
  });

  it('a body over http.max_body_bytes → 413; over max_decompressed_bytes (gzip) → 413', async () => {
    const big = proto.ExportLogsServiceRequest.encode(
      req([{ body: { stringValue: 'x'.repeat(100_000) } }]),
    ).finish();
    const r = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/x-protobuf' },
      body: big as Uint8Array<ArrayBuffer>,
    });
    expect(r.status).toBe(413);
    const bomb = proto.ExportLogsServiceRequest.encode(
      req([{ body: { stringValue: 'y'.repeat(400_000) } }]),
    ).finish();
    const z = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'gzip' },
      body: gzipSync(bomb),
    });
    expect(z.status).toBe(413);
    expect(decodeStatus(new Uint8Array(await z.arrayBuffer())).code).toBe(8);
  });

  it('partial success: records that cannot be events are refused one by one (protobuf and JSON); the rest are stored', async () => {
    const body = proto.ExportLogsServiceRequest.encode(
      req([
        { body: { stringValue: `${run} partial ok` }, timeUnixNano: 1 },
        { body: { stringValue: 'bad id' }, traceId: Buffer.from([1, 2, 3]) },
        {
          body: { stringValue: 'empty event_id' },
          attributes: [{ key: 'event_id', value: { stringValue: '' } }],
        },
      ]),
    ).finish();
    const r = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/x-protobuf' },
      body: body as Uint8Array<ArrayBuffer>,
    });
    expect(r.status).toBe(200);
    const res = proto.ExportLogsServiceResponse.decode(new Uint8Array(await r.arrayBuffer()));
    expect(Number(res.partialSuccess?.rejectedLogRecords)).toBe(2);
    expect(res.partialSuccess?.errorMessage).toMatch(/traceId must be 16 bytes/);
    const j = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify(
        req([
          {
            body: { stringValue: `${run} partial json` },
            attributes: [{ key: 'event_id', value: { stringValue: `${run}-pj` } }],
          },
          { body: { stringValue: 'bad' }, spanId: 'not-hex' },
        ]),
      ),
    });
    expect(j.status).toBe(200);
    expect(await j.json()).toEqual({
      partialSuccess: {
        rejectedLogRecords: '1',
        errorMessage: expect.stringMatching(/spanId must be 16 hex digits/),
      },
    });
    const ids = await until('the accepted records', async () => {
      const s = await clickhouseIds(ch, `${database}_answers.events`);
      return s.has(`${run}-pj`) && s.size >= 2 ? s : undefined;
    });
    expect(ids.size).toBe(2);
    // Every record refused → 400, nothing stored.
    const none = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/json' },
      body: JSON.stringify(req([{ traceId: 'zz' }])),
    });
    expect(none.status).toBe(400);
  });

  it('every Content-Encoding ferry decodes (gzip, zstd, lz4); an empty request → 200 with an empty response; a retried export dedupes', async () => {
    const body = proto.ExportLogsServiceRequest.encode(
      req([{ body: { stringValue: `${run} encodings` }, timeUnixNano: 1_700_000_000_000_000_000 }]),
    ).finish();
    const bodies: Record<string, Uint8Array> = {
      gzip: gzipSync(body),
      zstd: compress('zstd', Buffer.from(body)),
      lz4: compress('lz4', Buffer.from(body)),
      identity: body,
    };
    for (const [enc, b] of Object.entries(bodies)) {
      const r = await fetch(url(), {
        method: 'POST',
        headers: { ...auth(), 'Content-Type': 'application/x-protobuf', 'Content-Encoding': enc },
        body: b as Uint8Array<ArrayBuffer>,
      });
      expect(r.status, enc).toBe(200);
      expect((await r.arrayBuffer()).byteLength).toBe(0);
    }
    const m = await (await fetch(`${f.url}/metrics`, { headers: auth() })).text();
    expect(metricSum(m, 'otlp_log_records_rejected_total')).toBeGreaterThan(0);
    const empty = await fetch(url(), {
      method: 'POST',
      headers: { ...auth(), 'Content-Type': 'application/x-protobuf' },
      body: new Uint8Array(0),
    });
    expect(empty.status).toBe(200);
    // Four exports of the same record: one event_id (its hash), so FINAL has one row for it.
    // (Answered durable from the write-ahead log: the row follows.)
    const rowOf = async () => {
      const rs = await ch.query({
        query: `SELECT count() AS c, uniqExact(event_id) AS u FROM ${database}_answers.events FINAL WHERE payload LIKE '%${run} encodings%'`,
        format: 'JSONEachRow',
      });
      return (await rs.json<{ c: string; u: string }>())[0];
    };
    for (const end = Date.now() + 20_000; Date.now() < end; ) {
      if (Number((await rowOf()).u) > 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const row = await rowOf();
    expect(Number(row.u)).toBe(1);
  });

  it('/v1/events and /v1/logs at the same time: every request gets its own answer (one request-id sequence for both doors)', async () => {
    const events = Array.from({ length: 12 }, (_, i) =>
      fetch(`${f.url}/v1/events`, {
        method: 'POST',
        headers: { ...auth(), 'Content-Type': 'application/x-ndjson' },
        body: `{"event_id":"${run}-ev-${i}","i":${i}}\n{"event_id":"${run}-ev-${i}b"}\n`,
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { accepted?: number } })),
    );
    const logs = Array.from({ length: 12 }, (_, i) =>
      fetch(url(), {
        method: 'POST',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: JSON.stringify(
          req([1, 2, 3].map((k) => ({ body: { stringValue: `${run} both ${i}.${k}` } }))),
        ),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as object })),
    );
    const [ev, lg] = await Promise.all([Promise.all(events), Promise.all(logs)]);
    for (const r of ev) expect(r).toEqual({ status: 200, body: { accepted: 2, ack: 'durable' } });
    for (const r of lg) expect(r).toEqual({ status: 200, body: {} });
  });
});

describe('OTLP/HTTP at capacity', () => {
  it('full rings → 503 + Retry-After with a Status (UNAVAILABLE), the status OTLP exporters retry', async () => {
    const f = await startFerryProcess({
      otlp: { enabled: true },
      workers: { threads: 1, max_inflight_batches: 1, ring_bytes: 65536 },
      http: { max_body_bytes: 16384, max_decompressed_bytes: 16384, retry_after_s: 7 },
      batch: { max_events: 10, max_age_ms: 20 },
      retry: { initial_ms: 1000, max_ms: 5000, max_elapsed_ms: 600000, attempt_timeout_ms: 2000 },
      sinks: [
        {
          name: 'blackhole',
          type: 's3',
          bucket: 'nope',
          endpoint: 'http://127.0.0.1:9',
          force_path_style: true,
          access_key_id: 'x',
          secret_access_key: 'y',
        },
      ],
    });
    procs.push(f);
    const body = JSON.stringify({
      resourceLogs: [
        {
          scopeLogs: [
            {
              logRecords: Array.from({ length: 20 }, (_, i) => ({
                body: { stringValue: `${'z'.repeat(300)} ${i}` },
              })),
            },
          ],
        },
      ],
    });
    const results: Response[] = [];
    for (let i = 0; i < 40; i++)
      void fetch(`${f.url}/v1/logs?ack=accepted`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body,
      }).then(
        (r) => results.push(r),
        () => {},
      );
    await until('answers', async () => results.filter((r) => r.status === 503).length > 0, 20_000);
    const refused = results.find((r) => r.status === 503)!;
    expect(refused.headers.get('retry-after')).toBe('7');
    expect(refused.headers.get('content-type')).toBe('application/json');
    expect(await refused.json()).toMatchObject({
      code: 14,
      message: expect.stringMatching(/queue_full/),
    });
  }, 60_000);
});
