import type { Context } from 'hono';
import type { AckMode, FerryConfig } from '../../config/types.js';
import type { Metrics } from '../../observe/metrics.js';
import type { AckTracker, AckOutcome } from '../../pipeline/acks.js';
import type { RecordHeader } from '../../rings/record.js';
import { codecAvailable } from '../../codecs/index.js';
import { BodyEncoding } from '../../rings/record.js';
import { readBodyLimited, type NodeIncoming, formatOf, encodingOf, SUPPORTED_TYPES, SUPPORTED_ENCODINGS } from './body.js';

/** What the ingest route needs from the pipeline: put a request in a ring. */
export interface Dispatcher {
  tryDispatch(header: RecordHeader, body: readonly Uint8Array[]): number;
}

export interface IngestDeps {
  config: () => FerryConfig;
  dispatcher: Dispatcher;
  acks: AckTracker;
  metrics: Metrics;
  /** False once shutdown began: answer 503 and ask the client to reconnect elsewhere. */
  accepting: () => boolean;
}

const CODEC_OF: Record<number, 'gzip' | 'lz4' | 'zstd'> = { [BodyEncoding.Gzip]: 'gzip', [BodyEncoding.Lz4]: 'lz4', [BodyEncoding.Zstd]: 'zstd' };

/**
 * POST /v1/events. The main thread only checks headers, reads the body within
 * the limit and copies it into a ring; the worker's verdict (and, for durable
 * acks, the sinks) decide the answer.
 */
export function ingestHandler(deps: IngestDeps) {
  let nextReqId = 1;
  return async (c: Context): Promise<Response> => {
    const started = performance.now();
    const cfg = deps.config();
    const m = deps.metrics;
    const answer = (status: number, body: Record<string, unknown>, headers?: Record<string, string>) => {
      m.httpRequests.inc({ status: String(status) });
      return c.json(body, status as 200, headers);
    };

    if (!deps.accepting()) {
      m.httpRequests.inc({ status: '503' });
      return c.json({ error: 'shutting_down', message: 'ferry is shutting down; retry' }, 503, { 'Retry-After': String(cfg.http.retry_after_s), Connection: 'close' });
    }
    const ackParam = c.req.query('ack') ?? c.req.header('x-ferry-ack');
    if (ackParam !== undefined && ackParam !== 'durable' && ackParam !== 'accepted') {
      return answer(400, { error: 'bad_ack_mode', message: `ack must be "durable" or "accepted", got "${ackParam}"` });
    }
    const mode: AckMode = (ackParam as AckMode | undefined) ?? cfg.http.ack;

    const format = formatOf(c.req.header('content-type'));
    if (format === undefined) {
      return answer(415, { error: 'unsupported_media_type', message: `Content-Type must be one of ${SUPPORTED_TYPES}` });
    }
    const encoding = encodingOf(c.req.header('content-encoding'));
    if (encoding === undefined || (encoding !== BodyEncoding.Identity && !codecAvailable(CODEC_OF[encoding]))) {
      return answer(415, { error: 'unsupported_encoding', message: `Content-Encoding must be one of ${SUPPORTED_ENCODINGS} (as available on this runtime)` });
    }

    const body = await readBodyLimited(c.req.raw, cfg.http.max_body_bytes, (c.env as { incoming?: NodeIncoming } | undefined)?.incoming);
    if (!body.ok) {
      m.rejectedBodyTooLarge.inc();
      // The rest of the body is not read: close the connection rather than parse it as the next request.
      return answer(413, { error: 'body_too_large', message: `request body exceeds http.max_body_bytes (${cfg.http.max_body_bytes} bytes)` }, { Connection: 'close' });
    }
    if (body.bytes === 0) {
      m.rejectedMalformed.inc();
      return answer(400, { error: 'malformed_body', message: 'empty body: no events' });
    }

    const reqId = nextReqId;
    nextReqId = (nextReqId + 1) >>> 0 || 1;
    const header: RecordHeader = { reqId, format, encoding, receivedAt: Date.now(), source: 'http' };
    const worker = deps.dispatcher.tryDispatch(header, body.chunks);
    if (worker < 0) {
      m.rejectedQueueFull.inc();
      return answer(503, { error: 'queue_full', message: 'ferry is at capacity; retry later' }, { 'Retry-After': String(cfg.http.retry_after_s) });
    }
    const outcome: AckOutcome = await deps.acks.register(reqId, worker, mode);
    m.ackLatency.observe({ ack: mode }, (performance.now() - started) / 1000);
    if (outcome.ok) {
      return answer(outcome.durable ? 200 : 202, { accepted: outcome.events, ack: outcome.durable ? 'durable' : 'accepted' });
    }
    if (outcome.status === 413) m.rejectedBodyTooLarge.inc();
    else if (outcome.status === 400) m.rejectedMalformed.inc();
    const extra: Record<string, string> = {};
    if (outcome.status === 503) extra['Retry-After'] = String(outcome.retryAfterS ?? cfg.http.retry_after_s);
    const { ok: _ok, status, retryAfterS: _r, ...rest } = outcome;
    return answer(status, rest, extra);
  };
}
