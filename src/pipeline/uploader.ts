import type { FerryConfig, RetryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { DlqMetrics, PipelineMetrics, SinkMetrics } from '../observe/metrics.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';
import { isSinkLevelError, SinkError } from '../sinks/errors.js';
import { deliver } from '../sinks/retry.js';
import type { EncodedBatch } from '../contracts/batch.js';
import type { BatchJob } from '../contracts/job.js';
import type { AckTracker } from './acks.js';
import type { Dlq } from '../dlq/dlq.js';
import { DlqFullError } from '../dlq/errors.js';
import { anySignal } from './any-signal.js';
import { isOutOfSpace } from '../fs/durable.js';
import { errorMessage } from '../util/errors.js';

/**
 * Moves sealed batches to every sink (in parallel, each with its own retries)
 * and reports the outcome to the ack tracker. It owns no queue: workers hold
 * back once they have max_inflight_batches out, which is what bounds memory.
 *
 * With a DLQ: a sink that still fails after its retries (or whose circuit breaker is open)
 * gets the batch in its DLQ segment instead, and the batch counts as delivered once that is
 * fsync'd; a permanent refusal goes to the poison area. Only a DLQ that cannot take it (full,
 * ENOSPC) fails the requests, with 503.
 */
export class Uploader {
  private readonly inflight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private policies: Map<string, RetryConfig>;

  constructor(
    private readonly sinks: Sink[],
    cfg: FerryConfig,
    private readonly acks: AckTracker,
    private readonly metrics: PipelineMetrics & SinkMetrics & DlqMetrics,
    private readonly log: Logger,
    /** Called when a batch is finished either way (returns the worker's credit). */
    private readonly onSettled: (job: BatchJob) => void,
    private readonly dlq?: Dlq,
  ) {
    this.policies = this.policiesOf(cfg);
  }

  /** New retry policies (a reload); a batch already retrying keeps the policy it started with. */
  setPolicies(cfg: FerryConfig): void {
    this.policies = this.policiesOf(cfg);
  }

  private policiesOf(cfg: FerryConfig): Map<string, RetryConfig> {
    const policies = new Map(
      cfg.sinks.map((s: SinkConfig) => [
        s.name,
        { ...cfg.retry, ...('retry' in s ? s.retry : {}) },
      ]),
    );
    for (const s of this.sinks) if (!policies.has(s.name)) policies.set(s.name, cfg.retry);
    return policies;
  }

  get size(): number {
    return this.inflight.size;
  }

  submit(job: BatchJob): void {
    this.metrics.batchEvents.observe(job.batch.events);
    const stored = job.batch.archive ?? job.batch.rows;
    if (stored) this.metrics.batchBytes.observe(stored.body.byteLength);
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
    const full = failures.some((f) => f.r.reason instanceof DlqFullError);
    const permanent = failures.some(
      (f) => f.r.reason instanceof SinkError && !f.r.reason.retryable,
    );
    const detail = failures.map((f) => `${f.sink.name}: ${errorMessage(f.r.reason)}`).join('; ');
    // Nowhere durable to put it (no DLQ, or a full one): the producer must retry.
    this.acks.onBatchFailed(
      job.reqIds,
      full ? 503 : permanent ? 500 : 503,
      full ? 'dlq_full' : permanent ? 'sink_rejected' : 'sink_unavailable',
      `batch ${job.batch.id} (${job.batch.events} events) not delivered: ${detail}`,
    );
  }

  private async toSink(sink: Sink, batch: EncodedBatch): Promise<void> {
    const d = this.dlq?.forSink(sink.name);
    // ClickHouse columns mode: events the workers could not convert are not in the rows, so they
    // are kept now, whatever becomes of the batch (delivered, spooled to the DLQ or poisoned).
    if (sink.takes === 'rows' && batch.rowPoison?.length) {
      await this.poisonRows(sink, batch, batch.rowPoison);
      // ClickHouse routing with unmatched: refuse — never dropped silently: counted too.
      const unrouted = batch.rowPoison.filter((r) => r.unrouted).length;
      if (unrouted) this.metrics.clickhouseUnroutedEvents.inc({ sink: sink.name }, unrouted);
    }
    // Sink known down: straight to its DLQ, no retry budget spent per batch.
    if (d?.breaker.open) return this.spool(sink, batch, undefined);
    const policy = this.policies.get(sink.name)!;
    const started = performance.now();
    try {
      const receipt = await deliver(sink, batch, policy, {
        signal: d ? anySignal(this.abort.signal, d.breaker.signal) : this.abort.signal,
        onRetry: (err: SinkError, attempt: number, delayMs: number) => {
          this.countError(sink, err);
          this.metrics.sinkRetries.inc({ sink: sink.name });
          this.log.warn(
            {
              sink: sink.name,
              batch: batch.id,
              attempt,
              delay_ms: Math.round(delayMs),
              err: err.message,
              class: err.errorClass,
            },
            'sink write failed, retrying',
          );
        },
      });
      this.metrics.uploadLatency.observe({ sink: sink.name }, (performance.now() - started) / 1000);
      this.metrics.eventsOut.inc({ sink: sink.name }, batch.events);
      this.log.debug(
        { sink: sink.name, batch: batch.id, events: batch.events, location: receipt.location },
        'batch delivered',
      );
      d?.breaker.success();
      if (receipt.poisonRows?.length) await this.poisonRows(sink, batch, receipt.poisonRows);
    } catch (err) {
      const e =
        err instanceof SinkError
          ? err
          : new SinkError(errorMessage(err), {
              retryable: true,
              errorClass: 'internal',
              cause: err,
            });
      this.countError(sink, e);
      this.metrics.batchesFailed.inc({
        sink: sink.name,
        reason: e.retryable ? 'retries_exhausted' : 'permanent',
      });
      if (!d) {
        this.log.error(
          {
            sink: sink.name,
            batch: batch.id,
            events: batch.events,
            class: e.errorClass,
            status: e.status,
            err: e.message,
          },
          e.retryable ? 'sink unavailable, batch not delivered' : 'sink refused batch permanently',
        );
        throw e;
      }
      if (!e.retryable && !isSinkLevelError(e)) return this.poison(sink, batch, e);
      d.breaker.failure();
      this.metrics.dlqSinkOpen.set({ sink: sink.name }, d.breaker.open ? 1 : 0);
      this.log.warn(
        {
          sink: sink.name,
          batch: batch.id,
          events: batch.events,
          class: e.errorClass,
          err: e.message,
          circuit: d.breaker.open ? 'open' : 'closed',
        },
        'sink unavailable: batch goes to the local DLQ',
      );
      return this.spool(sink, batch, e);
    }
  }

  /** Keep the batch in the sink's DLQ; resolves once fsync'd, throws DlqFullError when it cannot. */
  private async spool(sink: Sink, batch: EncodedBatch, err: SinkError | undefined): Promise<void> {
    const d = this.dlq!.forSink(sink.name)!;
    try {
      await d.spool(batch, err);
    } catch (e) {
      const full =
        e instanceof DlqFullError
          ? e
          : new DlqFullError(
              sink.name,
              'io',
              `local DLQ save failed for sink ${sink.name}: ${errorMessage(e)}`,
            );
      this.metrics.dlqSaveFailures.inc({ sink: sink.name, reason: full.reason });
      this.log.error(
        {
          sink: sink.name,
          batch: batch.id,
          events: batch.events,
          reason: full.reason,
          err: full.message,
        },
        `local DLQ save failed: ${full.message}`,
      );
      throw full;
    }
    this.metrics.dlqEventsSpooled.inc({ sink: sink.name }, batch.events);
    this.dlq!.poke(sink.name);
  }

  /** Rows that do not fit the sink's table (workers' misfits, server refusals): kept in the poison area (logged without a DLQ). */
  private async poisonRows(
    sink: Sink,
    batch: EncodedBatch,
    rows: NonNullable<SinkReceipt['poisonRows']>,
  ): Promise<void> {
    const d = this.dlq?.forSink(sink.name);
    const first = rows[0];
    let where: string | undefined;
    try {
      where = d ? await d.poisonRows(batch, rows) : undefined;
    } catch (err) {
      // Failing the batch for this would insert its good rows again. Say what was lost.
      this.metrics.dlqSaveFailures.inc({
        sink: sink.name,
        reason: isOutOfSpace(err) ? 'enospc' : 'io',
      });
      this.log.error(
        { sink: sink.name, batch: batch.id, rows, err: errorMessage(err) },
        'could not keep the refused rows of a delivered batch in the poison area: they are in this log line',
      );
      return;
    }
    this.metrics.dlqPoisonBatches.inc({ sink: sink.name });
    this.log.error(
      {
        sink: sink.name,
        batch: batch.id,
        rows: rows.length,
        column: first.column,
        err: first.reason,
        where,
      },
      where
        ? "rows that do not fit the sink's table: kept in the poison area, the rest of the batch goes on"
        : "rows that do not fit the sink's table (no DLQ configured: they are only logged)",
    );
  }

  /** Permanent refusal: kept with the sink's answer in the poison area, never retried automatically. */
  private async poison(sink: Sink, batch: EncodedBatch, e: SinkError): Promise<void> {
    const d = this.dlq!.forSink(sink.name)!;
    let where: string;
    try {
      where = await d.poison(batch, e);
    } catch (pe) {
      const full = new DlqFullError(
        sink.name,
        isOutOfSpace(pe) ? 'enospc' : 'io',
        `poison save failed for sink ${sink.name}: ${errorMessage(pe)}`,
      );
      this.metrics.dlqSaveFailures.inc({ sink: sink.name, reason: full.reason });
      this.log.error(
        { sink: sink.name, batch: batch.id, err: full.message },
        `local DLQ save failed: ${full.message}`,
      );
      throw full;
    }
    this.metrics.dlqPoisonBatches.inc({ sink: sink.name });
    this.log.error(
      {
        sink: sink.name,
        batch: batch.id,
        events: batch.events,
        status: e.status,
        class: e.errorClass,
        err: e.message,
        poison: where,
      },
      'sink refused batch permanently: kept in the poison DLQ (ferry dlq replay --poison after a fix)',
    );
  }

  private countError(sink: Sink, e: SinkError): void {
    // Protocol-specific counters (s3_put_errors_total, …) are the sink's own business.
    this.metrics.sinkErrors.inc({ sink: sink.name, class: e.errorClass });
  }
}
