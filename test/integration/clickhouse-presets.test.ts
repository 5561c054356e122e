import { describe, it, expect, afterAll } from 'vitest';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import { stringify } from 'yaml';
import { pino } from 'pino';
import { CH_TARGETS } from '../setup/rig.js';
import { ClickHouseSink } from '../../src/sinks/clickhouse.js';
import type { BatchLimits } from '../../src/contracts/batch.js';
import type { ClickHouseSinkConfig } from '../../src/config/types.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { parseBody } from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

/** `ferry migrate` presets through the built CLI, and the OTel-logs table filled in columns mode. */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const log = pino({ level: 'silent' });

const cli = (args: string[]) =>
  new Promise<{ code: number; out: string }>((res) =>
    execFile(
      process.execPath,
      [join(ROOT, 'dist', 'src', 'cli.js'), ...args],
      (err, stdout, stderr) => res({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    ),
  );

describe.each(CH_TARGETS)('ferry migrate presets on $name', (target) => {
  const database = `ferry_it_preset_${run}`;
  const current = target.service === 'chdb';
  const ch = createClient({ url: target.url });
  const q = async <T>(query: string) =>
    (await ch.query({ query, format: 'JSONEachRow' })).json<T>();
  const sinkCfg = {
    type: 'clickhouse' as const,
    name: 'otel',
    url: target.url,
    database,
    table: 'otel_logs',
    preset: 'otel_logs' as const,
    columns: {
      paths: {
        Timestamp: 'timestamp',
        SeverityText: 'severity_text',
        Body: 'body',
        ServiceName: 'resource.service.name',
        ResourceAttributes: 'resource',
        LogAttributes: 'attributes',
        TraceId: 'trace_id',
      },
    },
  };

  afterAll(async () => {
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  it(
    current
      ? 'otel_logs and envelope presets create their tables'
      : 'the otel_logs preset is refused by 18.16 (no DateTime64/Map), naming the migration; the envelope preset works',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'ferry-preset-'));
      const file = join(dir, 'ferry.yaml');
      writeFileSync(
        file,
        stringify({
          state_dir: dir,
          sinks: [
            sinkCfg,
            { ...sinkCfg, name: 'env', table: 'events', preset: 'envelope', columns: undefined },
          ],
        }),
      );
      const env = await cli(['migrate', '--config', file, '--sink', 'env']);
      expect(env.code).toBe(0);
      expect(env.out).toContain('env: applied 1 (001_events.sql)');
      const otel = await cli(['migrate', '--config', file, '--sink', 'otel']);
      if (current) {
        expect(otel.code).toBe(0);
        expect(otel.out).toContain('otel: applied 1 (001_otel_logs.sql)');
        const cols = await q<{ name: string; type: string }>(
          `SELECT name, type FROM system.columns WHERE database = '${database}' AND table = 'otel_logs'`,
        );
        expect(cols).toContainEqual({ name: 'Timestamp', type: 'DateTime64(9)' });
        expect(cols).toContainEqual({
          name: 'ResourceAttributes',
          type: 'Map(LowCardinality(String), String)',
        });
      } else {
        expect(otel.code).not.toBe(0);
        expect(otel.out).toMatch(/001_otel_logs\.sql/);
      }
    },
  );

  it(
    current
      ? 'an OTel log record lands typed in the otel_logs table'
      : 'without the otel_logs table the sink refuses to start columns mode, saying to run ferry migrate',
    async () => {
      const sink = new ClickHouseSink(sinkCfg as unknown as ClickHouseSinkConfig, log, 10_000);
      if (!current) {
        await expect(sink.rowPlan()).rejects.toThrow(
          /otel_logs does not exist \(run ferry migrate/,
        );
        await sink.close();
        return;
      }
      const plan = await sink.rowPlan();
      const limits: BatchLimits = {
        maxEvents: 100,
        maxBytes: 1 << 20,
        maxAgeMs: 1000,
        codec: 'none',
        level: 0,
        archive: false,
        rows: true,
        compressRows: false,
        rowPlan: plan,
      };
      let sealed: SealedBatch | undefined;
      const b = new Batcher(limits, (s) => (sealed = s));
      const record = {
        event_id: 'otel-1',
        timestamp: '2026-11-23T02:13:20.123456789Z',
        severity_text: 'WARN',
        body: 'disk almost full',
        trace_id: '5b8efff798038103d269b633813fc60c',
        resource: { 'service.name': 'api', 'host.name': 'h1' },
        attributes: { 'http.status_code': 507 },
      };
      const parsed = parseBody(BodyFormat.Ndjson, new TextEncoder().encode(JSON.stringify(record)));
      if (!parsed.ok) throw new Error(parsed.message);
      b.appendRequest(1, parsed.events, Date.UTC(2026, 10, 23, 2, 13, 21), 'otlp');
      b.sealIfDue(Date.now(), true);
      expect(sealed!.batch.rowPoison).toBeUndefined();
      await sink.write(sealed!.batch);
      expect(
        await q(
          `SELECT toString(Timestamp) AS ts, SeverityText, Body, ServiceName, ResourceAttributes, LogAttributes, TraceId, event_id, source FROM ${database}.otel_logs`,
        ),
      ).toEqual([
        {
          ts: '2026-11-23 02:13:20.123456789',
          SeverityText: 'WARN',
          Body: 'disk almost full',
          ServiceName: 'api',
          ResourceAttributes: { 'service.name': 'api', 'host.name': 'h1' },
          LogAttributes: { 'http.status_code': '507' },
          TraceId: '5b8efff798038103d269b633813fc60c',
          event_id: 'otel-1',
          source: 'otlp',
        },
      ]);
      await sink.close();
    },
  );
});
