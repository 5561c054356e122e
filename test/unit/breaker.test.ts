import { describe, expect, it } from 'vitest';
import { CircuitBreaker } from '../../src/dlq/breaker.js';

describe('CircuitBreaker', () => {
  it('opens after N failures in a row, not before', () => {
    const b = new CircuitBreaker(3);
    b.failure();
    b.failure();
    expect(b.open).toBe(false);
    b.failure();
    expect(b.open).toBe(true);
  });

  it('with N = 1 (the default) the first failure opens it', () => {
    const b = new CircuitBreaker(1);
    expect(b.open).toBe(false);
    b.failure();
    expect(b.open).toBe(true);
  });

  it('a success resets the streak: failures must be in a row', () => {
    const b = new CircuitBreaker(3);
    b.failure();
    b.failure();
    b.success();
    b.failure();
    b.failure();
    expect(b.open).toBe(false);
    b.failure();
    expect(b.open).toBe(true);
  });

  it('a success closes an open breaker, and it takes N new failures to open again', () => {
    const b = new CircuitBreaker(2);
    b.failure();
    b.failure();
    expect(b.open).toBe(true);
    b.success();
    expect(b.open).toBe(false);
    b.failure();
    expect(b.open).toBe(false);
    b.failure();
    expect(b.open).toBe(true);
  });

  it('trip opens at once, whatever the streak', () => {
    const b = new CircuitBreaker(5);
    b.trip();
    expect(b.open).toBe(true);
    b.success();
    expect(b.open).toBe(false);
    // after a success the streak starts over: a trip did not leave failures behind
    for (let i = 0; i < 4; i++) b.failure();
    expect(b.open).toBe(false);
  });

  it('the signal aborts when it opens (by failures or by trip), with a reason', () => {
    const b = new CircuitBreaker(2);
    const s = b.signal;
    b.failure();
    expect(s.aborted).toBe(false);
    b.failure();
    expect(s.aborted).toBe(true);
    expect((s.reason as Error).message).toMatch(/circuit breaker opened/);

    const t = new CircuitBreaker(10);
    const ts = t.signal;
    t.trip();
    expect(ts.aborted).toBe(true);
  });

  it('the signal fires its abort listeners exactly once, even on more failures while open', () => {
    const b = new CircuitBreaker(1);
    let fired = 0;
    b.signal.addEventListener('abort', () => fired++);
    b.failure();
    b.failure();
    b.trip();
    expect(fired).toBe(1);
    // while open, the signal handed out is the aborted one: a new attempt stops at once
    expect(b.signal.aborted).toBe(true);
  });

  it('a success after opening issues a new, live signal; the old one stays aborted', () => {
    const b = new CircuitBreaker(1);
    const first = b.signal;
    b.failure();
    b.success();
    const second = b.signal;
    expect(second).not.toBe(first);
    expect(first.aborted).toBe(true);
    expect(second.aborted).toBe(false);
    // and the new signal aborts on the next opening
    b.trip();
    expect(second.aborted).toBe(true);
    expect(b.signal).toBe(second);
  });

  it('a success while closed keeps the same signal (nothing in flight is disturbed)', () => {
    const b = new CircuitBreaker(3);
    const s = b.signal;
    b.failure();
    b.success();
    b.success();
    expect(b.signal).toBe(s);
    expect(s.aborted).toBe(false);
  });
});
