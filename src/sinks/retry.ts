/**
 * The one retry loop every sink goes through (the SDKs' own retries are off).
 *
 * - Each attempt gets its own AbortSignal that fires after attempt_timeout_ms
 *   (reason: a DOMException named "TimeoutError") or when the outer signal
 *   aborts (shutdown). An attempt that ignores its signal is abandoned anyway
 *   when the signal fires, so a hung socket can never hang delivery.
 * - Retryable SinkErrors are retried after an exponential backoff with full
 *   jitter: delay = random() · min(max_ms, initial_ms · 2^(attempt−1)), or the
 *   server's Retry-After (SinkError.retryAfterMs) when that is longer.
 * - It gives up with the last SinkError (its `attempts` set) when the error is
 *   permanent, when the next delay would end beyond max_elapsed_ms after the
 *   first attempt started, or when the outer signal aborts.
 */
import type { RetryConfig } from '../config/types.js';
import type { EncodedBatch } from '../contracts/batch.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';
import * as backoff from '../util/backoff.js';
import { errorMessage, isTimeoutError } from '../util/errors.js';
import { SinkError } from './errors.js';

export interface DeliverHooks {
  /** Called before sleeping for a retry. */
  onRetry?(err: SinkError, attempt: number, delayMs: number): void;
  /** Aborts the loop (shutdown): the current attempt is aborted and no new one starts. */
  signal?: AbortSignal;
  /** For tests: the random source of the jitter, in [0, 1). */
  random?: () => number;
}

const policyOf = (p: RetryConfig): backoff.BackoffPolicy => ({
  initialMs: p.initial_ms,
  maxMs: p.max_ms,
});

/** The jitter ceiling of the delay after `attempt` (1-based), per src/util/backoff.ts. */
export function backoffCeiling(policy: RetryConfig, attempt: number): number {
  return backoff.backoffCeiling(policyOf(policy), attempt);
}

/** Full jitter: a delay drawn uniformly from [0, backoffCeiling), per src/util/backoff.ts. */
export function backoffDelay(
  policy: RetryConfig,
  attempt: number,
  random: () => number = Math.random,
): number {
  return backoff.backoffDelay(policyOf(policy), attempt, random);
}

export async function deliver(
  sink: Sink,
  batch: EncodedBatch,
  policy: RetryConfig,
  hooks: DeliverHooks = {},
): Promise<SinkReceipt> {
  const outer = hooks.signal;
  const started = Date.now();
  let last: SinkError | undefined;
  for (let attempt = 1; ; attempt++) {
    if (outer?.aborted) throw finish(last ?? abortedError(outer), attempt - 1);
    try {
      return await attemptOnce(sink, batch, policy.attempt_timeout_ms, outer);
    } catch (e) {
      last = e as SinkError;
    }
    if (!last.retryable || outer?.aborted) throw finish(last, attempt);
    // A server's Retry-After is a floor: retrying sooner only earns another refusal.
    const delay = Math.max(backoffDelay(policy, attempt, hooks.random), last.retryAfterMs ?? 0);
    if (Date.now() - started + delay >= policy.max_elapsed_ms) {
      throw finish(
        last,
        attempt,
        ` (gave up after ${attempt} attempts in ${Date.now() - started} ms)`,
      );
    }
    hooks.onRetry?.(last, attempt, delay);
    await backoff.sleep(delay, outer);
  }
}

/** One attempt, bounded by its own timeout and the outer signal; always rejects with a SinkError. */
function attemptOnce(
  sink: Sink,
  batch: EncodedBatch,
  timeoutMs: number,
  outer?: AbortSignal,
): Promise<SinkReceipt> {
  const ac = new AbortController();
  return new Promise<SinkReceipt>((resolve, reject) => {
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuterAbort);
      fn();
    };
    const onTimeout = () => {
      ac.abort(new DOMException(`attempt timed out after ${timeoutMs} ms`, 'TimeoutError'));
      settle(() =>
        reject(
          new SinkError(`${sink.name}: attempt timed out after ${timeoutMs} ms`, {
            retryable: true,
            errorClass: 'timeout',
          }),
        ),
      );
    };
    const onOuterAbort = () => {
      ac.abort(outer?.reason);
      settle(() => reject(abortedError(outer!)));
    };
    const timer = setTimeout(onTimeout, timeoutMs);
    outer?.addEventListener('abort', onOuterAbort, { once: true });
    let p: Promise<SinkReceipt>;
    try {
      p = sink.write(batch, ac.signal);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(
      (r) => settle(() => resolve(r)),
      (e) => settle(() => reject(asSinkError(e, sink.name, ac.signal))),
    );
  });
}

function asSinkError(e: unknown, sinkName: string, attemptSignal: AbortSignal): SinkError {
  if (e instanceof SinkError) return e;
  if (attemptSignal.aborted) {
    const timeout = isTimeoutError(attemptSignal.reason);
    return new SinkError(`${sinkName}: ${timeout ? 'attempt timed out' : 'aborted'}`, {
      retryable: true,
      errorClass: timeout ? 'timeout' : 'aborted',
      cause: e,
    });
  }
  // Not classified by the sink: a bug or an unexpected library error. Retrying loses nothing.
  return new SinkError(`${sinkName}: unexpected error: ${errorMessage(e)}`, {
    retryable: true,
    errorClass: 'internal',
    cause: e,
  });
}

function abortedError(outer: AbortSignal): SinkError {
  const why = (outer.reason as Error | undefined)?.message;
  return new SinkError(`delivery aborted${why ? `: ${why}` : ' (shutdown)'}`, {
    retryable: true,
    errorClass: 'aborted',
    cause: outer.reason,
  });
}

function finish(err: SinkError, attempts: number, suffix = ''): SinkError {
  err.attempts = attempts;
  if (suffix && !err.message.endsWith(suffix)) err.message += suffix;
  return err;
}
