/**
 * The sinks layer's error vocabulary: the one error a sink throws (SinkError), the closed set
 * of classes it is labelled with in metrics, logs and DLQ records, and the network failures
 * every HTTP-based sink recognises in a cause chain.
 */
import { errnoCode, findInCauseChain } from '../util/errors.js';

/**
 * Filesystem errno codes the directory sink knows. Conditions that can clear up by themselves
 * are retried (space freed, quota raised, transient I/O, fd exhaustion, a directory removed under
 * us and re-created on the next attempt). Conditions that need an operator are permanent
 * (permissions, read-only filesystem, a file where a directory should be, names too long).
 */
export const RETRYABLE_FS_CODES = [
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'ENOENT',
  'ESTALE',
  'ETIMEDOUT',
  'ENOMEM',
] as const;
export const PERMANENT_FS_CODES = [
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENAMETOOLONG',
  'ELOOP',
  'EFBIG',
  'EINVAL',
  'EEXIST',
  'EXDEV',
] as const;
type FsCode = (typeof RETRYABLE_FS_CODES)[number] | (typeof PERMANENT_FS_CODES)[number];

/** `fs_enospc`, `fs_eacces` …; a code not in the lists above is `fs_other` (its code stays in the message). */
export type FsErrorClass = `fs_${Lowercase<FsCode>}` | 'fs_other';

/** Every class a SinkError can carry. */
export type SinkErrorClass =
  /** No (complete) response: refused, reset, DNS … */
  | 'network'
  /** The attempt deadline, or a server-side timeout. */
  | 'timeout'
  /** Shutdown aborted the attempt. */
  | 'aborted'
  /** 429, S3 SlowDown, ClickHouse quotas and memory limits. */
  | 'throttled'
  | 'http_3xx'
  | 'http_4xx'
  | 'http_5xx'
  /** The sink refused the data itself (ClickHouse: unparseable rows, schema mismatch …). */
  | 'rejected'
  /** Wrong credentials or no permission. */
  | 'auth'
  /** A ferry bug or an unexpected library error. */
  | 'internal'
  | FsErrorClass;

const FS_CODES = new Set<string>([...RETRYABLE_FS_CODES, ...PERMANENT_FS_CODES]);
const PERMANENT_FS = new Set<string>(PERMANENT_FS_CODES);

export function fsErrorClass(code: string): FsErrorClass {
  return FS_CODES.has(code) ? (`fs_${code.toLowerCase()}` as FsErrorClass) : 'fs_other';
}

/** Codes not listed are retried: a later attempt (or the DLQ) loses nothing, a wrong "permanent" would poison a good batch. */
export function isPermanentFsCode(code: string): boolean {
  return PERMANENT_FS.has(code);
}

/**
 * A sink failure, classified once where the protocol is known.
 * retryable: network errors, timeouts, 5xx, 408, 429. Anything else is permanent.
 */
export class SinkError extends Error {
  override readonly name = 'SinkError';
  readonly retryable: boolean;
  readonly status: number | undefined;
  /** Short stable class for metrics and logs. */
  readonly errorClass: SinkErrorClass;
  /** How many attempts were made before giving up; set by the retry layer (deliver). */
  attempts?: number;
  /** The server asked to wait this long before the next attempt (Retry-After); deliver honours it. */
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    opts: {
      retryable: boolean;
      status?: number;
      errorClass: SinkErrorClass;
      cause?: unknown;
      retryAfterMs?: number;
    },
  ) {
    super(message, { cause: opts.cause });
    this.retryable = opts.retryable;
    this.status = opts.status;
    this.errorClass = opts.errorClass;
    this.retryAfterMs = opts.retryAfterMs;
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

/** Socket-level failures: no (complete) response came back, so the request may be retried. */
export const NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ESOCKETTIMEDOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_STREAM_PREMATURE_CLOSE',
  'ConnectionRefused',
]);

/** The first network code in the error's cause chain (`code`, or a string `errno` as some SDKs set). */
export function networkCode(err: unknown): string | undefined {
  return findInCauseChain(err, (e) => {
    const errno = (e as { errno?: unknown }).errno;
    const c = errnoCode(e) ?? (typeof errno === 'string' ? errno : undefined);
    return c !== undefined && NETWORK_CODES.has(c) ? c : undefined;
  });
}
