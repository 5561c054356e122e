import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { join, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import { CH_TARGETS } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { until, s3SinkConfig, s3Archived } from '../helpers/stores.js';
import { ferryCli, newToken } from '../helpers/cli.js';
import { otelClients, runClient, startCollector } from '../helpers/otelcol.js';

/**
 * A real shipper that speaks `_bulk` and nobody here wrote: the OpenTelemetry Collector's contrib
 * `elasticsearch` exporter (built from the Go module proxy by scripts/rig/otelcol.sh), fed by the
 * OpenTelemetry Python SDK through the Collector's `otlp` receiver — the path of a fleet that
 * moves from Elasticsearch to ferry by changing the exporter's endpoint. N records → exactly N
 * distinct events in S3 and in ClickHouse FINAL, on both ClickHouse targets, with the exporter's
 * own retry on ferry's 429 (a rate-limited token) losing nothing. The exporter's default mapping
 * (`otel` in 0.130.0) sends each record as a document with `@timestamp`, `body.text`,
 * `attributes`, `resource.attributes`, `scope` and trace context, without `_id`: ferry derives
 * the event_id from the document's bytes, so a retried document deduplicates.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `oc${Date.now().toString(36)}`;
let python: string;
let otelcol: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  ({ python, otelcol } = otelClients());
}, 1_800_000);

afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

/** The document the exporter sends for a record of the Python fixture (the parts asserted). */
interface Doc {
  '@timestamp': string;
  body: { text: string };
  severity_text: string;
  trace_id?: string;
  span_id?: string;
  attributes: { run: string; i: number; tags: string[] };
  resource: { attributes: Record<string, string> };
  scope: { name: string };
}
interface Archived {
  event_id: string;
  _index?: string;
  source: string;
  payload: Doc;
}

describe.each(CH_TARGETS)(
  'OpenTelemetry Collector elasticsearch exporter → _bulk on $name',
  (target) => {
    const database = `ferry_otelcol_${run}_${target.service}`;
    const ch = createClient({ url: target.url });
    const token = newToken('collector', 'otelcol');
    // Metrics are read with a token of their own: the collector's is rate-limited.
    const ops = newToken('collector', 'otelcol');
    let f: FerryProc | undefined;

    afterAll(async () => {
      f?.kill('SIGKILL');
      await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
      await ch.close();
    });

    it('SDK → otlp receiver → elasticsearch exporter (ApiKey auth, retries on 429) → ferry: N records → N distinct events in S3 and ClickHouse FINAL', async () => {
      const n = 300;
      const tag = `${run}-${target.service}`;
      const keyPrefix = `otelcol-${tag}`;
      const index = `${tag}-logs`;
      f = await startFerryProcess({
        sinks: [
          s3SinkConfig(`${keyPrefix}/{batch_id}{ext}`),
          { name: 'warehouse', type: 'clickhouse', url: target.url, database, table: 'events' },
        ],
        batch: { max_age_ms: 100, max_events: 500 },
        auth: {
          enabled: true,
          tokens: [
            {
              name: 'collector',
              sha256: token.sha256,
              source: 'otelcol',
              routes: ['ingest'],
              // Two requests a second at most: the exporter's bulk requests run into 429s.
              rate_limit: { requests_per_s: 2, burst: 1 },
            },
            { name: 'ops', sha256: ops.sha256, routes: ['metrics'] },
          ],
        },
      });
      ferryCli(['migrate', '--config', join(f.stateDir, 'ferry.yaml')]);

      const col = await startCollector(otelcol, f.stateDir, {
        elasticsearch: {
          endpoints: [f.url],
          api_key: token.token,
          logs_index: index,
          // Small bulk requests: many of them, so the rate limit answers some with 429.
          flush: { interval: '100ms', bytes: 16384 },
          retry: {
            enabled: true,
            max_retries: 100,
            initial_interval: '100ms',
            max_interval: '1s',
            retry_on_status: [429, 503],
          },
        },
      });
      children.push(col.proc);
      try {
        const r = await runClient(python, [
          join(ROOT, 'test', 'fixtures', 'otlp-python-logs.py'),
          col.logsUrl,
          tag,
          String(n),
        ]);
        expect(r.code, r.out).toBe(0);

        const bySeq = await until(
          `${n} distinct records in S3`,
          async () => {
            const m = new Map<number, Archived>();
            for (const e of await s3Archived<Archived>(keyPrefix))
              if (e.payload.attributes?.run === tag) m.set(e.payload.attributes.i, e);
            if (m.size < n) throw new Error(`${m.size} of ${n} so far\n${col.log().slice(-2000)}`);
            return m;
          },
          90_000,
        );
        expect(bySeq.size).toBe(n);
        const ids = new Set<string>();
        for (const [i, e] of bySeq) {
          expect(e.source).toBe('otelcol');
          expect(e._index).toBe(index);
          expect(e.payload.body.text).toBe(`record ${i} of ${tag}`);
          expect(e.payload.severity_text).toBe(i % 3 === 0 ? 'WARN' : 'INFO');
          expect(e.payload.attributes.tags).toEqual(['a', 'b']);
          expect(e.payload.resource.attributes['service.name']).toBe('otlp-python-test');
          expect(e.payload.scope.name).toBe('ferry.otlp.test');
          if (i % 2 === 0)
            expect(e.payload.trace_id).toBe(
              (0x0af7651916cd43dd8448eb211c80319cn + BigInt(i)).toString(16).padStart(32, '0'),
            );
          else expect(e.payload.trace_id).toBeUndefined();
          ids.add(e.event_id);
        }
        expect(ids.size, 'distinct event_ids').toBe(n);

        const rows = await until(
          `${n} distinct records in ClickHouse FINAL`,
          async () => {
            const rs = await ch.query({
              query: `SELECT event_id, source FROM ${database}.events FINAL WHERE position(payload, '"run":"${tag}"') > 0`,
              format: 'JSONEachRow',
            });
            const got = await rs.json<{ event_id: string; source: string }>();
            if (new Set(got.map((x) => x.event_id)).size < n)
              throw new Error(`${got.length} of ${n} so far`);
            return got;
          },
          90_000,
        );
        expect(rows.length).toBe(n);
        for (const row of rows) {
          expect(ids.has(row.event_id)).toBe(true);
          expect(row.source).toBe('otelcol');
        }

        const metrics = await (
          await fetch(`${f.url}/metrics`, { headers: { authorization: `Bearer ${ops.token}` } })
        ).text();
        const refused = Number(
          /^bulk_requests_total\{status="429"\} (\d+)$/m.exec(metrics)?.[1] ?? 0,
        );
        expect(refused, "bulk requests answered 429 (the token's rate limit)").toBeGreaterThan(0);
        expect(
          Number(/^bulk_requests_total\{status="200"\} (\d+)$/m.exec(metrics)?.[1] ?? 0),
        ).toBeGreaterThan(0);
      } finally {
        col.proc.kill('SIGTERM');
      }
    }, 600_000);
  },
);
