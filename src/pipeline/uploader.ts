import type { FerryConfig, RetryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { SinkError, type Sink } from '../sinks/sink.js';
import { deliver } from '../sinks/retry.js';
import type { EncodedBatch } from './batch.js';
import type { AckTracker } from './acks.js';

export interface BatchJob {
  worker: number;
  seq: number;
  reqIds: number[];
  batch: EncodedBatch;
}

/**
 * Moves sealed batches to every sink (in parallel, each with its own retries)
 * and reports the outcome to the ack tracker. It owns no queue: workers hold
 * back once they have max_inflight_batches out, which is what bounds memory.
 */
export class Uploader {
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private policies: Map<string, RetryConfig>;

  constructor(
    private readonly sinks: Sink[],
    cfg: FerryConfig,
    private readonly acks: AckTracker,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Called when a batch is finished either way (returns the worker's credit). */
    private readonly onSettled: (job: BatchJob) => void,
  ) {
    this.policies = this.policiesOf(cfg);
  }

  /** New retry policies (a reload); a batch already retrying keeps the policy it started with. */
  setPolicies(cfg: FerryConfig): void {
    this.policies = this.policiesOf(cfg);
  }

  private policiesOf(cfg: FerryConfig): Map<string, RetryConfig> {
    const policies = new Map(cfg.sinks.map((s: SinkConfig) => [s.name, { ...cfg.retry, ...('retry' in s ? s.retry : {}) }]));
    for (const s of this.sinks) if (!policies.has(s.name)) policies.set(s.name, cfg.retry);
    return policies;
  }

  get size(): number {
    return this.inflight.size;
  }

  submit(job: BatchJob): void {
    this.metrics.batchEvents.observe(job.batch.events);
    this.metrics.batchBytes.observe(job.batch.archive.body.byteLength);
    const p = this.run(job).finally(() => {
      this.inflight.delete(p);
      this.metrics.batchesInflight.set(this.inflight.size);
      this.onSettled(job);
    });
    this.inflight.add(p);
    this.metrics.batchesInflight.set(this.inflight.size);
  }

  /** Resolves when every batch submitted so far is settled. */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /** Stop retrying (hard shutdown): in-flight batches fail now instead of later. */
  cancel(): void {
    this.abort.abort(new Error('ferry is shutting down'));
  }

  private async run(job: BatchJob): Promise<void> {
    const results = await Promise.allSettled(this.sinks.map((s) => this.toSink(s, job.batch)));
    const failures = results
      .map((r, i) => ({ r, sink: this.sinks[i] }))
      .filter((x): x is { r: PromiseRejectedResult; sink: Sink } => x.r.status === 'rejected');
    if (failures.length === 0) {
      this.acks.onBatchDelivered(job.reqIds);
      return;
    }
    const permanent = failures.some((f) => f.r.reason instanceof SinkError && !f.r.reason.retryable);
    const detail = failures.map((f) => `${f.sink.name}: ${(f.r.reason as Error).message}`).join('; ');
    // Until the DLQ lands there is nowhere durable to put it: the producer must retry.
    this.acks.onBatchFailed(
      job.reqIds,
      permanent ? 500 : 503,
      permanent ? 'sink_rejected' : 'sink_unavailable',
      `batch ${job.batch.id} (${job.batch.events} events) not delivered: ${detail}`,
    );
  }

  private async toSink(sink: Sink, batch: EncodedBatch): Promise<void> {
    const policy = this.policies.get(sink.name)!;
    const started = performance.now();
    try {
      const receipt = await deliver(sink, batch, policy, {
        signal: this.abort.signal,
        onRetry: (err: SinkError, attempt: number, delayMs: number) => {
          this.countError(sink, err);
          this.metrics.sinkRetries.inc({ sink: sink.name });
          this.log.warn({ sink: sink.name, batch: batch.id, attempt, delay_ms: Math.round(delayMs), err: err.message, class: err.errorClass }, 'sink write failed, retrying');
        },
      });
      this.metrics.uploadLatency.observe({ sink: sink.name }, (performance.now() - started) / 1000);
      this.metrics.eventsOut.inc({ sink: sink.name }, batch.events);
      if (sink.type === 's3') this.metrics.s3EventsStored.inc(batch.events);
      this.log.debug({ sink: sink.name, batch: batch.id, events: batch.events, location: receipt.location }, 'batch delivered');
    } catch (err) {
      const e = err instanceof SinkError ? err : new SinkError(String((err as Error)?.message ?? err), { retryable: true, errorClass: 'internal', cause: err });
      this.countError(sink, e);
      this.metrics.batchesFailed.inc({ sink: sink.name, reason: e.retryable ? 'retries_exhausted' : 'permanent' });
      this.log.error({ sink: sink.name, batch: batch.id, events: batch.events, class: e.errorClass, status: e.status, err: e.message }, e.retryable ? 'sink unavailable, batch not delivered' : 'sink refused batch permanently');
      throw e;
    }
  }

  private countError(sink: Sink, e: SinkError): void {
    this.metrics.sinkErrors.inc({ sink: sink.name, class: e.errorClass });
    if (sink.type === 's3') this.metrics.s3PutErrors.inc();
    if (sink.type === 'clickhouse') this.metrics.clickhouseInsertErrors.inc({ class: e.errorClass });
  }
}
