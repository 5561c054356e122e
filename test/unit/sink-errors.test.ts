/**
 * The ClickHouse and S3 error classifiers, table-driven: each row is an error as the client
 * library (or the socket under it) throws it, and the verdict the retry loop and the uploader act
 * on: retryable or permanent, the class for metrics, and whether it is about the sink (waits in
 * the DLQ) rather than the batch (goes to poison).
 */
import { describe, expect, it } from 'vitest';
import { ClickHouseServerError, classifyClickHouseError } from '../../src/sinks/clickhouse.js';
import {
  fsErrorClass,
  isRetryableStatus,
  isSinkLevelError,
  NETWORK_CODES,
  networkCode,
  SinkError,
  type SinkErrorClass,
} from '../../src/sinks/errors.js';
import { classifyS3Error } from '../../src/sinks/s3.js';

interface Verdict {
  retryable: boolean;
  errorClass: SinkErrorClass;
  status?: number;
  /** isSinkLevelError: a permanent error about the sink, not the batch. */
  sinkLevel?: boolean;
}
type Row = [what: string, err: unknown, verdict: Verdict, signal?: AbortSignal];

const errno = (code: string, message = `connect ${code} 127.0.0.1:9000`) =>
  Object.assign(new Error(message), { code });
const withCause = (message: string, cause: unknown) => new Error(message, { cause });
const named = (name: string, message = name) => Object.assign(new Error(message), { name });
const aborted = (reason: unknown) => {
  const ac = new AbortController();
  ac.abort(reason);
  return ac.signal;
};
const timeoutReason = () => new DOMException('attempt timed out', 'TimeoutError');

function check(classify: (e: unknown, what: string, s?: AbortSignal) => SinkError, rows: Row[]) {
  it.each(rows)('%s', (_what, err, v, signal) => {
    const e = classify(err, 'sink x', signal);
    expect(e).toBeInstanceOf(SinkError);
    expect(e.name).toBe('SinkError');
    expect({ retryable: e.retryable, errorClass: e.errorClass }).toEqual({
      retryable: v.retryable,
      errorClass: v.errorClass,
    });
    expect(e.status).toBe(v.status);
    expect(isSinkLevelError(e)).toBe(v.sinkLevel ?? false);
    expect(e.message.startsWith('sink x: ')).toBe(true);
    if (err !== undefined && !(err instanceof SinkError)) expect(e.cause).toBe(err);
  });
}

/** What the AWS SDK throws for an HTTP error answer: name = Code, $metadata.httpStatusCode. */
const s3http = (status: number, code: string, extra: object = {}) =>
  Object.assign(new Error(code), {
    name: code,
    Code: code,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
    ...extra,
  });

describe('classifyS3Error', () => {
  check(classifyS3Error, [
    // No response at all: always retried as 'network'.
    ['ECONNREFUSED', errno('ECONNREFUSED'), { retryable: true, errorClass: 'network' }],
    ['ECONNRESET', errno('ECONNRESET'), { retryable: true, errorClass: 'network' }],
    ['ENOTFOUND (DNS)', errno('ENOTFOUND'), { retryable: true, errorClass: 'network' }],
    ['EAI_AGAIN (DNS)', errno('EAI_AGAIN'), { retryable: true, errorClass: 'network' }],
    [
      'network code two causes deep',
      withCause('SDK', withCause('fetch failed', errno('ECONNRESET'))),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'network code in the first error of an AggregateError (happy eyeballs)',
      new AggregateError([errno('ECONNREFUSED'), errno('EHOSTUNREACH')], 'connect failed'),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'network code as a string errno',
      Object.assign(new Error('socket'), { errno: 'ETIMEDOUT' }),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'an unknown error without a response',
      new Error('weird'),
      { retryable: true, errorClass: 'network' },
    ],
    ['a thrown string', 'boom', { retryable: true, errorClass: 'network' }],
    // Deadlines and shutdown.
    ['TimeoutError', named('TimeoutError'), { retryable: true, errorClass: 'timeout' }],
    [
      'the attempt signal fired with a TimeoutError reason',
      named('AbortError'),
      { retryable: true, errorClass: 'timeout' },
      aborted(timeoutReason()),
    ],
    ['AbortError (shutdown)', named('AbortError'), { retryable: true, errorClass: 'aborted' }],
    [
      'an aborted signal, whatever the error',
      errno('ECONNRESET'),
      { retryable: true, errorClass: 'aborted' },
      aborted(new Error('ferry is shutting down')),
    ],
    [
      'RequestTimeout without a status (socket timeout)',
      named('RequestTimeout'),
      { retryable: true, errorClass: 'aborted' },
    ],
    // HTTP answers.
    [
      '500 InternalError',
      s3http(500, 'InternalError'),
      { retryable: true, errorClass: 'http_5xx', status: 500 },
    ],
    ['502', s3http(502, 'BadGateway'), { retryable: true, errorClass: 'http_5xx', status: 502 }],
    [
      '503 SlowDown',
      s3http(503, 'SlowDown'),
      { retryable: true, errorClass: 'throttled', status: 503 },
    ],
    [
      '429',
      s3http(429, 'TooManyRequests'),
      { retryable: true, errorClass: 'throttled', status: 429 },
    ],
    [
      '$retryable.throttling on a 400',
      s3http(400, 'Custom', { $retryable: { throttling: true } }),
      { retryable: true, errorClass: 'throttled', status: 400 },
    ],
    [
      '408',
      s3http(408, 'RequestTimeout'),
      { retryable: true, errorClass: 'http_4xx', status: 408 },
    ],
    [
      '400 RequestTimeout (transient S3 code)',
      s3http(400, 'RequestTimeout'),
      { retryable: true, errorClass: 'http_4xx', status: 400 },
    ],
    [
      '403 RequestTimeTooSkewed (transient S3 code, but about the sink)',
      s3http(403, 'RequestTimeTooSkewed'),
      { retryable: true, errorClass: 'http_4xx', status: 403, sinkLevel: true },
    ],
    [
      '400 InvalidArgument',
      s3http(400, 'InvalidArgument'),
      { retryable: false, errorClass: 'http_4xx', status: 400 },
    ],
    [
      '400 EntityTooLarge',
      s3http(400, 'EntityTooLarge'),
      { retryable: false, errorClass: 'http_4xx', status: 400 },
    ],
    [
      '401',
      s3http(401, 'Unauthorized'),
      { retryable: false, errorClass: 'http_4xx', status: 401, sinkLevel: true },
    ],
    [
      '403 AccessDenied',
      s3http(403, 'AccessDenied'),
      { retryable: false, errorClass: 'http_4xx', status: 403, sinkLevel: true },
    ],
    [
      '403 InvalidAccessKeyId',
      s3http(403, 'InvalidAccessKeyId'),
      { retryable: false, errorClass: 'http_4xx', status: 403, sinkLevel: true },
    ],
    [
      '404 NoSuchBucket',
      s3http(404, 'NoSuchBucket'),
      { retryable: false, errorClass: 'http_4xx', status: 404, sinkLevel: true },
    ],
    [
      '301 redirect',
      s3http(301, 'PermanentRedirect'),
      { retryable: false, errorClass: 'http_3xx', status: 301 },
    ],
    [
      'a SinkError passes through unchanged',
      new SinkError('sink x: already classified', { retryable: false, errorClass: 'auth' }),
      { retryable: false, errorClass: 'auth', sinkLevel: true },
    ],
  ]);

  it('names the network code found in the cause chain', () => {
    const e = classifyS3Error(withCause('SDK', errno('EHOSTUNREACH')), 'sink x');
    expect(e.message).toContain('network error EHOSTUNREACH');
  });
});

/** What ferry's own request() throws for an error answer. */
const chHttp = (status: number, code: number | undefined, body: string) =>
  new ClickHouseServerError(status, code, body);
const chBody = (code: number, name: string) =>
  `Code: ${code}. DB::Exception: something about it. (${name}) (version 24.8.4.13 (official build))`;

describe('classifyClickHouseError', () => {
  check(classifyClickHouseError, [
    // No response.
    ['ECONNREFUSED', errno('ECONNREFUSED'), { retryable: true, errorClass: 'network' }],
    [
      'ECONNRESET under a cause',
      withCause('request failed', errno('ECONNRESET', 'socket hang up')),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'ERR_STREAM_PREMATURE_CLOSE',
      errno('ERR_STREAM_PREMATURE_CLOSE', 'Premature close'),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'AggregateError of refusals',
      new AggregateError([errno('ECONNREFUSED')], ''),
      { retryable: true, errorClass: 'network' },
    ],
    [
      'no response, unknown shape',
      new Error('something odd'),
      { retryable: true, errorClass: 'network' },
    ],
    // Deadlines and shutdown.
    [
      'the client reports a timeout',
      new Error('Timeout error.'),
      { retryable: true, errorClass: 'timeout' },
    ],
    [
      'the attempt deadline fired',
      new Error('The user aborted a request.'),
      { retryable: true, errorClass: 'timeout' },
      aborted(timeoutReason()),
    ],
    [
      'shutdown aborted the request',
      new Error('The user aborted a request.'),
      { retryable: true, errorClass: 'aborted' },
      aborted(new Error('ferry is shutting down')),
    ],
    // Exception codes decide, whatever the status.
    [
      '500 with code 27 (cannot parse input)',
      chHttp(500, 27, chBody(27, 'CANNOT_PARSE_INPUT_ASSERTION_FAILED')),
      { retryable: false, errorClass: 'rejected', status: 500 },
    ],
    [
      '400 with code 16 (no such column)',
      chHttp(400, 16, chBody(16, 'NO_SUCH_COLUMN_IN_TABLE')),
      { retryable: false, errorClass: 'rejected', status: 400 },
    ],
    [
      '404 with code 60 (unknown table): rejected, and about the sink',
      chHttp(404, 60, chBody(60, 'UNKNOWN_TABLE')),
      { retryable: false, errorClass: 'rejected', status: 404, sinkLevel: true },
    ],
    [
      '516 authentication failed',
      chHttp(401, 516, chBody(516, 'AUTHENTICATION_FAILED')),
      { retryable: false, errorClass: 'auth', status: 401, sinkLevel: true },
    ],
    [
      '497 access denied under a 500',
      chHttp(500, 497, chBody(497, 'ACCESS_DENIED')),
      { retryable: false, errorClass: 'auth', status: 500, sinkLevel: true },
    ],
    [
      '159 server-side timeout',
      chHttp(500, 159, chBody(159, 'TIMEOUT_EXCEEDED')),
      { retryable: true, errorClass: 'timeout', status: 500 },
    ],
    [
      '210 network error on the server side',
      chHttp(500, 210, chBody(210, 'NETWORK_ERROR')),
      { retryable: true, errorClass: 'network', status: 500 },
    ],
    [
      '241 memory limit',
      chHttp(500, 241, chBody(241, 'MEMORY_LIMIT_EXCEEDED')),
      { retryable: true, errorClass: 'throttled', status: 500 },
    ],
    [
      '252 too many parts under a 400',
      chHttp(400, 252, chBody(252, 'TOO_MANY_PARTS')),
      { retryable: true, errorClass: 'throttled', status: 400 },
    ],
    [
      '242 read-only replica',
      chHttp(500, 242, chBody(242, 'TABLE_IS_READ_ONLY')),
      { retryable: true, errorClass: 'http_5xx', status: 500 },
    ],
    // An unknown code: the status decides.
    [
      '503 without a code',
      chHttp(503, undefined, 'Service Unavailable'),
      { retryable: true, errorClass: 'http_5xx', status: 503 },
    ],
    [
      '500 with an unknown code',
      chHttp(500, 12345, chBody(12345, 'NEW_THING')),
      { retryable: true, errorClass: 'http_5xx', status: 500 },
    ],
    [
      '429',
      chHttp(429, undefined, 'Too Many Requests'),
      { retryable: true, errorClass: 'throttled', status: 429 },
    ],
    [
      '408',
      chHttp(408, undefined, 'Request Timeout'),
      { retryable: true, errorClass: 'http_4xx', status: 408 },
    ],
    [
      '400 with an unknown code',
      chHttp(400, 12345, chBody(12345, 'NEW_THING')),
      { retryable: false, errorClass: 'http_4xx', status: 400 },
    ],
    [
      '401 without a code',
      chHttp(401, undefined, 'Unauthorized'),
      { retryable: false, errorClass: 'http_4xx', status: 401, sinkLevel: true },
    ],
    [
      '403 without a code',
      chHttp(403, undefined, 'Forbidden'),
      { retryable: false, errorClass: 'http_4xx', status: 403, sinkLevel: true },
    ],
    [
      '404 without a code',
      chHttp(404, undefined, 'Not Found'),
      { retryable: false, errorClass: 'http_4xx', status: 404, sinkLevel: true },
    ],
    // The client parsed the exception itself (numeric string code, no status).
    [
      'client-parsed exception code 60',
      Object.assign(new Error(chBody(60, 'UNKNOWN_TABLE')), { code: '60', type: 'UNKNOWN_TABLE' }),
      { retryable: false, errorClass: 'rejected' },
    ],
    [
      'client-parsed exception with an unknown code and no status: retried',
      Object.assign(new Error(chBody(12345, 'NEW_THING')), { code: '12345' }),
      { retryable: true, errorClass: 'http_5xx' },
    ],
  ]);

  it('words the label with the status, code and exception name', () => {
    const e = classifyClickHouseError(chHttp(404, 60, chBody(60, 'UNKNOWN_TABLE')), 'sink x');
    expect(e.message).toMatch(/^sink x: HTTP 404 code 60 UNKNOWN_TABLE: Code: 60\./);
  });
});

describe('the shared vocabulary', () => {
  it.each([
    [500, true],
    [503, true],
    [599, true],
    [408, true],
    [429, true],
    [400, false],
    [401, false],
    [403, false],
    [404, false],
    [413, false],
  ])('isRetryableStatus(%i) = %s', (status, retryable) => {
    expect(isRetryableStatus(status)).toBe(retryable);
  });

  it('networkCode walks causes and AggregateErrors, at most 4 deep', () => {
    expect(networkCode(errno('ECONNRESET'))).toBe('ECONNRESET');
    expect(networkCode(withCause('a', withCause('b', withCause('c', errno('EPIPE')))))).toBe(
      'EPIPE',
    );
    // Five links: beyond the walk.
    expect(
      networkCode(withCause('a', withCause('b', withCause('c', withCause('d', errno('EPIPE')))))),
    ).toBeUndefined();
    expect(networkCode(new AggregateError([errno('ENETUNREACH')]))).toBe('ENETUNREACH');
    expect(networkCode(errno('EACCES'))).toBeUndefined();
    expect(networkCode(undefined)).toBeUndefined();
    expect(networkCode('ECONNRESET')).toBeUndefined();
    expect(NETWORK_CODES.has('ECONNREFUSED')).toBe(true);
  });

  it('fsErrorClass: known codes by name, anything else fs_other', () => {
    expect(fsErrorClass('ENOSPC')).toBe('fs_enospc');
    expect(fsErrorClass('EACCES')).toBe('fs_eacces');
    expect(fsErrorClass('EWHATEVER')).toBe('fs_other');
  });
});
