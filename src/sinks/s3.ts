import { S3Client, PutObjectCommand, HeadBucketCommand, S3ServiceException } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { S3SinkConfig } from '../config/types.js';
import type { EncodedBatch } from '../pipeline/batch.js';
import { contentEncoding } from '../codecs/index.js';
import { renderKey } from './keys.js';
import { SinkError, isRetryableStatus, type Sink, type SinkReceipt } from './sink.js';

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

/**
 * The raw, replayable archive. One object per batch at a deterministic key, so
 * a retried or replayed batch overwrites itself instead of duplicating.
 * The SDK's own retries are off: ferry's retry layer owns them.
 */
export class S3Sink implements Sink {
  readonly type = 's3' as const;
  readonly name: string;
  private readonly client: S3Client;

  constructor(private readonly cfg: S3SinkConfig, private readonly host: string) {
    this.name = cfg.name;
    this.client = new S3Client({
      region: cfg.region,
      endpoint: cfg.endpoint,
      forcePathStyle: cfg.force_path_style,
      maxAttempts: 1,
      credentials: cfg.access_key_id && cfg.secret_access_key ? { accessKeyId: cfg.access_key_id, secretAccessKey: cfg.secret_access_key } : undefined,
    });
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const key = renderKey(this.cfg.key_template, batch, this.host, this.name);
    const body = batch.archive.body;
    const params = {
      Bucket: this.cfg.bucket,
      Key: key,
      Body: body,
      ContentType: 'application/x-ndjson',
      ContentEncoding: contentEncoding(batch.archive.codec),
      Metadata: { 'ferry-codec': batch.archive.codec, 'ferry-events': String(batch.events), 'ferry-batch-id': batch.id },
    };
    try {
      if (body.byteLength > this.cfg.multipart_threshold_bytes) {
        const upload = new Upload({ client: this.client, params, partSize: Math.max(5 * 1024 * 1024, Math.ceil(body.byteLength / 1000)), queueSize: 2, leavePartsOnError: false });
        const onAbort = () => void upload.abort();
        signal?.addEventListener('abort', onAbort, { once: true });
        try {
          await upload.done();
        } finally {
          signal?.removeEventListener('abort', onAbort);
        }
      } else {
        await this.client.send(new PutObjectCommand({ ...params, ContentLength: body.byteLength }), { abortSignal: signal });
      }
      return { location: `s3://${this.cfg.bucket}/${key}` };
    } catch (err) {
      throw classify(err, `S3 put s3://${this.cfg.bucket}/${key}`, signal);
    }
  }

  async probe(signal?: AbortSignal): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.cfg.bucket }), { abortSignal: signal });
    } catch (err) {
      throw classify(err, `S3 HeadBucket ${this.cfg.bucket}`, signal);
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

function classify(err: unknown, what: string, signal?: AbortSignal): SinkError {
  const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number }; name: string; cause?: { code?: string } };
  const status = e.$metadata?.httpStatusCode;
  if (signal?.aborted || e.name === 'AbortError' || e.name === 'TimeoutError') {
    return new SinkError(`${what}: timed out or aborted`, { retryable: true, errorClass: 'timeout', cause: err });
  }
  if (err instanceof S3ServiceException && status) {
    const retryable = isRetryableStatus(status);
    return new SinkError(`${what}: HTTP ${status} ${e.name}: ${e.message}`, {
      retryable,
      status,
      errorClass: status === 429 || e.name === 'SlowDown' ? 'throttled' : status >= 500 ? 'http_5xx' : 'http_4xx',
      cause: err,
    });
  }
  const code = e.code ?? e.cause?.code;
  if (code && NETWORK_CODES.has(code)) return new SinkError(`${what}: network error ${code}`, { retryable: true, errorClass: 'network', cause: err });
  if (status) {
    return new SinkError(`${what}: HTTP ${status}: ${e.message}`, { retryable: isRetryableStatus(status), status, errorClass: status >= 500 ? 'http_5xx' : 'http_4xx', cause: err });
  }
  // No response at all (connection failures surface in many shapes): retry.
  return new SinkError(`${what}: ${e.name}: ${e.message}${code ? ` (${code})` : ''}`, { retryable: true, errorClass: 'network', cause: err });
}
