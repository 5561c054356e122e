import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { startFerryProcess, type FerryProc, type Runtime } from '../helpers/ferry-proc.js';
import {
  clickhouse,
  clickhouseIds,
  s3EventCounts,
  until,
  s3SinkConfig,
} from '../helpers/stores.js';
import { ferryCli } from '../helpers/cli.js';
import { rig } from '../setup/rig.js';
import { envelopesIn } from '../helpers/archive.js';
import { otlpLogsProto } from '../../src/sources/otlp/proto.js';
import { freePort } from '../helpers/net.js';

/**
 * OTLP/gRPC (LogsService/Export on otlp.grpc.port) with the OpenTelemetry Python SDK's gRPC
 * exporter (opentelemetry-exporter-otlp-proto-grpc, PyPI, scripts/rig/pyclients.sh): N records →
 * N distinct events in S3 and ClickHouse FINAL; its retry on UNAVAILABLE (ferry's rate limit)
 * loses nothing; garbage → INVALID_ARGUMENT; and the door on Node, Bun and Deno.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `og${Date.now().toString(36)}`;
const database = `ferry_otlp_grpc_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
let python: string;
const TOKEN = `otlp-grpc-token-${run}`;
const sha = (t: string) => createHash('sha256').update(t).digest('hex');

beforeAll(() => {
  python = execFileSync('bash', [join(ROOT, 'scripts', 'rig', 'pyclients.sh')], {
    encoding: 'utf8',
  }).trim();
}, 600_000);

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

function runPython(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    execFile(
      python,
      [join(ROOT, 'test', 'fixtures', 'otlp-python-logs.py'), ...args],
      { timeout: 180_000 },
      (err, stdout, stderr) =>
        res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: stdout + stderr }),
    );
  });
}

describe('OTLP/gRPC logs', () => {
  it('Python SDK gRPC exporter: N records → N distinct events in S3 and ClickHouse FINAL; retries on UNAVAILABLE lose nothing; garbage → INVALID_ARGUMENT', async () => {
    const n = 200;
    const prefix = `otlp-${run}`;
    const grpcPort = await freePort();
    const f = await startFerryProcess({
      otlp: { enabled: true, grpc: { enabled: true, port: grpcPort } },
      auth: {
        enabled: true,
        tokens: [
          {
            name: 'otel',
            sha256: sha(TOKEN),
            routes: ['ingest', 'metrics'],
            rate_limit: { requests_per_s: 2, burst: 1 },
          },
        ],
      },
      sinks: [
        s3SinkConfig(`${prefix}/{host}-{batch_id}{ext}`),
        {
          name: 'warehouse',
          type: 'clickhouse',
          url: rig.clickhouse.url,
          database,
          table: 'events',
        },
      ],
      batch: { max_age_ms: 100, codec: 'lz4' },
    });
    procs.push(f);
    ferryCli(['migrate', '--config', join(f.stateDir, 'ferry.yaml')]);
    const r = await runPython([
      `grpc://127.0.0.1:${grpcPort}`,
      run,
      String(n),
      `authorization=Bearer ${TOKEN}`,
    ]);
    expect(r.code, r.out).toBe(0);
    const ids = await until(
      `${n} events in ClickHouse`,
      async () => {
        const s = await clickhouseIds(ch, `${database}.events`);
        return s.size >= n ? s : undefined;
      },
      120_000,
    );
    expect(ids.size).toBe(n);
    const counts = await until('S3', async () => {
      const c = await s3EventCounts(prefix);
      return c.size >= n ? c : undefined;
    });
    expect(counts.size).toBe(n);
    for (const c of counts.values()) expect(c).toBe(1);
    const rs = await ch.query({
      query: `SELECT payload FROM ${database}.events FINAL`,
      format: 'JSONEachRow',
    });
    const all = (await rs.json<{ payload: string }>()).map(
      (x) => JSON.parse(x.payload) as Record<string, unknown>,
    );
    expect(all.find((p) => p.body === `record 2 of ${run}`)).toMatchObject({
      trace_id: (0x0af7651916cd43dd8448eb211c80319cn + 2n).toString(16).padStart(32, '0'),
      span_id: 'b7ad6b7169203331',
      severity_text: 'INFO',
      attributes: { i: 2, ok: true, tags: ['a', 'b'] },
    });
    // The token's rate limit (2/s, burst 1) counts /metrics too: wait out a 429.
    const m = await until('the metrics', async () => {
      const r = await fetch(`${f.url}/metrics`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      return r.status === 200 ? r.text() : undefined;
    });
    expect(m).toMatch(
      /otlp_requests_total\{transport="grpc",encoding="protobuf",status="OK"\} [1-9]/,
    );
    // The rate limit answered UNAVAILABLE on the way; the exporter's retry delivered everything.
    expect(m).toMatch(
      /otlp_requests_total\{transport="grpc",encoding="protobuf",status="UNAVAILABLE"\} [1-9]/,
    );

    // A raw gRPC call with bytes that are not an ExportLogsServiceRequest, and one that is.
    const client = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    const call = (body: Buffer) =>
      new Promise<{ code: number; details?: string; value?: Buffer }>((res) => {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${TOKEN}`);
        client.makeUnaryRequest(
          '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
          (b: Buffer) => b,
          (b: Buffer) => b,
          body,
          md,
          (err, value) => res(err ? { code: err.code, details: err.details } : { code: 0, value }),
        );
      });
    await new Promise((r) => setTimeout(r, 1100)); // the token's bucket refills
    const bad = await call(Buffer.from([0xff, 0xff, 0xff, 0x07]));
    expect(bad.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/not an OTLP ExportLogsServiceRequest/);
    await new Promise((r) => setTimeout(r, 1100));
    const partial = await call(
      Buffer.from(
        otlpLogsProto()
          .ExportLogsServiceRequest.encode({
            resourceLogs: [
              {
                scopeLogs: [
                  {
                    logRecords: [
                      { body: { stringValue: `${run} raw ok` } },
                      { body: { stringValue: 'bad' }, spanId: Buffer.from([1]) },
                    ],
                  },
                ],
              },
            ],
          })
          .finish(),
      ),
    );
    expect(partial.code).toBe(0);
    const res = otlpLogsProto().ExportLogsServiceResponse.decode(partial.value!);
    expect(Number(res.partialSuccess?.rejectedLogRecords)).toBe(1);
    client.close();
  }, 300_000);

  for (const runtime of ['node', 'bun', 'deno'] as Runtime[]) {
    it(`${runtime}: the Python SDK over OTLP/HTTP (its own listener, otlp.port) and OTLP/gRPC, 30 records each → 60 events; a clean stop`, async () => {
      const grpcPort = await freePort();
      const httpPort = await freePort();
      const f = await startFerryProcess(
        {
          otlp: { enabled: true, port: httpPort, grpc: { enabled: true, port: grpcPort } },
          sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
          batch: { max_age_ms: 100, codec: 'none' },
        },
        { runtime },
      );
      procs.push(f);
      // The door has its own listener: the main one does not serve /v1/logs.
      const main = await fetch(`${f.url}/v1/logs`, { method: 'POST', body: '' });
      expect(main.status).toBe(404);
      const h = await runPython([
        `http://127.0.0.1:${httpPort}/v1/logs`,
        `${run}-${runtime}-h`,
        '30',
      ]);
      expect(h.code, h.out).toBe(0);
      const g = await runPython([`grpc://127.0.0.1:${grpcPort}`, `${run}-${runtime}-g`, '30']);
      expect(g.code, g.out).toBe(0);
      const events = await until('60 events on disk', async () => {
        const out = envelopesIn(join(f.stateDir, 'out'));
        return out.length >= 60 ? out : undefined;
      });
      expect(new Set(events.map((e) => e.event_id)).size).toBe(60);
      f.kill('SIGTERM');
      expect(await f.exited).toBe(0);
    }, 120_000);
  }
});
