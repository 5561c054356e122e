import { describe, it, expect } from 'vitest';
import { AckTracker, type AckOutcome } from '../../src/pipeline/acks.js';

function settled(p: Promise<AckOutcome>) {
  let v: AckOutcome | undefined;
  p.then((x) => (v = x));
  return () => v;
}
const tick = () => new Promise((r) => setTimeout(r, 0));

describe('AckTracker', () => {
  it('answers an accepted-mode request on its verdict', async () => {
    const t = new AckTracker();
    const r = settled(t.register(1, 0, 'accepted'));
    t.onVerdict({ reqId: 1, ok: true, events: 3, span: 1 });
    await tick();
    expect(r()).toEqual({ ok: true, events: 3, durable: false });
    expect(t.size).toBe(0);
  });

  it('answers a durable request only when every batch it spans is delivered, in any order', async () => {
    const t = new AckTracker();
    const r = settled(t.register(7, 0, 'durable'));
    t.onBatchDelivered([7]);
    t.onVerdict({ reqId: 7, ok: true, events: 10, span: 3 });
    await tick();
    expect(r()).toBeUndefined();
    t.onBatchDelivered([5, 7]);
    await tick();
    expect(r()).toBeUndefined();
    t.onBatchDelivered([7]);
    await tick();
    expect(r()).toEqual({ ok: true, events: 10, durable: true });
  });

  it('a failed batch fails every durable request in it at once', async () => {
    const t = new AckTracker();
    const a = settled(t.register(1, 0, 'durable'));
    const b = settled(t.register(2, 0, 'durable'));
    t.onVerdict({ reqId: 1, ok: true, events: 1, span: 2 });
    t.onBatchFailed([1, 2], 503, 'sink_unavailable', 'down');
    await tick();
    expect(a()).toMatchObject({ ok: false, status: 503 });
    expect(b()).toMatchObject({ ok: false, status: 503 });
    t.onBatchDelivered([1]);
    expect(t.size).toBe(0);
  });

  it('passes a worker rejection through with its location', async () => {
    const t = new AckTracker();
    const r = settled(t.register(3, 1, 'durable'));
    t.onVerdict({
      reqId: 3,
      ok: false,
      status: 400,
      error: 'malformed_body',
      message: 'line 2 …',
      line: 2,
      offset: 9,
    });
    await tick();
    expect(r()).toMatchObject({ ok: false, status: 400, line: 2, offset: 9 });
  });

  it('failWorker only fails that worker’s requests', async () => {
    const t = new AckTracker();
    const a = settled(t.register(1, 0, 'durable'));
    const b = settled(t.register(2, 1, 'durable'));
    t.failWorker(0, 'crashed');
    await tick();
    expect(a()).toMatchObject({ ok: false, status: 503 });
    expect(b()).toBeUndefined();
  });
});
