/**
 * The one backoff and the one sleep. Every retry loop (sink delivery, the Kafka source's
 * reconnect and re-dispatch, the DLQ topic) waits with exponential backoff and full jitter:
 *
 *   ceiling(n) = min(max_ms, initial_ms · 2^(n−1))      n = 1, 2, 3 … (the attempt that failed)
 *   delay(n)   = floor(random() · ceiling(n))           uniform in [0, ceiling(n))
 *
 * Full jitter (not "equal jitter", ceiling/2 + random·ceiling/2) because many clients that fail
 * together must not come back together: it spreads them over the whole window, and the expected
 * total wait is still bounded by the ceiling.
 */

export interface BackoffPolicy {
  initialMs: number;
  maxMs: number;
}

/** The jitter ceiling after attempt `n` (1-based): min(maxMs, initialMs · 2^(n−1)). */
export function backoffCeiling(p: BackoffPolicy, attempt: number): number {
  // The exponent is capped so 2^k stays finite whatever the attempt count.
  return Math.min(p.maxMs, p.initialMs * 2 ** Math.min(Math.max(attempt - 1, 0), 40));
}

/** Full jitter: a delay drawn uniformly from [0, backoffCeiling). */
export function backoffDelay(
  p: BackoffPolicy,
  attempt: number,
  random: () => number = Math.random,
): number {
  return Math.floor(random() * backoffCeiling(p, attempt));
}

export interface SleepOptions {
  /** Do not keep the process alive for this timer alone (background loops). */
  unref?: boolean;
}

/** Wait ms; an abort of `signal` ends the wait early (resolves, never rejects). */
export function sleep(ms: number, signal?: AbortSignal, opts: SleepOptions = {}): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    if (opts.unref) (t as { unref?: () => void }).unref?.();
    signal?.addEventListener('abort', done, { once: true });
  });
}
