/**
 * HTTP sink: POSTs each batch's archive part as NDJSON envelopes, compressed with batch.codec, to a
 * URL: `Content-Encoding` names the codec. A format-1 archive goes as the workers built it; a
 * format-2 one is rebuilt as envelopes first (envelopesOf). Made for another ferry's `/v1/events`
 * (which reads gzip, lz4 and zstd bodies): with `?ack=durable` the receiver answers 200 only once
 * its own sinks (or its DLQ) have every event, so this edge counts the batch delivered only then —
 * a durable acknowledgement across two hops. The receiver keeps each envelope's event_id as the
 * event's id (a top-level event_id), so its ClickHouse table deduplicates a batch sent twice.
 *
 * Errors, classified like the other HTTP sinks (./errors.ts): no answer or 5xx/408/429 retry, and
 * move on to the next URL; other 4xx are permanent (401/403/404 wait in the DLQ, see
 * isSinkLevelError). A 503 or 429 with Retry-After makes the retry loop wait at least that long.
 *
 * node:http(s) rather than fetch: client certificates and a CA bundle per sink need an Agent,
 * which fetch (undici) only takes through an undici dispatcher that Bun and Deno do not have.
 */
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { HttpSinkConfig } from '../../config/types.js';
import { Buffer } from 'node:buffer';
import { compress } from '../../codecs/index.js';
import type { Codec, EncodedBatch, EncodedPart } from '../../contracts/batch.js';
import { archiveBytes, isLeanArchive, splitArchive } from '../archive-lines.js';
import { partOf } from '../../contracts/batch.js';
import type { Sink, SinkReceipt } from '../../contracts/sink.js';
import type { Logger } from '../../observe/log.js';
import type { SinkMetrics } from '../../observe/metrics.js';
import type { SinkError } from '../errors.js';
import { classifyHttpError, HttpStatusError } from './errors.js';

/**
 * The body a receiver takes as one event per line: a format-1 archive as the workers built it
 * (no work here); a format-2 archive (docs/archive.md: a header line, then the events' own bytes)
 * rebuilt as the envelopes format 1 holds and compressed again with the batch's codec, so the
 * receiver keeps each event's id, received_at and source as before. That costs this main thread a
 * decompression, one parse of each event and a compression per batch (docs/fleet.md).
 */
function envelopesOf(part: EncodedPart): EncodedPart {
  const raw = archiveBytes(part);
  if (!isLeanArchive(raw)) return part;
  const lines = splitArchive(raw);
  const ndjson = Buffer.concat(lines.flatMap((l) => [l.line, NEWLINE]));
  return { ...part, body: compress(part.codec, ndjson), rawBytes: ndjson.byteLength };
}
const NEWLINE = Buffer.from('\n');

/** Answers are short JSON; never buffer more of one. */
const MAX_ANSWER = 64 * 1024;

const CONTENT_ENCODING: Record<Codec, string | undefined> = {
  gzip: 'gzip',
  lz4: 'lz4',
  zstd: 'zstd',
  none: undefined,
};

interface Target {
  url: URL;
  /** The URL as configured (the metrics' label: no query added). */
  label: string;
  /** Skipped (unless every target is) until this time, after a retryable failure. */
  downUntil: number;
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class HttpSink implements Sink {
  readonly type = 'http' as const;
  readonly takes = 'archive' as const;
  readonly name: string;
  private readonly targets: Target[];
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly maxRetryAfterMs: number;

  constructor(
    private readonly cfg: HttpSinkConfig,
    private readonly log: Logger,
    private readonly metrics?: Pick<SinkMetrics, 'httpSinkRequests'>,
  ) {
    this.name = cfg.name;
    this.targets = cfg.urls.map((u) => {
      const url = new URL(u);
      url.searchParams.set('ack', cfg.ack);
      return { url, label: u, downUntil: 0 };
    });
    const t = cfg.tls;
    this.agents = {
      http: new http.Agent({ keepAlive: true }),
      https: new https.Agent({
        keepAlive: true,
        ...(t.ca ? { ca: readFileSync(t.ca, 'utf8') } : {}),
        ...(t.cert ? { cert: readFileSync(t.cert, 'utf8') } : {}),
        ...(t.key ? { key: readFileSync(t.key, 'utf8') } : {}),
        ...(t.servername ? { servername: t.servername } : {}),
        rejectUnauthorized: t.reject_unauthorized,
      }),
    };
    this.maxRetryAfterMs = cfg.max_retry_after_s * 1000;
  }

  /** Healthy targets first (in configured order), then the ones in their cooldown. */
  private order(): Target[] {
    const now = Date.now();
    const up = this.targets.filter((t) => t.downUntil <= now);
    return up.length === this.targets.length
      ? up
      : [...up, ...this.targets.filter((t) => t.downUntil > now)];
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const archive = envelopesOf(partOf(batch, 'archive'));
    const headers: http.OutgoingHttpHeaders = {
      'content-type': 'application/x-ndjson',
      'content-length': archive.body.byteLength,
      'x-ferry-batch-id': batch.id,
    };
    const enc = CONTENT_ENCODING[archive.codec];
    if (enc) headers['content-encoding'] = enc;
    let last: SinkError | undefined;
    for (const t of this.order()) {
      const what = `HTTP POST of batch ${batch.id} (${batch.events} events) to ${t.label}`;
      try {
        const a = await this.request(t, 'POST', headers, archive.body, signal);
        this.metrics?.httpSinkRequests.inc({ sink: this.name, url: t.label, status: a.status });
        const ok =
          this.cfg.ack === 'durable' ? a.status === 200 : a.status >= 200 && a.status < 300;
        if (!ok) throw new HttpStatusError(a.status, a.headers, a.body);
        t.downUntil = 0;
        this.checkCount(a, batch, t);
        return { location: t.label };
      } catch (err) {
        if (!(err instanceof HttpStatusError))
          this.metrics?.httpSinkRequests.inc({ sink: this.name, url: t.label, status: 'network' });
        const e = classifyHttpError(err, what, signal, this.maxRetryAfterMs);
        if (!e.retryable || signal?.aborted) throw e;
        t.downUntil = Date.now() + Math.max(this.cfg.failover_cooldown_ms, e.retryAfterMs ?? 0);
        if (this.targets.length > 1)
          this.log.warn(
            { sink: this.name, url: t.label, class: e.errorClass, status: e.status },
            'http sink: URL failed, trying the next one',
          );
        // The wait the retry loop owes the servers: the shortest any of them asked for.
        last =
          last?.retryAfterMs !== undefined &&
          (e.retryAfterMs === undefined || last.retryAfterMs < e.retryAfterMs)
            ? last
            : e;
      }
    }
    throw last!;
  }

  /** A ferry receiver says how many events it took; fewer than sent is worth an error line. */
  private checkCount(a: Answer, batch: EncodedBatch, t: Target): void {
    let accepted: unknown;
    try {
      accepted = (JSON.parse(a.body) as { accepted?: unknown }).accepted;
    } catch {
      return; // not a ferry: any 2xx it sends is its word
    }
    if (typeof accepted === 'number' && accepted !== batch.events)
      this.log.error(
        { sink: this.name, url: t.label, batch: batch.id, events: batch.events, accepted },
        'http sink: the receiver accepted a different number of events than the batch holds',
      );
  }

  /** GET probe_path on each URL's origin: the first that answers 2xx makes the sink healthy. */
  async probe(signal?: AbortSignal): Promise<void> {
    let last: SinkError | undefined;
    for (const t of this.order()) {
      const url = new URL(this.cfg.probe_path || t.url.pathname, t.url);
      try {
        const a = await this.request({ ...t, url }, 'GET', {}, undefined, signal);
        if (a.status >= 200 && a.status < 300) return;
        // probe_path '' = the endpoint itself: any answer at all means it is there.
        if (!this.cfg.probe_path && a.status < 500) return;
        throw new HttpStatusError(a.status, a.headers, a.body);
      } catch (err) {
        last = classifyHttpError(err, `HTTP probe ${url.href}`, signal, this.maxRetryAfterMs);
      }
    }
    throw last!;
  }

  async close(): Promise<void> {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  private request(
    t: Target,
    method: 'GET' | 'POST',
    extra: http.OutgoingHttpHeaders,
    body: Uint8Array | undefined,
    signal?: AbortSignal,
  ): Promise<Answer> {
    const headers: http.OutgoingHttpHeaders = { ...this.cfg.headers, ...extra };
    if (this.cfg.token) headers.authorization = `Bearer ${this.cfg.token}`;
    const secure = t.url.protocol === 'https:';
    const mod = secure ? https : http;
    return new Promise<Answer>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const req = mod.request(
        t.url,
        { method, headers, agent: secure ? this.agents.https : this.agents.http, signal },
        (res) => {
          const chunks: Buffer[] = [];
          let n = 0;
          res.on('data', (c: Buffer) => {
            if (n < MAX_ANSWER) chunks.push(c);
            n += c.length;
          });
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: Buffer.concat(chunks).subarray(0, MAX_ANSWER).toString('utf8'),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
}
