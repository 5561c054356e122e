import type { AckMode } from '../../config/types.js';
import type { Metrics } from '../../observe/metrics.js';
import type { AckOutcome } from '../../pipeline/acks.js';
import type { RecordHeader } from '../../rings/record.js';
import type { AuthDecision } from '../../auth/guard.js';
import type { IngestDeps } from '../http/ingest.js';
import type { BodyRead } from '../http/body.js';
import { BodyEncoding, BodyFormat } from '../../rings/record.js';
import { codecAvailable } from '../../codecs/index.js';
import { encodingOf } from '../http/body.js';
import { nextHttpRequestId } from '../http/request-ids.js';
import { bearerCandidates } from './credentials.js';
import { esError, esTypeOf } from './es-error.js';
import { wrapBulkAnswer } from '../../../workers/bulk-answer.js';
import { encodeBulkPrefix, MAX_FILTER_PATH_BYTES, MAX_INDEX_BYTES } from './prefix.js';

/** A `_bulk` request as the door sees it, whatever server delivered it. */
export interface BulkRequest {
  /** From the path `/{index}/_bulk` (URL-decoded); undefined for `/_bulk`. */
  index: string | undefined;
  query(name: string): string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  accept: string | undefined;
  authorization: string | undefined;
  /** x-ferry-ack, as on /v1/events. */
  ack: string | undefined;
  readBody(limit: number): Promise<BodyRead>;
}

export interface BulkResponse {
  status: number;
  /** JSON (text or its UTF-8 bytes); undefined = no body. */
  body: string | Uint8Array | undefined;
  headers: Record<string, string>;
}

export interface BulkDeps extends IngestDeps {
  metrics: Metrics;
}

/** Every answer of the door carries the header the official clients check. */
export const PRODUCT_HEADER = { 'X-Elastic-Product': 'Elasticsearch' } as const;

/** `application/vnd.elasticsearch+json; compatible-with=N` when the client asked in those terms. */
export function answerType(accept: string | undefined, contentType: string | undefined): string {
  const m = /compatible-with\s*=\s*(\d+)/i.exec(accept ?? contentType ?? '');
  return m ? `application/vnd.elasticsearch+json;compatible-with=${m[1]}` : 'application/json';
}

/** JSON, NDJSON, and their vnd.elasticsearch forms (any compatible-with); no type at all is NDJSON. */
function acceptedType(contentType: string | undefined): boolean {
  if (!contentType) return true;
  const t = contentType.split(';')[0].trim().toLowerCase();
  return (
    t === 'application/json' ||
    t === 'application/x-ndjson' ||
    t === 'application/vnd.elasticsearch+json' ||
    t === 'application/vnd.elasticsearch+x-ndjson'
  );
}

/** The auth guard over every credential form Elasticsearch clients send. */
export function checkEsAuth(
  deps: Pick<IngestDeps, 'auth'>,
  authorization: string | undefined,
): AuthDecision {
  const tries = bearerCandidates(authorization);
  let d = deps.auth.check('ingest', tries[0]);
  for (let i = 1; i < tries.length && !d.ok && d.status === 401; i++)
    d = deps.auth.check('ingest', tries[i]);
  return d;
}

/** Elasticsearch's shape of an auth refusal (security_exception; 429 for a token over its rate). */
export function esAuthRefusal(
  d: AuthDecision & { ok: false },
  path: string,
): { status: number; body: string; headers: Record<string, string> } {
  if (d.status === 429)
    return {
      status: 429,
      body: esError(429, 'es_rejected_execution_exception', d.message),
      headers: d.headers,
    };
  const reason =
    d.status === 401
      ? d.message.startsWith('missing')
        ? `missing authentication credentials for REST request [${path}]`
        : `unable to authenticate with provided credentials for REST request [${path}]`
      : `action [indices:data/write/bulk] is unauthorized: ${d.message}`;
  return {
    status: d.status,
    body: esError(d.status, 'security_exception', reason),
    headers:
      d.status === 401
        ? {
            'WWW-Authenticate':
              'Basic realm="ferry", charset="UTF-8", Bearer realm="ferry", ApiKey',
          }
        : {},
  };
}

/**
 * POST/PUT /_bulk and /{index}/_bulk. Like /v1/events the main thread only checks headers, reads
 * the body within the limit and copies it into a ring (behind the URL's index, prefix.ts); the
 * worker parses it into events and per-item results (workers/bulk-parse.ts), and the answer is
 * rendered once the verdict — and, for durable acks, the sinks — decide.
 */
export function createBulk(deps: BulkDeps): (req: BulkRequest) => Promise<BulkResponse> {
  return async (req) => {
    const started = performance.now();
    const cfg = deps.config();
    const m = deps.metrics;
    const type = answerType(req.accept, req.contentType);
    const answer = (
      status: number,
      body: string | Uint8Array,
      headers: Record<string, string> = {},
    ) => {
      m.bulkRequests.inc({ status: String(status) });
      return { status, body, headers: { ...PRODUCT_HEADER, 'Content-Type': type, ...headers } };
    };
    const fail = (status: number, t: string, reason: string, headers?: Record<string, string>) =>
      answer(status, esError(status, t, reason), headers);
    const drain = async () =>
      (await req.readBody(cfg.http.max_body_bytes).catch(() => undefined))?.ok;
    const retryAfter = { 'Retry-After': String(cfg.http.retry_after_s) };

    if (!deps.accepting())
      return fail(503, 'unavailable_shards_exception', 'ferry is shutting down; retry', {
        ...retryAfter,
        Connection: 'close',
      });
    const who = checkEsAuth(deps, req.authorization);
    if (!who.ok) {
      m.rejectedAuth.inc({ reason: who.error });
      const r = esAuthRefusal(who, req.index === undefined ? '/_bulk' : `/${req.index}/_bulk`);
      const drained = await drain();
      return answer(r.status, r.body, drained ? r.headers : { ...r.headers, Connection: 'close' });
    }
    const refused = deps.refusal?.();
    if (refused) {
      // A full DLQ under policy reject: 429, which Elasticsearch shippers and the Python client retry (the JS helpers.bulk does not: docs/protocols.md).
      m.rejectedDlqFull.inc();
      const drained = await drain();
      return fail(429, 'es_rejected_execution_exception', `${refused}; retry later`, {
        ...retryAfter,
        ...(drained ? {} : { Connection: 'close' }),
      });
    }
    if (req.ack !== undefined && req.ack !== 'durable' && req.ack !== 'accepted')
      return fail(
        400,
        'illegal_argument_exception',
        `x-ferry-ack must be "durable" or "accepted", got "${req.ack}"`,
      );
    const mode: AckMode = (req.ack as AckMode | undefined) ?? cfg.http.ack;
    if (!acceptedType(req.contentType))
      return answer(
        406,
        JSON.stringify({
          error: `Content-Type header [${req.contentType}] is not supported`,
          status: 406,
        }),
      );
    const encoding = encodingOf(req.contentEncoding);
    if (
      encoding === undefined ||
      (encoding !== BodyEncoding.Identity &&
        !codecAvailable(
          encoding === BodyEncoding.Gzip ? 'gzip' : encoding === BodyEncoding.Lz4 ? 'lz4' : 'zstd',
        ))
    )
      return fail(
        415,
        'illegal_argument_exception',
        `unsupported Content-Encoding [${req.contentEncoding}]`,
      );
    const filterPath = req.query('filter_path');
    let prefix: Uint8Array;
    try {
      prefix = encodeBulkPrefix({ index: req.index, filterPath });
    } catch {
      return req.index !== undefined && new TextEncoder().encode(req.index).length > MAX_INDEX_BYTES
        ? fail(
            400,
            'invalid_index_name_exception',
            `Invalid index name [${req.index.slice(0, 64)}…], index name is too long`,
          )
        : fail(
            400,
            'illegal_argument_exception',
            `filter_path longer than ${MAX_FILTER_PATH_BYTES} bytes`,
          );
    }

    const body = await req.readBody(cfg.http.max_body_bytes);
    if (!body.ok) {
      m.rejectedBodyTooLarge.inc();
      return fail(
        413,
        'content_too_long_exception',
        `request body is larger than http.max_body_bytes (${cfg.http.max_body_bytes} bytes)`,
        { Connection: 'close' },
      );
    }
    if (body.bytes === 0) {
      m.rejectedMalformed.inc();
      return fail(400, 'parse_exception', 'request body is required');
    }
    const reqId = nextHttpRequestId();
    const header: RecordHeader = {
      reqId,
      format: BodyFormat.EsBulk,
      encoding,
      receivedAt: Date.now(),
      source: who.source ?? 'bulk',
    };
    const worker = deps.dispatcher.tryDispatch(header, [prefix, ...body.chunks]);
    if (worker < 0) {
      m.rejectedQueueFull.inc();
      return fail(
        429,
        'es_rejected_execution_exception',
        'ferry is at capacity; retry later',
        retryAfter,
      );
    }
    const outcome: AckOutcome = await deps.acks.register(reqId, worker, mode);
    m.ackLatency.observe({ ack: mode }, (performance.now() - started) / 1000);
    if (outcome.ok) {
      if (outcome.events > 0) m.eventsIn.inc({ source: header.source }, outcome.events);
      const bulk = outcome.bulk ?? { rest: '', took: true, counts: {} };
      for (const [k, n] of Object.entries(bulk.counts)) {
        const [action, status] = k.split(' ');
        m.bulkItems.inc({ action, status }, n);
      }
      const tookMs = Math.round(performance.now() - started);
      return answer(200, wrapBulkAnswer(bulk, tookMs, req.query('pretty') !== undefined));
    }
    if (outcome.status === 413) m.rejectedBodyTooLarge.inc();
    else if (outcome.status === 400) m.rejectedMalformed.inc();
    const extra: Record<string, string> = {};
    if (outcome.status === 503)
      extra['Retry-After'] = String(outcome.retryAfterS ?? cfg.http.retry_after_s);
    return fail(outcome.status, esTypeOf(outcome.error), outcome.message, extra);
  };
}
