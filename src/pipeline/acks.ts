import type { AckMode } from '../config/types.js';
import type { Verdict } from '../../workers/protocol.js';
import type { BulkAnswer } from '../../workers/bulk-answer.js';

/** How a request ends, as the acceptor turns it into an HTTP answer. */
export type AckOutcome =
  | {
      ok: true;
      events: number;
      durable: boolean;
      /** Events the worker refused one by one (OTLP partial success); `events` were taken. */
      rejected?: number;
      rejectMessage?: string;
      /** A `_bulk` request's answer (from the worker's verdict). */
      bulk?: BulkAnswer;
    }
  | {
      ok: false;
      status: number;
      error: string;
      message: string;
      line?: number;
      offset?: number;
      retryAfterS?: number;
    };

interface Pending {
  worker: number;
  mode: AckMode;
  /** Batches the request's events span; -1 until the worker's verdict arrives. */
  span: number;
  delivered: number;
  events: number;
  rejected?: number;
  rejectMessage?: string;
  bulk?: BulkAnswer;
  resolve: (o: AckOutcome) => void;
}

/**
 * Joins the two halves of a request's fate: the worker's verdict (valid? how
 * many batches does it span?) and the uploader's batch completions. A durable
 * request is answered only when every batch holding its events is delivered to
 * every sink; the first failed batch answers it with an error at once.
 */
export class AckTracker {
  private readonly pending = new Map<number, Pending>();

  get size(): number {
    return this.pending.size;
  }

  register(reqId: number, worker: number, mode: AckMode): Promise<AckOutcome> {
    return new Promise((resolve) => {
      this.pending.set(reqId, { worker, mode, span: -1, delivered: 0, events: 0, resolve });
    });
  }

  onVerdict(v: Verdict): void {
    const p = this.pending.get(v.reqId);
    if (!p) return;
    if (!v.ok) {
      this.finish(v.reqId, p, {
        ok: false,
        status: v.status,
        error: v.error,
        message: v.message,
        line: v.line,
        offset: v.offset,
      });
      return;
    }
    p.events = v.events;
    if (v.rejected !== undefined) {
      p.rejected = v.rejected;
      p.rejectMessage = v.rejectMessage;
    }
    p.bulk = v.bulk;
    if (p.mode === 'accepted') {
      this.finish(v.reqId, p, {
        ok: true,
        events: v.events,
        durable: false,
        ...partialOf(p),
        ...(v.bulk ? { bulk: v.bulk } : {}),
      });
      return;
    }
    p.span = v.span;
    this.check(v.reqId, p);
  }

  onBatchDelivered(reqIds: readonly number[]): void {
    for (const id of reqIds) {
      const p = this.pending.get(id);
      if (!p) continue;
      p.delivered++;
      this.check(id, p);
    }
  }

  onBatchFailed(reqIds: readonly number[], status: number, error: string, message: string): void {
    for (const id of reqIds) {
      const p = this.pending.get(id);
      if (p) this.finish(id, p, { ok: false, status, error, message });
    }
  }

  /** A worker died: nothing it held can be acknowledged; producers must retry. */
  failWorker(worker: number, message: string): void {
    for (const [id, p] of this.pending) {
      if (p.worker === worker)
        this.finish(id, p, {
          ok: false,
          status: 503,
          error: 'worker_failed',
          message,
          retryAfterS: 1,
        });
    }
  }

  /** Shutdown gave up waiting: answer what is left honestly. */
  failAll(status: number, error: string, message: string): void {
    for (const [id, p] of this.pending) this.finish(id, p, { ok: false, status, error, message });
  }

  private check(id: number, p: Pending): void {
    if (p.span >= 0 && p.delivered >= p.span)
      this.finish(id, p, {
        ok: true,
        events: p.events,
        durable: true,
        ...partialOf(p),
        ...(p.bulk ? { bulk: p.bulk } : {}),
      });
  }

  private finish(id: number, p: Pending, o: AckOutcome): void {
    this.pending.delete(id);
    p.resolve(o);
  }
}

function partialOf(p: Pending): { rejected?: number; rejectMessage?: string } {
  return p.rejected === undefined ? {} : { rejected: p.rejected, rejectMessage: p.rejectMessage };
}
