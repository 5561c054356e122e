/**
 * The HTTP sink, ferry → ferry: two real ferry processes, the edge POSTing each batch's archive
 * (lz4, as Content-Encoding) to the core's /v1/events with ?ack=durable and a bearer token.
 * The edge counts a batch delivered only on the core's 200; when the core is killed, or answers
 * 503 because its own DLQ is full (S3 stopped), the edge spools to its DLQ and re-sends once the
 * core is back — every event reaches the core's sinks, under the id the edge gave it.
 * Failover to a second URL, and mutual TLS with the rig's CA and client certificate.
 */
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { rig, startService, stopService } from '../setup/rig.js';
import {
  startFerryProcess,
  post,
  makeEvents,
  type FerryProc,
  type Runtime,
} from '../helpers/ferry-proc.js';
import { envelopesIn, type Envelope } from '../helpers/archive.js';
import { metricSum, metricsText } from '../helpers/kafka.js';
import { s3EventCounts, s3SinkConfig, until } from '../helpers/stores.js';
import { freePort } from '../helpers/net.js';

const run = `hs${Date.now().toString(36)}`;
const procs: FerryProc[] = [];
const TOKEN = `edge-token-${run}-0123456789abcdef`;
const SHA = createHash('sha256').update(TOKEN).digest('hex');

async function start(
  cfg: Record<string, unknown>,
  stateDir?: string,
  runtime?: Runtime,
): Promise<FerryProc> {
  const f = await startFerryProcess(cfg, { stateDir, runtime });
  procs.push(f);
  return f;
}

const common = {
  workers: { threads: 1 },
  retry: { initial_ms: 100, max_ms: 500, max_elapsed_ms: 2000, attempt_timeout_ms: 3000 },
  dlq: { probe_interval_ms: 200, reupload_events_per_s: 100000 },
};

function coreConfig(port: number, sinks: unknown[], extra: Record<string, unknown> = {}) {
  return {
    ...common,
    listen: { host: '127.0.0.1', port },
    auth: {
      enabled: true,
      tokens: [{ name: 'edge-1', sha256: SHA, source: 'edge-1', routes: ['ingest', 'metrics'] }],
    },
    batch: { max_age_ms: 100, max_events: 2000 },
    sinks,
    ...extra,
  };
}

function edgeConfig(sink: Record<string, unknown>, extraSinks: unknown[] = []) {
  return {
    ...common,
    batch: { max_age_ms: 100, max_events: 500, codec: 'lz4' },
    sinks: [
      { type: 'http', name: 'core', token: TOKEN, failover_cooldown_ms: 1000, ...sink },
      ...extraSinks,
    ],
  };
}

async function postAll(f: FerryProc, lines: string[], chunk = 250): Promise<void> {
  for (let i = 0; i < lines.length; i += chunk) {
    // ack=delivered (the `durable` of before the write-ahead log): answered once the edge's sinks
    // — the core among them — have the events, which is what the tests read right after.
    const r = await post(f.url, lines.slice(i, i + chunk).join('\n'), {
      headers: { 'x-ferry-ack': 'delivered' },
    });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }
}

/** event_id → count in a ferry's directory sink. */
function idsIn(dir: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of envelopesIn(dir)) m.set(e.event_id, (m.get(e.event_id) ?? 0) + 1);
  return m;
}

async function drained(f: FerryProc): Promise<void> {
  await until(
    `${f.url}: DLQ drained`,
    async () => {
      const m = await metricsText(f);
      return (
        metricSum(m, 'dlq_events_spooled_total') > 0 &&
        metricSum(m, 'dlq_events_reuploaded_total') >= metricSum(m, 'dlq_events_spooled_total') &&
        metricSum(m, 'dlq_files_current') === 0
      );
    },
    120_000,
    500,
  );
}

afterEach(async () => {
  await startService('minio');
});
afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

describe('HTTP sink (ferry → ferry)', () => {
  it('delivers every event to the core under the id the edge gave it; fails over from a dead URL', async () => {
    const core = await start(
      coreConfig(0, [{ type: 'directory', name: 'out', path: '${STATE_DIR}/out' }]),
    );
    const dead = `http://127.0.0.1:${await freePort()}/v1/events`;
    const edge = await start(
      edgeConfig({ urls: [dead, `${core.url}/v1/events`] }, [
        { type: 'directory', name: 'local', path: '${STATE_DIR}/out' },
      ]),
    );
    const N = 2000;
    const { lines } = makeEvents(N, `${run}-a`);
    // A quarter without an event_id: ferry hashes the bytes, and the core must keep that id.
    const mixed = lines.map((l, i) => (i % 4 === 0 ? l.replace(/"event_id":"[^"]*",/, '') : l));
    await postAll(edge, mixed);
    const atEdge = idsIn(join(edge.stateDir, 'out'));
    expect(atEdge.size).toBe(N);
    await until('all at the core', async () => idsIn(join(core.stateDir, 'out')).size >= N, 30_000);
    const atCore = envelopesIn(join(core.stateDir, 'out'));
    expect(atCore.length).toBe(N);
    expect(new Set(atCore.map((e) => e.event_id))).toEqual(new Set(atEdge.keys()));
    // The core's payload is the edge's envelope: the edge's own received_at and source travel along.
    const inner = atCore[0].payload as unknown as Envelope;
    expect(inner.event_id).toBe(atCore[0].event_id);
    expect(typeof inner.received_at).toBe('string');
    expect(atCore[0].source).toBe('edge-1');
    const m = await metricsText(edge);
    expect(metricSum(m, 'sink_events_delivered_total{sink="core"}')).toBe(N);
    expect(m).toMatch(
      /http_sink_requests_total\{sink="core",url="http:\/\/127\.0\.0\.1:\d+\/v1\/events",status="network"\} [1-9]/,
    );
    expect(m).toMatch(/http_sink_requests_total\{sink="core",url="[^"]+",status="200"\} [1-9]/);
    edge.kill('SIGTERM');
    expect(await edge.exited).toBe(0);
    core.kill('SIGTERM');
    expect(await core.exited).toBe(0);
  }, 120_000);

  it.each<Runtime>(['bun', 'deno'])(
    'an edge on %s: zstd and gzip batches as Content-Encoding, every event at the core',
    async (runtime) => {
      const core = await start(
        coreConfig(0, [{ type: 'directory', name: 'out', path: '${STATE_DIR}/out' }]),
      );
      for (const codec of ['zstd', 'gzip'] as const) {
        const cfg = edgeConfig({ urls: [`${core.url}/v1/events`] });
        const edge = await start(
          { ...cfg, batch: { max_age_ms: 100, max_events: 500, codec } },
          undefined,
          runtime,
        );
        const { lines, ids } = makeEvents(600, `${run}-${runtime}-${codec}`);
        await postAll(edge, lines);
        // The core answered ?ack=durable from its write-ahead log: its own sink follows.
        await until(
          'all at the core',
          async () => ids.every((id) => idsIn(join(core.stateDir, 'out')).has(id)) || undefined,
          30_000,
        );
        const atCore = idsIn(join(core.stateDir, 'out'));
        expect(ids.filter((id) => !atCore.has(id))).toEqual([]);
        expect(metricSum(await metricsText(edge), 'dlq_events_spooled_total')).toBe(0);
        edge.kill('SIGTERM');
        expect(await edge.exited).toBe(0);
      }
      core.kill('SIGTERM');
      expect(await core.exited).toBe(0);
    },
    120_000,
  );

  it('core killed -9: the edge spools to its DLQ (its clients still get 200), core back: all delivered', async () => {
    const port = await freePort();
    const cfg = coreConfig(port, [{ type: 'directory', name: 'out', path: '${STATE_DIR}/out' }]);
    let core = await start(cfg);
    const edge = await start(edgeConfig({ urls: [`${core.url}/v1/events`] }));
    const a = makeEvents(1000, `${run}-k`);
    await postAll(edge, a.lines.slice(0, 500));
    core.kill('SIGKILL');
    await core.exited;
    await postAll(edge, a.lines.slice(500));
    await until(
      'spooled at the edge',
      async () => metricSum(await metricsText(edge), 'dlq_events_spooled_total') > 0,
      30_000,
    );
    core = await start(cfg, core.stateDir);
    await drained(edge);
    await until(
      'all at the core',
      async () => {
        const ids = idsIn(join(core.stateDir, 'out'));
        return a.ids.every((id) => ids.has(id));
      },
      60_000,
    );
    // At least once: a batch the core took just before it died may come twice (same event_id).
    const ids = idsIn(join(core.stateDir, 'out'));
    expect(ids.size).toBe(1000);
    edge.kill('SIGTERM');
    expect(await edge.exited).toBe(0);
  }, 180_000);

  it('core answers 503 + Retry-After (its DLQ is full while S3 is down): the edge waits and spools; S3 back: all in S3', async () => {
    const prefix = `${run}-full`;
    const core = await start(
      coreConfig(
        0,
        [
          {
            ...s3SinkConfig(`${prefix}/{host}-{batch_id}{ext}`),
            retry: { max_elapsed_ms: 500 },
          },
        ],
        {
          batch: { max_age_ms: 100, max_events: 500, codec: 'none' },
          dlq: {
            probe_interval_ms: 200,
            reupload_events_per_s: 100000,
            max_bytes: 1048576,
            segment_max_bytes: 65536,
          },
          http: { retry_after_s: 1 },
        },
      ),
    );
    const edge = await start(edgeConfig({ urls: [`${core.url}/v1/events`] }));
    await stopService('minio');
    const { lines, ids } = makeEvents(6000, prefix);
    await postAll(edge, lines, 500);
    await until(
      'the core refused with 503',
      async () =>
        /http_sink_requests_total\{[^}]*status="503"\} [1-9]/.test(await metricsText(edge)),
      60_000,
    );
    // The core's /metrics wants a token with the metrics route (the edge's has it here).
    const cm = await (
      await fetch(`${core.url}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } })
    ).text();
    expect(metricSum(cm, 'dlq_events_spooled_total')).toBeGreaterThan(0);
    expect(metricSum(cm, 'http_requests_rejected_dlq_full_total')).toBeGreaterThan(0);
    // The core's Retry-After (1 s) is the floor of the edge's next delay (its own backoff is ≤ 500 ms).
    const waits = edge
      .logs()
      .filter((l) => l.msg === 'sink write failed, retrying' && /HTTP 503/.test(String(l.err)));
    expect(waits.length).toBeGreaterThan(0);
    expect(waits.every((l) => (l.delay_ms as number) >= 1000)).toBe(true);
    await startService('minio');
    await drained(edge);
    await until(
      'all in S3',
      async () => {
        const s3 = await s3EventCounts(prefix);
        return ids.every((id) => s3.has(id));
      },
      120_000,
      1000,
    );
    edge.kill('SIGTERM');
    expect(await edge.exited).toBe(0);
  }, 240_000);

  it('mutual TLS: the edge presents its client certificate and verifies the server by a CA bundle', async () => {
    const core = await start(
      coreConfig(0, [{ type: 'directory', name: 'out', path: '${STATE_DIR}/out' }]),
    );
    const t = rig.kafka.tlsDir; // the rig's CA, a server certificate for 127.0.0.1, a client certificate
    // A TLS front that requires a client certificate signed by the CA and passes requests to the core.
    const seen: string[] = [];
    const front = https.createServer(
      {
        cert: readFileSync(join(t, 'broker.pem')),
        key: readFileSync(join(t, 'broker.key')),
        ca: readFileSync(join(t, 'ca.pem')),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        seen.push(
          (req.socket as import('node:tls').TLSSocket).getPeerCertificate().subject.CN as string,
        );
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', async () => {
          const r = await fetch(`${core.url}${req.url}`, {
            method: req.method,
            headers: Object.fromEntries(
              Object.entries(req.headers).filter(
                ([k]) => !['host', 'connection', 'content-length'].includes(k),
              ),
            ) as Record<string, string>,
            body: req.method === 'POST' ? Buffer.concat(chunks) : undefined,
          });
          res.writeHead(r.status, { 'content-type': 'application/json' });
          res.end(await r.text());
        });
      },
    );
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', () => r()));
    const url = `https://127.0.0.1:${(front.address() as AddressInfo).port}/v1/events`;
    try {
      const edge = await start(
        edgeConfig({
          urls: [url],
          tls: { ca: join(t, 'ca.pem'), cert: join(t, 'client.pem'), key: join(t, 'client.key') },
        }),
      );
      const { lines, ids } = makeEvents(300, `${run}-tls`);
      await postAll(edge, lines);
      // The core answered ?ack=durable from its write-ahead log: its own sink follows.
      await until(
        'all at the core',
        async () => ids.every((id) => idsIn(join(core.stateDir, 'out')).has(id)) || undefined,
        30_000,
      );
      const atCore = idsIn(join(core.stateDir, 'out'));
      expect(ids.every((id) => atCore.has(id))).toBe(true);
      expect(seen.length).toBeGreaterThan(0);
      expect(new Set(seen)).toEqual(new Set(['ferry rig client']));
      expect(metricSum(await metricsText(edge), 'dlq_events_spooled_total')).toBe(0);
      edge.kill('SIGTERM');
      expect(await edge.exited).toBe(0);
      // Without the client certificate the handshake fails: the batches wait in the DLQ.
      const anon = await start(edgeConfig({ urls: [url], tls: { ca: join(t, 'ca.pem') } }));
      await postAll(anon, makeEvents(50, `${run}-anon`).lines);
      const am = await metricsText(anon);
      expect(metricSum(am, 'dlq_events_spooled_total')).toBe(50);
      expect(am).toMatch(/http_sink_requests_total\{[^}]*status="network"\} [1-9]/);
      anon.kill('SIGKILL');
    } finally {
      front.close();
      front.closeAllConnections();
    }
  }, 120_000);
});
