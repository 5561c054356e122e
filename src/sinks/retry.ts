import type { RetryConfig } from '../config/types.js';
import type { EncodedBatch } from '../pipeline/batch.js';
import { SinkError, type Sink, type SinkReceipt } from './sink.js';

export interface DeliverHooks {
  /** Called before sleeping for a retry. */
  onRetry?(err: SinkError, attempt: number, delayMs: number): void;
  /** Aborts the retry loop (shutdown); the current attempt is aborted too. */
  signal?: AbortSignal;
  /** For tests: the random source of the jitter. */
  random?: () => number;
}

/** Full jitter: a delay drawn uniformly from [0, min(max, initial·2^(attempt-1))]. */
export function backoffDelay(policy: RetryConfig, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.max_ms, policy.initial_ms * 2 ** Math.min(attempt - 1, 30));
  return random() * ceiling;
}

/**
 * Write a batch to one sink, retrying retryable failures with exponential
 * backoff and full jitter until retry.max_elapsed_ms has passed since the
 * first attempt. Permanent errors end it at once. Throws the last SinkError.
 */
export async function deliver(sink: Sink, batch: EncodedBatch, policy: RetryConfig, hooks: DeliverHooks = {}): Promise<SinkReceipt> {
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    const attemptSignal = hooks.signal
      ? AbortSignal.any([hooks.signal, AbortSignal.timeout(policy.attempt_timeout_ms)])
      : AbortSignal.timeout(policy.attempt_timeout_ms);
    let err: SinkError;
    try {
      return await sink.write(batch, attemptSignal);
    } catch (e) {
      err = asSinkError(e, attemptSignal, hooks.signal);
    }
    if (!err.retryable || hooks.signal?.aborted) throw withAttempts(err, attempt);
    const delay = backoffDelay(policy, attempt, hooks.random);
    if (Date.now() - started + delay > policy.max_elapsed_ms) throw withAttempts(err, attempt);
    hooks.onRetry?.(err, attempt, delay);
    await sleep(delay, hooks.signal);
    if (hooks.signal?.aborted) throw withAttempts(err, attempt);
  }
}

function asSinkError(e: unknown, attemptSignal: AbortSignal, outer?: AbortSignal): SinkError {
  if (e instanceof SinkError) return e;
  if (outer?.aborted) return new SinkError('aborted: ferry is shutting down', { retryable: true, errorClass: 'aborted', cause: e });
  if (attemptSignal.aborted) return new SinkError('attempt timed out', { retryable: true, errorClass: 'timeout', cause: e });
  return new SinkError(`unexpected sink error: ${(e as Error)?.message ?? String(e)}`, { retryable: true, errorClass: 'internal', cause: e });
}

function withAttempts(err: SinkError, attempts: number): SinkError {
  (err as SinkError & { attempts?: number }).attempts = attempts;
  if (attempts > 1 && !err.message.includes(' attempts)')) err.message += ` (after ${attempts} attempts)`;
  return err;
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
