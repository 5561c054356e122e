import { describe, it, expect, vi, afterEach } from 'vitest';
import { deliver, backoffDelay, backoffCeiling } from '../../src/sinks/retry.js';
import type { Sink, SinkReceipt } from '../../src/contracts/sink.js';
import type { EncodedBatch } from '../../src/contracts/batch.js';
import { SinkError } from '../../src/sinks/errors.js';
import type { RetryConfig } from '../../src/config/types.js';

// The retry loop is pure logic: an in-memory sink that fails on script is the right test double here.
const batch: EncodedBatch = {
  id: 'b1',
  createdAt: 0,
  events: 1,
  archive: { body: new Uint8Array([1]), codec: 'none', rawBytes: 1 },
};
const policy: RetryConfig = {
  initial_ms: 100,
  max_ms: 1_000,
  max_elapsed_ms: 60_000,
  attempt_timeout_ms: 5_000,
};

type Step = SinkError | 'ok' | 'hang' | Error;
function scripted(
  steps: Step[],
  fallback: Step = 'ok',
): Sink & { calls: number; signals: AbortSignal[] } {
  return {
    name: 'fake',
    type: 's3',
    takes: 'archive',
    calls: 0,
    signals: [],
    write(_b: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
      this.signals.push(signal!);
      const step = steps[this.calls++] ?? fallback;
      if (step === 'ok') return Promise.resolve({ location: `ok#${this.calls}` });
      if (step === 'hang') return new Promise(() => {}); // ignores its signal on purpose
      return Promise.reject(step);
    },
    async probe() {},
    async close() {},
  };
}
const e503 = () =>
  new SinkError('HTTP 503', { retryable: true, status: 503, errorClass: 'http_5xx' });
const e400 = () =>
  new SinkError('HTTP 400', { retryable: false, status: 400, errorClass: 'http_4xx' });

afterEach(() => {
  vi.useRealTimers();
});

describe('backoff', () => {
  it('grows exponentially from initial_ms and is capped at max_ms', () => {
    expect([1, 2, 3, 4, 5, 6, 50, 5000].map((a) => backoffCeiling(policy, a))).toEqual([
      100, 200, 400, 800, 1000, 1000, 1000, 1000,
    ]);
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(policy, a, () => 0.999999))).toEqual([
      99, 199, 399, 799, 999,
    ]);
  });

  it('full jitter: every delay lies in [0, ceiling] and the draws spread over it', () => {
    for (let a = 1; a <= 8; a++) {
      const ds = Array.from({ length: 2000 }, () => backoffDelay(policy, a));
      const ceil = backoffCeiling(policy, a);
      expect(Math.min(...ds)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...ds)).toBeLessThanOrEqual(ceil);
      // Uniform on [0, ceil]: the mean is near ceil/2 and both halves are hit.
      const mean = ds.reduce((x, y) => x + y, 0) / ds.length;
      expect(mean).toBeGreaterThan(ceil * 0.4);
      expect(mean).toBeLessThan(ceil * 0.6);
      expect(Math.min(...ds)).toBeLessThan(ceil * 0.1);
      expect(Math.max(...ds)).toBeGreaterThan(ceil * 0.9);
    }
    expect(backoffDelay(policy, 3, () => 0)).toBe(0);
  });
});

describe('deliver', () => {
  it('returns at once when the first attempt succeeds', async () => {
    const s = scripted(['ok']);
    expect(await deliver(s, batch, policy)).toEqual({ location: 'ok#1' });
    expect(s.calls).toBe(1);
  });

  it('retries retryable errors with growing, jittered delays until success', async () => {
    vi.useFakeTimers();
    const s = scripted([e503(), e503(), e503(), e503(), e503(), e503()]);
    const seen: Array<[number, number]> = [];
    const p = deliver(s, batch, policy, {
      random: () => 0.5,
      onRetry: (err, a, d) => {
        expect(err.retryable).toBe(true);
        seen.push([a, d]);
      },
    });
    await vi.runAllTimersAsync();
    expect(await p).toEqual({ location: 'ok#7' });
    expect(seen).toEqual([
      [1, 50],
      [2, 100],
      [3, 200],
      [4, 400],
      [5, 500],
      [6, 500],
    ]);
  });

  it('sleeps the drawn delay between attempts', async () => {
    vi.useFakeTimers();
    const s = scripted([e503()]);
    const p = deliver(s, batch, policy, { random: () => 0.5 });
    await vi.advanceTimersByTimeAsync(0);
    expect(s.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(49);
    expect(s.calls).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.calls).toBe(2);
    await p;
  });

  it('does not retry a permanent error and reports one attempt', async () => {
    const s = scripted([e400()]);
    const onRetry = vi.fn();
    const err = await deliver(s, batch, policy, { onRetry }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err).toMatchObject({ retryable: false, status: 400, attempts: 1 });
    expect(s.calls).toBe(1);
    expect(onRetry).not.toHaveBeenCalled();
  });

  it('stops at a permanent error after retryable ones', async () => {
    vi.useFakeTimers();
    const s = scripted([e503(), e503(), e400(), 'ok']);
    const p = deliver(s, batch, policy).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await p).toMatchObject({ retryable: false, attempts: 3 });
    expect(s.calls).toBe(3);
  });

  it('honours max_elapsed_ms: gives up with the last error instead of sleeping past it', async () => {
    vi.useFakeTimers();
    const t0 = Date.now();
    const s = scripted([], e503());
    const p = deliver(s, batch, { ...policy, max_elapsed_ms: 3_000 }, { random: () => 1 }).catch(
      (e: unknown) => e,
    );
    await vi.runAllTimersAsync();
    const err = (await p) as SinkError;
    expect(err).toBeInstanceOf(SinkError);
    expect(err.retryable).toBe(true);
    expect(err.message).toMatch(/gave up after \d+ attempts/);
    // Delays 100+200+400+800+1000 = 2500 ms; the next 1000 ms would end past 3000 ms.
    expect(err.attempts).toBe(6);
    expect(s.calls).toBe(6);
    expect(Date.now() - t0).toBeLessThanOrEqual(3_000);
  });

  it('times out an attempt that hangs (even one that ignores its signal) and retries', async () => {
    vi.useFakeTimers();
    const s = scripted(['hang', 'ok']);
    const p = deliver(s, batch, { ...policy, attempt_timeout_ms: 1_000 }, { random: () => 0 });
    await vi.advanceTimersByTimeAsync(999);
    expect(s.signals[0].aborted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.signals[0].aborted).toBe(true);
    expect((s.signals[0].reason as Error).name).toBe('TimeoutError');
    await vi.runAllTimersAsync();
    expect(await p).toEqual({ location: 'ok#2' });
  });

  it('a timed-out last attempt is reported as a retryable timeout', async () => {
    vi.useFakeTimers();
    const s = scripted([], 'hang');
    const p = deliver(
      s,
      batch,
      { ...policy, attempt_timeout_ms: 500, max_elapsed_ms: 2_000 },
      { random: () => 1 },
    ).catch((e: unknown) => e);
    await vi.runAllTimersAsync();
    expect(await p).toMatchObject({ retryable: true, errorClass: 'timeout' });
  });

  it('stops when the outer signal aborts during a backoff sleep (shutdown)', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const s = scripted([], e503());
    const p = deliver(
      s,
      batch,
      { ...policy, initial_ms: 10_000, max_ms: 10_000 },
      { signal: ac.signal, random: () => 1 },
    ).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(100);
    expect(s.calls).toBe(1);
    ac.abort(new Error('ferry is shutting down'));
    await vi.advanceTimersByTimeAsync(0);
    const err = (await p) as SinkError;
    expect(err).toBeInstanceOf(SinkError);
    expect(err.attempts).toBe(1);
    expect(s.calls).toBe(1);
    expect(vi.getTimerCount()).toBe(0); // no sleeping timer left behind
  });

  it('aborts the running attempt when the outer signal aborts', async () => {
    vi.useFakeTimers();
    const ac = new AbortController();
    const s = scripted(['hang']);
    const p = deliver(s, batch, policy, { signal: ac.signal }).catch((e: unknown) => e);
    await vi.advanceTimersByTimeAsync(10);
    ac.abort(new Error('shutdown'));
    const err = (await p) as SinkError;
    expect(s.signals[0].aborted).toBe(true);
    expect(err).toMatchObject({ retryable: true, errorClass: 'aborted', attempts: 1 });
    expect(s.calls).toBe(1);
  });

  it('does not start at all when the outer signal is already aborted', async () => {
    const s = scripted(['ok']);
    await expect(deliver(s, batch, policy, { signal: AbortSignal.abort() })).rejects.toMatchObject({
      errorClass: 'aborted',
      attempts: 0,
    });
    expect(s.calls).toBe(0);
  });

  it('wraps unclassified errors as retryable internal SinkErrors', async () => {
    vi.useFakeTimers();
    const s = scripted([new TypeError('boom')]);
    const onRetry = vi.fn();
    const p = deliver(s, batch, policy, { onRetry });
    await vi.runAllTimersAsync();
    expect(await p).toEqual({ location: 'ok#2' });
    expect(onRetry.mock.calls[0][0]).toMatchObject({ errorClass: 'internal', retryable: true });
  });

  it('clears its attempt timers: nothing is left pending after success', async () => {
    vi.useFakeTimers();
    await deliver(scripted(['ok']), batch, policy);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('works on real timers with tiny delays', async () => {
    const s = scripted([e503(), e503()]);
    expect(
      await deliver(s, batch, {
        initial_ms: 1,
        max_ms: 4,
        max_elapsed_ms: 1_000,
        attempt_timeout_ms: 1_000,
      }),
    ).toEqual({ location: 'ok#3' });
  });
});
