import { describe, expect, it, vi } from 'vitest';
import { backoff as kafkaBackoff } from '../../src/sources/kafka/source.js';
import { backoffCeiling, backoffDelay, sleep } from '../../src/util/backoff.js';

const p = { initialMs: 100, maxMs: 5_000 };

describe('backoffCeiling', () => {
  it('doubles from initialMs per attempt and is capped at maxMs', () => {
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffCeiling(p, n))).toEqual([
      100, 200, 400, 800, 1600, 3200, 5000,
    ]);
  });

  it('stays at the cap however many attempts (no overflow to Infinity or NaN)', () => {
    for (const n of [8, 50, 1_000, 1e6, Number.MAX_SAFE_INTEGER]) {
      expect(backoffCeiling(p, n)).toBe(5000);
    }
  });

  it('attempt 0 or below counts as the first', () => {
    expect(backoffCeiling(p, 0)).toBe(100);
    expect(backoffCeiling(p, -3)).toBe(100);
  });
});

describe('backoffDelay: full jitter', () => {
  it('is random() scaled over the whole window [0, ceiling)', () => {
    expect(backoffDelay(p, 3, () => 0)).toBe(0);
    expect(backoffDelay(p, 3, () => 0.5)).toBe(200);
    expect(backoffDelay(p, 3, () => 0.999999)).toBe(399);
    expect(backoffDelay(p, 99, () => 0.25)).toBe(1250);
  });

  it('not equal jitter: the lower half of the window is reached', () => {
    // Equal jitter (ceiling/2 + random·ceiling/2) never goes below ceiling/2.
    expect(backoffDelay(p, 4, () => 0.1)).toBeLessThan(backoffCeiling(p, 4) / 2);
  });

  it('draws spread uniformly over [0, ceiling)', () => {
    for (const n of [1, 3, 6, 10]) {
      const ceil = backoffCeiling(p, n);
      const ds = Array.from({ length: 4000 }, () => backoffDelay(p, n));
      expect(Math.min(...ds)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...ds)).toBeLessThan(ceil);
      const mean = ds.reduce((a, b) => a + b, 0) / ds.length;
      expect(mean).toBeGreaterThan(ceil * 0.4);
      expect(mean).toBeLessThan(ceil * 0.6);
      expect(ds.filter((d) => d < ceil / 4).length).toBeGreaterThan(ds.length * 0.15);
    }
  });
});

describe('the Kafka source uses the same backoff', () => {
  it('attempt counts from 0 there: its first ceiling is retry_initial_ms, then doubles to retry_max_ms', () => {
    const k = { retry_initial_ms: 100, retry_max_ms: 1000 };
    const spy = vi.spyOn(Math, 'random');
    try {
      spy.mockReturnValue(0.999999);
      expect([0, 1, 2, 3, 4, 10].map((a) => kafkaBackoff(k, a))).toEqual([
        99, 199, 399, 799, 999, 999,
      ]);
      spy.mockReturnValue(0);
      // Full jitter, as its comment says (it used to be equal jitter: never below half).
      expect(kafkaBackoff(k, 3)).toBe(0);
    } finally {
      spy.mockRestore();
    }
  });
});

describe('sleep', () => {
  it('waits about ms', async () => {
    const t0 = performance.now();
    await sleep(30);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
  });

  it('an abort ends the wait early, and an already-aborted signal does not wait', async () => {
    const ac = new AbortController();
    const t0 = performance.now();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(), 10);
    await p;
    expect(performance.now() - t0).toBeLessThan(5_000);
    const t1 = performance.now();
    await sleep(10_000, ac.signal);
    expect(performance.now() - t1).toBeLessThan(1_000);
  });

  it('removes its abort listener when the timer fires', async () => {
    const ac = new AbortController();
    const remove = vi.spyOn(ac.signal, 'removeEventListener');
    await sleep(1, ac.signal);
    expect(remove).toHaveBeenCalledWith('abort', expect.any(Function));
  });
});
