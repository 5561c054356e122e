/**
 * HTTP sink failures → SinkError, by the SPEC's rule for every HTTP-based sink: no (complete)
 * answer, 5xx, 408 and 429 retry; other 4xx are permanent (401/403 `auth`, 404 waits in the DLQ
 * as a sink-level error, the rest poison the batch); 3xx are permanent (`http_3xx`: a URL to fix).
 * A 503 or 429 with Retry-After (seconds or an HTTP date) carries it, capped, as retryAfterMs.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { isTimeoutError } from '../../util/errors.js';
import { isRetryableStatus, networkCode, SinkError, type SinkErrorClass } from '../errors.js';

/** A complete answer that is not a success. */
export class HttpStatusError extends Error {
  override readonly name = 'HttpStatusError';
  constructor(
    readonly status: number,
    readonly headers: IncomingHttpHeaders,
    readonly body: string,
  ) {
    super(`HTTP ${status}: ${body.trim().split('\n')[0].slice(0, 300)}`);
  }
}

/** Retry-After as milliseconds (delta-seconds or an HTTP date), capped; undefined when absent or unreadable. */
export function retryAfterMs(
  value: string | string[] | undefined,
  capMs: number,
  now = Date.now(),
): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  const s = v.trim();
  const ms = /^\d+$/.test(s) ? Number(s) * 1000 : Date.parse(s) - now;
  if (!Number.isFinite(ms)) return undefined;
  return Math.min(Math.max(0, ms), capMs);
}

export function classifyHttpError(
  err: unknown,
  what: string,
  signal: AbortSignal | undefined,
  maxRetryAfterMs: number,
): SinkError {
  if (err instanceof SinkError) return err;
  if (err instanceof HttpStatusError) {
    const s = err.status;
    const cls: SinkErrorClass =
      s === 401 || s === 403
        ? 'auth'
        : s === 429
          ? 'throttled'
          : s >= 500
            ? 'http_5xx'
            : s >= 300 && s < 400
              ? 'http_3xx'
              : 'http_4xx';
    const retryable = isRetryableStatus(s);
    return new SinkError(`${what}: ${err.message}`, {
      retryable,
      status: s,
      errorClass: cls,
      cause: err,
      retryAfterMs: retryable
        ? retryAfterMs(err.headers['retry-after'], maxRetryAfterMs)
        : undefined,
    });
  }
  if (signal?.aborted) {
    const timeout = isTimeoutError(signal.reason);
    return new SinkError(`${what}: ${timeout ? 'timed out' : 'aborted'}`, {
      retryable: true,
      errorClass: timeout ? 'timeout' : 'aborted',
      cause: err,
    });
  }
  const net = networkCode(err);
  return new SinkError(
    `${what}: ${net ? `network error ${net}` : `no answer: ${(err as Error | undefined)?.message ?? String(err)}`}`,
    { retryable: true, errorClass: 'network', cause: err },
  );
}
