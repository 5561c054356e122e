import type { AckMode, FerryConfig } from '../../config/types.js';
import type { HttpMetrics } from '../../observe/metrics.js';
import type { AckTracker, AckOutcome } from '../../pipeline/acks.js';
import type { Dispatcher } from '../../contracts/dispatch.js';
import type { RecordHeader } from '../../rings/record.js';
import { codecAvailable } from '../../codecs/index.js';
import { BodyEncoding, type BodyFormat } from '../../rings/record.js';
import type { AuthGuard } from '../../auth/guard.js';
import { nextHttpRequestId } from './request-ids.js';
import {
  formatOf,
  encodingOf,
  SUPPORTED_TYPES,
  SUPPORTED_ENCODINGS,
  type BodyRead,
} from './body.js';

export interface IngestDeps {
  config: () => FerryConfig;
  dispatcher: Dispatcher;
  acks: AckTracker;
  metrics: HttpMetrics;
  /** False once shutdown began: answer 503 and ask the client to reconnect elsewhere. */
  accepting: () => boolean;
  /** Bearer tokens, routes and rate limits (a no-op when auth is off). */
  auth: AuthGuard;
  /** Why new data must be refused now (a down sink with a full DLQ under policy reject), or undefined. */
  refusal?: () => string | undefined;
  /** Why a durable request must be refused now (the write-ahead log is full), or undefined. */
  walRefusal?: () => string | undefined;
}

/** A request as the ingest logic sees it, whatever server delivered it. */
export interface IngestRequest {
  ack: string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  /** The Authorization header as received. */
  authorization: string | undefined;
  /** Reads the body within the limit (called at most once, after the header checks). */
  readBody(limit: number): Promise<BodyRead>;
}

export interface IngestResponse {
  status: number;
  body: Record<string, unknown>;
  headers?: Record<string, string>;
}

/**
 * What differs between the doors that share this handler: /v1/events (the default) and the
 * protocol doors (OTLP) that bring their own Content-Types and source name.
 */
export interface IngestDoor {
  formatOf(contentType: string | undefined): BodyFormat | undefined;
  supportedTypes: string;
  /** The event's `source` when the token names none. */
  source: string;
  /** An empty body is a valid request with nothing in it (OTLP), not a 400. */
  emptyOk?: boolean;
}

const EVENTS_DOOR: IngestDoor = { formatOf, supportedTypes: SUPPORTED_TYPES, source: 'http' };

const CODEC_OF: Record<number, 'gzip' | 'lz4' | 'zstd'> = {
  [BodyEncoding.Gzip]: 'gzip',
  [BodyEncoding.Lz4]: 'lz4',
  [BodyEncoding.Zstd]: 'zstd',
};

/**
 * POST /v1/events, independent of the HTTP server: the main thread only checks
 * headers, reads the body within the limit and copies it into a ring; the
 * worker's verdict (and, for durable acks, the sinks) decide the answer.
 * Served through hono (Bun, Deno, and every other route) and, on Node, by a
 * direct node:http adapter for this one hot route (see serve.ts).
 */
export function createIngest(
  deps: IngestDeps,
  door: IngestDoor = EVENTS_DOOR,
): (req: IngestRequest) => Promise<IngestResponse> {
  return async (req) => {
    const started = performance.now();
    const cfg = deps.config();
    const m = deps.metrics;
    const answer = (
      status: number,
      body: Record<string, unknown>,
      headers?: Record<string, string>,
    ): IngestResponse => {
      m.httpRequests.inc({ status: String(status) });
      return { status, body, headers };
    };
    if (!deps.accepting()) {
      return answer(
        503,
        { error: 'shutting_down', message: 'ferry is shutting down; retry' },
        { 'Retry-After': String(cfg.http.retry_after_s), Connection: 'close' },
      );
    }
    const who = deps.auth.check('ingest', req.authorization);
    if (!who.ok) {
      m.rejectedAuth.inc({ reason: who.error });
      // Read (and drop) the body so the client sees the answer and the connection stays usable.
      const drained = await req.readBody(cfg.http.max_body_bytes).catch(() => undefined);
      const headers = drained?.ok ? who.headers : { ...who.headers, Connection: 'close' };
      return answer(who.status, { error: who.error, message: who.message }, headers);
    }
    const refused = deps.refusal?.();
    if (refused) {
      // Nothing acknowledged may be dropped, so nothing new is acknowledged until there is room.
      m.rejectedDlqFull.inc();
      const drained = await req.readBody(cfg.http.max_body_bytes).catch(() => undefined);
      return answer(
        503,
        { error: 'dlq_full', message: `${refused}; retry later` },
        {
          'Retry-After': String(cfg.http.retry_after_s),
          ...(drained?.ok ? {} : { Connection: 'close' }),
        },
      );
    }
    if (
      req.ack !== undefined &&
      req.ack !== 'durable' &&
      req.ack !== 'delivered' &&
      req.ack !== 'accepted'
    ) {
      return answer(400, {
        error: 'bad_ack_mode',
        message: `ack must be "durable", "delivered" or "accepted", got "${req.ack}"`,
      });
    }
    const mode: AckMode = (req.ack as AckMode | undefined) ?? cfg.http.ack;
    const walFull = mode === 'durable' ? deps.walRefusal?.() : undefined;
    if (walFull) {
      // Nothing acknowledged may be dropped: no new durable promise until the log has room.
      const drained = await req.readBody(cfg.http.max_body_bytes).catch(() => undefined);
      return answer(
        503,
        { error: 'wal_full', message: `${walFull}; retry later` },
        {
          'Retry-After': String(cfg.http.retry_after_s),
          ...(drained?.ok ? {} : { Connection: 'close' }),
        },
      );
    }

    const format = door.formatOf(req.contentType);
    if (format === undefined) {
      return answer(415, {
        error: 'unsupported_media_type',
        message: `Content-Type must be one of ${door.supportedTypes}`,
      });
    }
    const encoding = encodingOf(req.contentEncoding);
    if (
      encoding === undefined ||
      (encoding !== BodyEncoding.Identity && !codecAvailable(CODEC_OF[encoding]))
    ) {
      return answer(415, {
        error: 'unsupported_encoding',
        message: `Content-Encoding must be one of ${SUPPORTED_ENCODINGS} (as available on this runtime)`,
      });
    }

    const body = await req.readBody(cfg.http.max_body_bytes);
    if (!body.ok) {
      m.rejectedBodyTooLarge.inc();
      // The rest of the body is not read: close the connection rather than parse it as the next request.
      return answer(
        413,
        {
          error: 'body_too_large',
          message: `request body exceeds http.max_body_bytes (${cfg.http.max_body_bytes} bytes)`,
        },
        { Connection: 'close' },
      );
    }
    if (body.bytes === 0 && door.emptyOk) return answer(200, { accepted: 0, ack: mode });
    if (body.bytes === 0) {
      m.rejectedMalformed.inc();
      return answer(400, { error: 'malformed_body', message: 'empty body: no events' });
    }

    const reqId = nextHttpRequestId();
    const header: RecordHeader = {
      reqId,
      format,
      encoding,
      receivedAt: Date.now(),
      source: who.source ?? door.source,
    };
    const worker = deps.dispatcher.tryDispatch(header, body.chunks, mode);
    if (worker < 0) {
      const full = mode === 'durable' ? deps.walRefusal?.() : undefined;
      if (full)
        return answer(
          503,
          { error: 'wal_full', message: `${full}; retry later` },
          { 'Retry-After': String(cfg.http.retry_after_s) },
        );
      m.rejectedQueueFull.inc();
      return answer(
        503,
        { error: 'queue_full', message: 'ferry is at capacity; retry later' },
        { 'Retry-After': String(cfg.http.retry_after_s) },
      );
    }
    const outcome: AckOutcome = await deps.acks.register(reqId, worker, mode);
    m.ackLatency.observe({ ack: mode }, (performance.now() - started) / 1000);
    if (outcome.ok) {
      m.eventsIn.inc({ source: header.source }, outcome.events);
      return answer(outcome.durable ? 200 : 202, {
        accepted: outcome.events,
        ack: outcome.durable ? (mode === 'delivered' ? 'delivered' : 'durable') : 'accepted',
        ...(outcome.rejected !== undefined
          ? { rejected: outcome.rejected, rejected_message: outcome.rejectMessage }
          : {}),
      });
    }
    if (outcome.status === 413) m.rejectedBodyTooLarge.inc();
    else if (outcome.status === 400) m.rejectedMalformed.inc();
    const extra: Record<string, string> = {};
    if (outcome.status === 503)
      extra['Retry-After'] = String(outcome.retryAfterS ?? cfg.http.retry_after_s);
    const { ok: _ok, status, retryAfterS: _r, ...rest } = outcome;
    return answer(status, rest, extra);
  };
}
