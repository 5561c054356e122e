/**
 * The raw, replayable archive: one object per batch at a deterministic key
 * (see keys.ts), so a retried or replayed batch overwrites itself instead of
 * duplicating. The bytes are the worker-compressed NDJSON, sent as they are.
 *
 * - PutObject, or @aws-sdk/lib-storage's multipart Upload above
 *   multipart_threshold_bytes.
 * - ContentType application/x-ndjson; ContentEncoding gzip / zstd (lz4 has no
 *   registered HTTP token, none has none); metadata ferry-codec, ferry-events,
 *   ferry-batch-id.
 * - The SDK's own retries are off (maxAttempts 1): ferry's retry layer owns
 *   retries, timeouts (the attempt's AbortSignal) and backoff.
 * - Request checksums only when an operation requires them: the SDK would
 *   otherwise CRC32 every body on the main thread; TCP/TLS and S3's own
 *   Content-Length check already cover the transfer.
 */
import {
  S3Client,
  PutObjectCommand,
  HeadBucketCommand,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3SinkConfig } from '../config/types.js';
import { partOf, type Codec, type EncodedBatch } from '../contracts/batch.js';
import type { SinkMetrics } from '../observe/metrics.js';
import { compileKeyTemplate, type KeyRenderer } from './keys.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';
import { isRetryableStatus, networkCode, SinkError, type SinkErrorClass } from './errors.js';
import { isTimeoutError } from '../util/errors.js';

/** S3 error codes that are transient whatever their HTTP status (S3 answers 400 RequestTimeout, 403 RequestTimeTooSkewed …). */
const TRANSIENT_S3_CODES = new Set([
  'RequestTimeout',
  'RequestTimeoutException',
  'RequestTimeTooSkewed',
  'RequestExpired',
  'ExpiredToken',
  'ExpiredTokenException',
  'InternalError',
  'ServiceUnavailable',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'OperationAborted',
]);
const THROTTLE_S3_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
]);

const MIN_PART = 5 * 1024 * 1024;
const MAX_PARTS = 10_000;

/** S3 Content-Encoding of an archive codec. */
export function s3ContentEncoding(codec: Codec): string | undefined {
  return codec === 'gzip' ? 'gzip' : codec === 'zstd' ? 'zstd' : undefined;
}

export class S3Sink implements Sink {
  readonly type = 's3' as const;
  readonly takes = 'archive' as const;
  readonly name: string;
  private readonly client: S3Client;
  private readonly render: KeyRenderer;

  constructor(
    private readonly cfg: S3SinkConfig,
    host: string,
    /** Seed 001's S3 metrics, counted per PutObject/upload attempt (absent in tools and tests). */
    private readonly metrics?: Pick<SinkMetrics, 's3PutErrors' | 's3EventsStored'>,
  ) {
    this.name = cfg.name;
    this.render = compileKeyTemplate(cfg.key_template, host, cfg.name);
    this.client = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.force_path_style,
      maxAttempts: 1,
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // Static keys if configured, else the SDK's default chain (env, profile, IMDS, …).
      credentials:
        cfg.access_key_id && cfg.secret_access_key
          ? { accessKeyId: cfg.access_key_id, secretAccessKey: cfg.secret_access_key }
          : undefined,
    });
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const key = this.render(batch);
    const archive = partOf(batch, 'archive');
    const body = archive.body;
    const params: PutObjectCommandInput = {
      Bucket: this.cfg.bucket,
      Key: key,
      Body: body,
      ContentType: 'application/x-ndjson',
      ContentEncoding: s3ContentEncoding(archive.codec),
      Metadata: {
        'ferry-codec': archive.codec,
        'ferry-events': String(batch.events),
        'ferry-batch-id': batch.id,
      },
    };
    const where = `s3://${this.cfg.bucket}/${key}`;
    try {
      if (signal?.aborted) throw abortError(signal);
      if (body.byteLength > this.cfg.multipart_threshold_bytes) {
        await this.multipart(params, body.byteLength, signal);
      } else {
        await this.client.send(
          new PutObjectCommand({ ...params, ContentLength: body.byteLength }),
          { abortSignal: signal },
        );
      }
      this.metrics?.s3EventsStored.inc(batch.events);
      return { location: where };
    } catch (err) {
      this.metrics?.s3PutErrors.inc();
      throw classifyS3Error(err, `S3 put ${where}`, signal);
    }
  }

  private async multipart(
    params: PutObjectCommandInput,
    size: number,
    signal?: AbortSignal,
  ): Promise<void> {
    const abortController = new AbortController();
    const onAbort = () => abortController.abort(signal?.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const upload = new Upload({
        client: this.client,
        params,
        partSize: Math.max(MIN_PART, Math.ceil(size / MAX_PARTS)),
        queueSize: 4,
        // On failure the multipart upload is aborted, so no orphaned parts are billed.
        leavePartsOnError: false,
        abortController,
      });
      await upload.done();
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** HeadBucket: reachable, credentials accepted, bucket exists. */
  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }), {
        abortSignal: signal,
      });
    } catch (err) {
      throw classifyS3Error(err, `S3 HeadBucket ${this.cfg.bucket}`, signal);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('aborted before the request was sent');
  e.name = isTimeoutError(signal.reason) ? 'TimeoutError' : 'AbortError';
  return e;
}

type AwsError = Error & {
  code?: string;
  Code?: string;
  errno?: string | number;
  $fault?: 'client' | 'server';
  $metadata?: { httpStatusCode?: number; requestId?: string };
  $retryable?: { throttling?: boolean };
  cause?: unknown;
};

/**
 * S3 failure → SinkError. Classes: 'timeout' (attempt deadline), 'aborted'
 * (shutdown), 'network' (no response: refused, reset, DNS …), 'throttled'
 * (429, SlowDown …), 'http_5xx', 'http_4xx' (3xx → 'http_3xx'). Retryable:
 * everything without a response, 5xx, 408, 429 and the transient S3 codes;
 * other 4xx are permanent. Exported for tests.
 */
export function classifyS3Error(err: unknown, what: string, signal?: AbortSignal): SinkError {
  if (err instanceof SinkError) return err;
  const e = (err ?? {}) as AwsError;
  const status = e.$metadata?.httpStatusCode;
  const s3code = e.Code ?? (status ? e.name : undefined);
  const netCode = networkCode(e);

  if (
    signal?.aborted ||
    e.name === 'AbortError' ||
    e.name === 'TimeoutError' ||
    (e.name === 'RequestTimeout' && !status)
  ) {
    const timeout = e.name === 'TimeoutError' || isTimeoutError(signal?.reason);
    return new SinkError(
      `${what}: ${timeout ? 'timed out' : 'aborted'}${netCode ? ` (${netCode})` : ''}`,
      {
        retryable: true,
        errorClass: timeout ? 'timeout' : 'aborted',
        cause: err,
      },
    );
  }
  if (status && status >= 300) {
    const throttled =
      status === 429 ||
      (s3code !== undefined && THROTTLE_S3_CODES.has(s3code)) ||
      Boolean(e.$retryable?.throttling);
    const retryable =
      isRetryableStatus(status) ||
      throttled ||
      (s3code !== undefined && TRANSIENT_S3_CODES.has(s3code));
    const cls: SinkErrorClass = throttled
      ? 'throttled'
      : status >= 500
        ? 'http_5xx'
        : status >= 400
          ? 'http_4xx'
          : 'http_3xx';
    const msg =
      e.message && e.message !== s3code && e.message !== 'UnknownError' ? `: ${e.message}` : '';
    return new SinkError(`${what}: HTTP ${status} ${s3code ?? 'error'}${msg}`, {
      retryable,
      status,
      errorClass: cls,
      cause: err,
    });
  }
  if (netCode)
    return new SinkError(`${what}: network error ${netCode}: ${e.message}`, {
      retryable: true,
      errorClass: 'network',
      cause: err,
    });
  // No HTTP response at all (connection failures surface in many shapes): retry.
  return new SinkError(`${what}: no response: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, {
    retryable: true,
    errorClass: 'network',
    cause: err,
  });
}
