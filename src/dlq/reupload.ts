import type { RetryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { DlqMetrics } from '../observe/metrics.js';
import { deliver } from '../sinks/retry.js';
import { isSinkLevelError, SinkError } from '../sinks/errors.js';
import { RateLimiter } from '../pipeline/rate-limiter.js';
import type { SinkDlq } from './sink-dlq.js';
import { DlqCorruptRecordError } from './errors.js';
import type { EncodedBatch } from '../contracts/batch.js';
import { errorMessage } from '../util/errors.js';
import { sleep } from '../util/backoff.js';

export interface ReuploadOptions {
  eventsPerSec: number;
  /** Pause between probes while the sink is down (doubles up to 10 s, so a recovered sink is noticed within seconds). */
  probeIntervalMs: number;
  policy: RetryConfig;
}

/**
 * Background re-upload of one sink's DLQ: while the breaker is open, a cheap probe
 * (sink.probe()) at growing intervals; once the sink answers, records oldest first, one at a
 * time and rate-limited so fresh traffic keeps priority. A record is removed only after the sink
 * confirmed it; a permanent refusal moves it to the poison area.
 */
export class Reuploader {
  private stopped = false;
  private readonly ac = new AbortController();
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;
  private rate: RateLimiter | undefined;

  constructor(
    private readonly d: SinkDlq,
    private opts: ReuploadOptions,
    private readonly metrics: DlqMetrics,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.loop ??= this.run();
  }

  setOptions(o: Pick<ReuploadOptions, 'eventsPerSec' | 'probeIntervalMs'>): void {
    this.opts = { ...this.opts, ...o };
    this.rate?.setRate(o.eventsPerSec);
  }

  /** Something was spooled: look sooner. */
  poke(): void {
    this.wake?.();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.ac.abort(new Error('ferry is shutting down'));
    this.wake?.();
    await this.loop;
  }

  /** Wait ms; poke() and stop() cut the wait short. */
  private sleep(ms: number): Promise<void> {
    const ac = new AbortController();
    this.wake = () => ac.abort();
    return sleep(ms, ac.signal);
  }

  private async run(): Promise<void> {
    const { d } = this;
    const sink = d.sink;
    const rate = (this.rate = new RateLimiter(this.opts.eventsPerSec));
    let backoff = this.opts.probeIntervalMs;
    while (!this.stopped) {
      const pending = d.store.pendingRecords();
      if (!d.breaker.open && pending.length === 0) {
        await this.sleep(1000);
        continue;
      }
      if (d.breaker.open) {
        try {
          await sink.probe(
            AbortSignal.timeout(Math.max(1000, this.opts.policy.attempt_timeout_ms)),
          );
          d.breaker.success();
          this.metrics.dlqSinkOpen.set({ sink: sink.name }, 0);
          backoff = this.opts.probeIntervalMs;
          this.log.info(
            { sink: sink.name, pending_events: d.store.pendingEvents },
            'sink reachable again: re-uploading the DLQ',
          );
        } catch {
          await this.sleep(backoff);
          backoff = Math.min(backoff * 2, Math.max(10_000, this.opts.probeIntervalMs));
          continue;
        }
      }
      const r = pending[0];
      if (!r) continue;
      // Re-upload sealed files only: the open one is sealed first (new spills start a new file).
      if (d.store.isActive(r.segment)) await d.store.seal();
      await rate.take(r.head.events, this.ac.signal);
      if (this.stopped) break;
      let batch: EncodedBatch;
      try {
        batch = await d.batchOf(r);
      } catch (err) {
        // The disk's fault, not the sink's: the breaker stays as it is.
        if (err instanceof DlqCorruptRecordError) {
          // Damaged for good: keep what is left of it aside and ship the records after it.
          await d.store.quarantine(r, err.reason);
          this.metrics.dlqCorruptRecords.inc({ sink: sink.name });
        } else {
          // An I/O error reading it (EIO, EMFILE, …): try again later.
          this.log.error(
            { sink: sink.name, batch: r.head.batch, file: r.segment.path, err: errorMessage(err) },
            'DLQ record could not be read; retrying',
          );
          await this.sleep(backoff);
        }
        continue;
      }
      try {
        // One attempt per turn: a failure opens the breaker and the probe takes over.
        const receipt = await deliver(
          sink,
          batch,
          { ...this.opts.policy, max_elapsed_ms: 0 },
          { signal: this.ac.signal },
        );
        await d.store.complete(r);
        this.metrics.dlqEventsReuploaded.inc({ sink: sink.name }, r.head.events);
        this.log.info(
          {
            sink: sink.name,
            batch: r.head.batch,
            events: r.head.events,
            location: receipt.location,
          },
          `DLQ → ${sink.name} success: ${receipt.location} events=${r.head.events}`,
        );
      } catch (err) {
        if (this.stopped) break;
        const e =
          err instanceof SinkError
            ? err
            : new SinkError(errorMessage(err), {
                retryable: true,
                errorClass: 'internal',
              });
        if (!e.retryable && !isSinkLevelError(e)) {
          const where = await d.poison(batch, e);
          await d.store.complete(r);
          this.metrics.dlqPoisonBatches.inc({ sink: sink.name });
          this.log.error(
            {
              sink: sink.name,
              batch: r.head.batch,
              events: r.head.events,
              status: e.status,
              err: e.message,
              poison: where,
            },
            'DLQ re-upload refused permanently: moved to poison',
          );
          continue;
        }
        this.log.warn(
          { sink: sink.name, batch: r.head.batch, err: e.message, class: e.errorClass },
          'DLQ re-upload failed; probing until the sink is back',
        );
        d.breaker.trip();
        this.metrics.dlqSinkOpen.set({ sink: sink.name }, 1);
        await this.sleep(backoff);
      }
    }
  }
}
