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

/**
 * A request's record in the write-ahead log (src/wal/entry.ts), as the tracker drives it: the
 * tracker tells it when every batch holding its events is delivered (or kept in a DLQ) — release —
 * or when one could not be (or the worker holding them died) — lost: send it again.
 */
export interface LogHandle {
  /** Resolves true once fsync'd, false when it could not be written (the request then waits for delivery). */
  readonly synced: Promise<boolean>;
  release(): void;
  lost(): void;
}

type LogState = 'none' | 'writing' | 'synced';

interface Pending {
  worker: number;
  /** 'replay': a logged record sent again (start-up or after a loss); nobody waits for an answer. */
  mode: AckMode | 'replay';
  /** Batches the request's events span; -1 until the worker's verdict arrives. */
  span: number;
  delivered: number;
  events: number;
  rejected?: number;
  rejectMessage?: string;
  bulk?: BulkAnswer;
  answered: boolean;
  resolve: (o: AckOutcome) => void;
  log?: LogHandle;
  logState: LogState;
  /** Left the tracker while its log record was still being written: release it once written. */
  gone: boolean;
}

const noop = () => {};

/**
 * Joins the two halves of a request's fate: the worker's verdict (valid? how many batches does it
 * span?) and the uploader's batch completions — and, for a request in the write-ahead log, its
 * fsync. Answers:
 * - `accepted`: on the verdict;
 * - `durable` with its record in the log: on the verdict and the fsync (whichever comes last);
 * - `delivered` (or `durable` without a log): when every batch holding its events is delivered to
 *   every sink or kept in a DLQ; the first failed batch answers it with an error at once.
 * A logged record is released when all its batches are delivered or kept; a batch that fails after
 * the answer (or a worker that dies) sends it again (`lost`): nothing acknowledged is dropped.
 */
export class AckTracker {
  private readonly pending = new Map<number, Pending>();
  /** Log records of requests dispatched but not registered yet (dispatch comes first). */
  private readonly unclaimed = new Map<number, LogHandle>();

  get size(): number {
    return this.pending.size;
  }

  has(reqId: number): boolean {
    return this.pending.has(reqId) || this.unclaimed.has(reqId);
  }

  /** The request about to be registered under reqId has this record in the write-ahead log. */
  attachLog(reqId: number, log: LogHandle): void {
    this.unclaimed.set(reqId, log);
  }

  register(reqId: number, worker: number, mode: AckMode): Promise<AckOutcome> {
    return new Promise((resolve) => {
      const log = this.unclaimed.get(reqId);
      if (log) this.unclaimed.delete(reqId);
      this.add(reqId, {
        worker,
        mode,
        span: -1,
        delivered: 0,
        events: 0,
        answered: false,
        resolve,
        log,
        logState: log ? 'writing' : 'none',
        gone: false,
      });
    });
  }

  /** A logged record sent again under a new reqId: released when delivered, lost again on failure. */
  registerReplay(reqId: number, worker: number, log: LogHandle): void {
    this.add(reqId, {
      worker,
      mode: 'replay',
      span: -1,
      delivered: 0,
      events: 0,
      answered: true,
      resolve: noop,
      log,
      logState: 'synced',
      gone: false,
    });
  }

  private add(reqId: number, p: Pending): void {
    this.pending.set(reqId, p);
    if (p.logState === 'writing') p.log!.synced.then((ok) => this.onSynced(reqId, p, ok), noop);
  }

  private onSynced(id: number, p: Pending, ok: boolean): void {
    if (!ok) {
      // Not in the log after all: the request falls back to waiting for delivery.
      p.log = undefined;
      p.logState = 'none';
    } else {
      p.logState = 'synced';
      if (p.gone) {
        p.log!.release();
        return;
      }
    }
    if (this.pending.get(id) === p) this.check(id, p);
  }

  onVerdict(v: Verdict): void {
    const p = this.pending.get(v.reqId);
    if (!p) return;
    if (!v.ok) {
      this.answer(p, {
        ok: false,
        status: v.status,
        error: v.error,
        message: v.message,
        line: v.line,
        offset: v.offset,
      });
      // Refused: nothing of it goes anywhere, its record may go at once.
      this.drop(v.reqId, p);
      return;
    }
    p.events = v.events;
    if (v.rejected !== undefined) {
      p.rejected = v.rejected;
      p.rejectMessage = v.rejectMessage;
    }
    p.bulk = v.bulk;
    if (p.mode === 'accepted') {
      this.answer(p, {
        ok: true,
        events: v.events,
        durable: false,
        ...partialOf(p),
        ...(p.bulk ? { bulk: p.bulk } : {}),
      });
      // Nothing more to follow unless a log record waits for its batches.
      if (p.logState === 'none') {
        this.pending.delete(v.reqId);
        return;
      }
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
      if (p) this.fail(id, p, { ok: false, status, error, message });
    }
  }

  /** A worker died: what it held unanswered must be retried by its producer; what was acknowledged is sent again. */
  failWorker(worker: number, message: string): void {
    for (const [id, p] of this.pending) {
      if (p.worker === worker)
        this.fail(id, p, {
          ok: false,
          status: 503,
          error: 'worker_failed',
          message,
          retryAfterS: 1,
        });
    }
  }

  /** Shutdown gave up waiting: answer what is left honestly; acknowledged log records stay for the next start. */
  failAll(status: number, error: string, message: string): void {
    for (const [id, p] of this.pending) {
      this.answer(p, { ok: false, status, error, message });
      this.pending.delete(id);
    }
  }

  private fail(id: number, p: Pending, o: AckOutcome): void {
    if (p.answered && p.logState === 'synced') {
      // Acknowledged on the strength of the log: it must reach the sinks, so it goes again.
      this.pending.delete(id);
      p.log!.lost();
      return;
    }
    this.answer(p, o);
    this.drop(id, p);
  }

  private check(id: number, p: Pending): void {
    if (p.span < 0) return;
    const settled = p.delivered >= p.span;
    if (!p.answered && (settled || (p.mode === 'durable' && p.logState === 'synced')))
      this.answer(p, {
        ok: true,
        events: p.events,
        durable: true,
        ...partialOf(p),
        ...(p.bulk ? { bulk: p.bulk } : {}),
      });
    if (settled) this.drop(id, p);
  }

  private answer(p: Pending, o: AckOutcome): void {
    if (p.answered) return;
    p.answered = true;
    // A logged request stays until its batches are delivered; its answer's bytes need not.
    p.bulk = undefined;
    p.resolve(o);
  }

  /** The request is over: forget it and let its log record go. */
  private drop(id: number, p: Pending): void {
    this.pending.delete(id);
    if (p.logState === 'synced') p.log!.release();
    else if (p.logState === 'writing') p.gone = true;
  }
}

function partialOf(p: Pending): { rejected?: number; rejectMessage?: string } {
  return p.rejected === undefined ? {} : { rejected: p.rejected, rejectMessage: p.rejectMessage };
}
