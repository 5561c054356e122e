import { mkdir, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { DlqMetrics } from '../observe/metrics.js';
import type { Sink } from '../contracts/sink.js';
import { recoverSink } from './recovery.js';
import { claimDlq, releaseDlq } from './owner.js';
import { Reuploader } from './reupload.js';
import { SinkDlq } from './sink-dlq.js';
import type { StoreLimits } from './segment-store.js';
import { errorMessage } from '../util/errors.js';

export function dlqDir(cfg: FerryConfig): string {
  return cfg.dlq.dir || join(cfg.state_dir, 'dlq');
}

export function storeLimits(cfg: FerryConfig): StoreLimits {
  return {
    maxBytes: cfg.dlq.max_bytes,
    maxFiles: cfg.dlq.max_files,
    segmentMaxBytes: cfg.dlq.segment_max_bytes,
    policy: cfg.dlq.policy,
  };
}

/**
 * The DLQ of every sink: recovered at startup (before ferry listens), fed by the uploader,
 * drained by one re-upload loop per sink, expired by TTL.
 */
export class Dlq {
  private readonly bySink = new Map<string, SinkDlq>();
  private readonly reuploaders = new Map<string, Reuploader>();
  private ttlTimer: ReturnType<typeof setInterval> | undefined;
  private diskTimer: ReturnType<typeof setInterval> | undefined;
  private diskProblem: string | undefined;

  private constructor(
    private cfg: FerryConfig,
    private readonly metrics: DlqMetrics,
    private readonly log: Logger,
  ) {}

  /** Recover every sink's segments (torn tails cut, corrupt records quarantined) and start re-uploads. */
  static async open(
    cfg: FerryConfig,
    sinks: Sink[],
    metrics: DlqMetrics,
    log: Logger,
  ): Promise<Dlq> {
    const dlq = new Dlq(cfg, metrics, log);
    const root = dlqDir(cfg);
    await claimDlq(root);
    for (const sink of sinks) {
      const dir = join(root, sink.name);
      const d = new SinkDlq(sink, dir, storeLimits(cfg), cfg.dlq.breaker_failures, log, {
        dropped: (events, reason) =>
          metrics.dlqEventsDropped.inc({ sink: sink.name, reason }, events),
        expiredFile: () => metrics.dlqFilesExpired.inc({ sink: sink.name }),
        changed: () => dlq.updateGauges(),
      });
      const rec = await recoverSink(sink.name, dir, log);
      d.store.adopt(rec.segments);
      if (rec.corrupt > 0) metrics.dlqCorruptRecords.inc({ sink: sink.name }, rec.corrupt);
      if (rec.records > 0 || rec.corrupt > 0) {
        log.info(
          {
            sink: sink.name,
            files: rec.segments.length,
            records: rec.records,
            events: rec.events,
            corrupt: rec.corrupt,
            truncated_bytes: rec.truncatedBytes,
          },
          'DLQ recovered: re-uploading in the background',
        );
        // Whatever was spooled before the restart: treat the sink as suspect until a probe says otherwise.
        d.breaker.trip();
        metrics.dlqSinkOpen.set({ sink: sink.name }, 1);
      }
      dlq.bySink.set(sink.name, d);
      const sc = cfg.sinks.find((s) => s.name === sink.name);
      const policy = { ...cfg.retry, ...(sc && 'retry' in sc ? sc.retry : {}) };
      dlq.reuploaders.set(
        sink.name,
        new Reuploader(
          d,
          {
            eventsPerSec: cfg.dlq.reupload_events_per_s,
            probeIntervalMs: cfg.dlq.probe_interval_ms,
            policy,
          },
          metrics,
          log,
        ),
      );
    }
    dlq.updateGauges();
    for (const r of dlq.reuploaders.values()) r.start();
    await dlq.expire();
    dlq.ttlTimer = setInterval(() => void dlq.expire(), 60_000);
    dlq.ttlTimer.unref?.();
    await mkdir(root, { recursive: true });
    await dlq.checkDisk();
    dlq.diskTimer = setInterval(() => void dlq.checkDisk(), 5_000);
    dlq.diskTimer.unref?.();
    return dlq;
  }

  /** A reload: new limits, TTL, re-upload rate and probe interval apply from now on. */
  setConfig(cfg: FerryConfig): void {
    this.cfg = cfg;
    for (const d of this.bySink.values()) d.store.setLimits(storeLimits(cfg));
    // Probe now: a reload often is the fix (new credentials, a new endpoint).
    for (const r of this.reuploaders.values()) {
      r.setOptions({
        eventsPerSec: cfg.dlq.reupload_events_per_s,
        probeIntervalMs: cfg.dlq.probe_interval_ms,
      });
      r.poke();
    }
  }

  forSink(name: string): SinkDlq | undefined {
    return this.bySink.get(name);
  }

  /** Why new data must be refused now (a down sink whose DLQ is full under policy reject), or undefined. */
  refusal(): string | undefined {
    for (const d of this.bySink.values()) {
      if (d.breaker.open && d.store.wouldReject())
        return `sink ${d.sink.name} is down and its DLQ is full (${d.store.bytes} bytes in ${d.store.files} files)`;
    }
    return undefined;
  }

  /** /readyz problems: a DLQ without room (the disk check is refreshed every few seconds). */
  problems(): string[] {
    const p: string[] = [];
    for (const d of this.bySink.values())
      if (d.store.wouldReject()) p.push(`DLQ of sink ${d.sink.name} is full`);
    if (this.diskProblem) p.push(this.diskProblem);
    return p;
  }

  private async checkDisk(): Promise<void> {
    try {
      const s = await statfs(dlqDir(this.cfg));
      const free = Number(s.bavail) * Number(s.bsize);
      this.diskProblem =
        free < this.cfg.dlq.min_free_bytes
          ? `DLQ disk has ${free} bytes free, less than dlq.min_free_bytes ${this.cfg.dlq.min_free_bytes}`
          : undefined;
    } catch {
      // statfs unsupported on this runtime: the ENOSPC path still refuses cleanly
      this.diskProblem = undefined;
    }
  }

  updateGauges(): void {
    for (const d of this.bySink.values()) {
      this.metrics.dlqFiles.set({ sink: d.sink.name }, d.store.files);
      this.metrics.dlqBytes.set({ sink: d.sink.name }, d.store.bytes);
      this.metrics.dlqEvents.set({ sink: d.sink.name }, d.store.pendingEvents);
    }
  }

  /** A batch was spooled for this sink: its re-upload loop looks sooner. */
  poke(sink: string): void {
    this.reuploaders.get(sink)?.poke();
  }

  /** What waits on disk across all sinks (the systemd STATUS line). */
  totals(): { events: number; bytes: number } {
    let events = 0;
    let bytes = 0;
    for (const d of this.bySink.values()) {
      events += d.store.pendingEvents;
      bytes += d.store.bytes;
    }
    return { events, bytes };
  }

  async close(): Promise<void> {
    if (this.ttlTimer) clearInterval(this.ttlTimer);
    if (this.diskTimer) clearInterval(this.diskTimer);
    await Promise.all([...this.reuploaders.values()].map((r) => r.stop()));
    for (const d of this.bySink.values()) await d.store.close();
    await releaseDlq(dlqDir(this.cfg));
  }

  private async expire(): Promise<void> {
    const ttl = this.cfg.dlq.ttl_hours * 3_600_000;
    for (const d of this.bySink.values())
      await d.store
        .expire(ttl)
        .catch((err) =>
          this.log.error({ sink: d.sink.name, err: errorMessage(err) }, 'DLQ TTL sweep failed'),
        );
  }
}
