/**
 * A sink failure, classified once where the protocol is known.
 * retryable: network errors, timeouts, 5xx, 408, 429. Anything else is permanent.
 */
export class SinkError extends Error {
  readonly retryable: boolean;
  readonly status: number | undefined;
  /** Short stable class for metrics and logs: 'network' | 'timeout' | 'http_5xx' | 'http_4xx' | ... */
  readonly errorClass: string;
  /** How many attempts were made before giving up; set by the retry layer (deliver). */
  attempts?: number;
  constructor(
    message: string,
    opts: { retryable: boolean; status?: number; errorClass: string; cause?: unknown },
  ) {
    super(message, { cause: opts.cause });
    this.name = 'SinkError';
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.errorClass = opts.errorClass;
  }
}

/** HTTP status → retryable, per the SPEC: 5xx, 408 and 429 retry; other 4xx are permanent. */
export function isRetryableStatus(status: number): boolean {
  return status >= 500 || status === 408 || status === 429;
}

/**
 * A permanent error that is about the sink, not the batch: wrong credentials, no permission, a
 * missing bucket or table. Every batch would fail the same way until the operator fixes the
 * config, so such batches wait in the DLQ (re-uploaded after the fix, e.g. by a reload) instead
 * of going to the poison area one by one.
 */
export function isSinkLevelError(e: SinkError): boolean {
  return e.errorClass === 'auth' || e.status === 401 || e.status === 403 || e.status === 404;
}
