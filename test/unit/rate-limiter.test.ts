import { describe, it, expect } from 'vitest';
import { RateLimiter } from '../../src/pipeline/rate-limiter.js';

/** Counts the abort listeners a signal holds (added minus removed). */
function countingSignal() {
  const ac = new AbortController();
  let held = 0;
  const add = ac.signal.addEventListener.bind(ac.signal);
  const remove = ac.signal.removeEventListener.bind(ac.signal);
  ac.signal.addEventListener = ((type: string, fn: EventListener, o?: AddEventListenerOptions) => {
    if (type === 'abort') held++;
    add(type, fn, o);
  }) as typeof ac.signal.addEventListener;
  ac.signal.removeEventListener = ((type: string, fn: EventListener, o?: EventListenerOptions) => {
    if (type === 'abort') held--;
    remove(type, fn, o);
  }) as typeof ac.signal.removeEventListener;
  return { ac, held: () => held };
}

describe('RateLimiter', () => {
  it('paces takes to the rate', async () => {
    const r = new RateLimiter(1000); // 1000 units/s: 50 takes of 2 units = 100 ms
    const t0 = Date.now();
    for (let i = 0; i < 50; i++) await r.take(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(90);
  });

  it('does not collect an abort listener per take on a long-lived signal', async () => {
    const { ac, held } = countingSignal();
    const r = new RateLimiter(10_000);
    for (let i = 0; i < 30; i++) await r.take(10, ac.signal);
    expect(held()).toBe(0);
  });

  it('an abort ends the wait at once', async () => {
    const ac = new AbortController();
    const r = new RateLimiter(1);
    await r.take(1, ac.signal); // the first take is free; the next waits ~1 s
    const t0 = Date.now();
    const waiting = r.take(1, ac.signal);
    setTimeout(() => ac.abort(), 20);
    await waiting;
    expect(Date.now() - t0).toBeLessThan(500);
  });
});
