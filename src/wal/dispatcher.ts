import type { AckMode } from '../config/types.js';
import type { Dispatcher } from '../contracts/dispatch.js';
import type { Logger } from '../observe/log.js';
import type { WalMetrics } from '../observe/metrics.js';
import type { AckTracker } from '../pipeline/acks.js';
import { encodeHeader, type RecordHeader } from '../rings/record.js';
import { backoffDelay, sleep, type BackoffPolicy } from '../util/backoff.js';
import { errorMessage } from '../util/errors.js';
import type { WalEntry } from './entry.js';
import { WalCorruptRecordError } from './errors.js';
import type { WriteAheadLog } from './log.js';

/** The rings, as the log needs them: a whole encoded record in, the worker index (or -1) out. */
export interface RingPusher {
  tryPush(parts: readonly Uint8Array[]): number;
}

/**
 * The Dispatcher every source uses when the write-ahead log is on. A durable request's ring record
 * goes into a ring and, in the same turn, into the log (appended while the worker validates it);
 * the tracker answers once both the verdict and the fsync are in. A record the pipeline loses
 * after its ack (a batch neither delivered nor kept, a worker that died) is read back and
 * dispatched again after a backoff, as is every record found at start-up: nothing acknowledged is
 * dropped.
 *
 * A record sent again gets a request id from the top of the u32 space downwards (HTTP numbers
 * from 1 up, Kafka from 2^31 up), skipping any still in flight.
 */
export class LoggedDispatcher implements Dispatcher {
  private nextReplayId = 0xffffffff;
  private readonly stop = new AbortController();
  private readonly waiting = new Set<Promise<void>>();

  constructor(
    private readonly rings: RingPusher,
    private readonly wal: WriteAheadLog,
    private readonly acks: AckTracker,
    private readonly metrics: WalMetrics,
    private readonly log: Logger,
    private backoff: BackoffPolicy,
    /** Why sending a lost record again is pointless now (a down sink's DLQ is full), or undefined. */
    private readonly blocked: () => string | undefined = () => undefined,
  ) {
    wal.onLost = (e) => this.lost(e);
  }

  setBackoff(p: BackoffPolicy): void {
    this.backoff = p;
  }

  tryDispatch(header: RecordHeader, body: readonly Uint8Array[], ack: AckMode = 'durable'): number {
    const parts = [encodeHeader(header), ...body];
    if (ack !== 'durable') return this.rings.tryPush(parts);
    let bytes = 0;
    for (const p of parts) bytes += p.length;
    if (this.wal.full(bytes)) {
      this.metrics.walRejectedFull.inc();
      return -1;
    }
    const worker = this.rings.tryPush(parts);
    if (worker < 0) return worker;
    this.acks.attachLog(header.reqId, this.wal.append(parts));
    return worker;
  }

  /** Why a durable request is refused now (the log is full), or undefined. */
  refusal(): string | undefined {
    return this.wal.refusal();
  }

  /**
   * Start-up: dispatch every record the log recovered, oldest first, waiting for ring room as
   * needed. Resolves once all are in the rings (not delivered): then ferry may listen.
   */
  async replay(entries: readonly WalEntry[]): Promise<void> {
    for (const e of entries) {
      if (await this.dispatchAgain(e)) this.metrics.walReplayed.inc({ reason: 'startup' });
    }
    if (entries.length > 0) this.log.info({ records: entries.length }, 'WAL replay dispatched');
  }

  /** A batch holding the record failed after its ack, or its worker died: send it again after a backoff. */
  private lost(e: WalEntry): void {
    if (this.stop.signal.aborted) return; // stays in the log: the next start replays it
    e.attempts++;
    const delay = backoffDelay(this.backoff, e.attempts);
    const p = (async () => {
      await sleep(delay, this.stop.signal);
      // While a down sink's DLQ is full the record would only fail again: wait for room first.
      while (this.blocked() && !this.stop.signal.aborted)
        await sleep(backoffDelay(this.backoff, ++e.attempts), this.stop.signal);
      if (await this.dispatchAgain(e)) this.metrics.walReplayed.inc({ reason: 'lost' });
    })().finally(() => this.waiting.delete(p));
    this.waiting.add(p);
  }

  /** Read the record back and put it in a ring under a new request id. False if it could not be. */
  private async dispatchAgain(e: WalEntry): Promise<boolean> {
    let rec: Uint8Array;
    try {
      rec = new Uint8Array(await this.wal.read(e));
    } catch (err) {
      if (err instanceof WalCorruptRecordError) {
        await this.wal.quarantine(e, err.reason).catch(() => {});
        return false;
      }
      // The file is there (the log never deletes an unreleased record): try again later.
      this.log.error({ err: errorMessage(err) }, 'WAL: could not read a record back; will retry');
      this.lost(e);
      return false;
    }
    const id = this.replayId();
    new DataView(rec.buffer, rec.byteOffset, rec.byteLength).setUint32(0, id, true);
    for (;;) {
      if (this.stop.signal.aborted) return false;
      const worker = this.rings.tryPush([rec]);
      if (worker >= 0) {
        this.acks.registerReplay(id, worker, e);
        return true;
      }
      await sleep(20, this.stop.signal);
    }
  }

  private replayId(): number {
    for (;;) {
      const id = this.nextReplayId;
      this.nextReplayId = this.nextReplayId <= 0x80000000 ? 0xffffffff : this.nextReplayId - 1;
      if (!this.acks.has(id)) return id;
    }
  }

  /** Shutdown: no more re-dispatches (what is still unreleased stays in the log for the next start). */
  async close(): Promise<void> {
    this.stop.abort();
    await Promise.allSettled([...this.waiting]);
  }
}
