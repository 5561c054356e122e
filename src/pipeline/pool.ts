import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { appliedMemoryPlan, availableMemory, planMemory } from '../config/memory.js';
import { Piscina } from 'piscina';
import { ByteRing } from '../rings/ring.js';
import { encodeHeader, type RecordHeader } from '../rings/record.js';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { PipelineMetrics } from '../observe/metrics.js';
import type { BatchLimits } from '../contracts/batch.js';
import {
  type WorkerTask,
  type WorkerToMain,
  type Verdict,
  type MainToWorker,
  CONTROL_SLOTS,
  CONTROL_INFLIGHT,
  CONTROL_HEARTBEAT,
  STAT_SLOTS,
  STAT_BUSY_SECONDS,
  STAT_EVENTS,
} from '../../workers/protocol.js';
import type { Dispatcher } from '../contracts/dispatch.js';
import { effectiveSinks } from '../config/effective-sinks.js';
import { partsFor } from '../sinks/kinds.js';
import type { BatchJob } from '../contracts/job.js';
import { sleep } from '../util/backoff.js';

export interface PoolHandlers {
  onVerdicts(items: Verdict[]): void;
  onBatch(job: BatchJob): void;
  onWorkerFailed(worker: number, err: Error): void;
}

export function batchLimits(
  cfg: FerryConfig,
  rowPlan?: BatchLimits['rowPlan'],
  routes?: BatchLimits['routes'],
): BatchLimits {
  return {
    maxEvents: cfg.batch.max_events,
    maxBytes: cfg.batch.max_bytes,
    maxAgeMs: cfg.batch.max_age_ms,
    codec: cfg.batch.codec,
    level: cfg.batch.level,
    archiveFormat: cfg.batch.archive_format,
    // Only the parts some sink takes (a ClickHouse-only node builds no archive).
    ...partsFor(effectiveSinks(cfg)),
    // ClickHouse columns mode: the table's row plan, read by the main thread.
    ...(rowPlan ? { rowPlan } : {}),
    // ClickHouse routing: the table of each event's row, decided by the workers.
    ...(routes ? { routes } : {}),
  };
}

interface Slot {
  ring: ByteRing;
  port: MessagePort;
  task: Promise<unknown>;
  lastBusy: number;
  /** Watchdog: the heartbeat value last seen and when it last moved (performance.now()). */
  beat: number;
  beatChangedAt: number;
}

/** The worker heap caps of cfg's memory plan (or this node's, for a config not from the loader). */
function workerHeapLimits(cfg: FerryConfig): {
  maxOldGenerationSizeMb: number;
  maxYoungGenerationSizeMb: number;
} {
  const plan = appliedMemoryPlan(cfg)?.plan ?? planMemory(availableMemory(), cfg.workers.threads);
  return { ...plan.workerHeap };
}

/**
 * The worker threads (piscina) and their rings. Each thread runs one
 * long-lived task that consumes one single-producer ring; the main thread is
 * the only producer. Requests go to the emptiest ring; when every ring is full
 * the caller gets -1 and answers 503.
 */
export class WorkerPool implements Dispatcher {
  private readonly piscina: Piscina;
  private readonly slots: Slot[] = [];
  private readonly control: Int32Array;
  private readonly controlSab: SharedArrayBuffer;
  private readonly statsSab: SharedArrayBuffer;
  private readonly stats: Float64Array;
  private limits: BatchLimits;
  private maxDecompressedBytes: number;
  private closing = false;
  private lastSample = performance.now();
  readonly threads: number;

  constructor(
    private readonly cfg: FerryConfig,
    private readonly metrics: PipelineMetrics,
    private readonly log: Logger,
    private readonly handlers: PoolHandlers,
    rowPlan?: BatchLimits['rowPlan'],
    routes?: BatchLimits['routes'],
  ) {
    this.threads = cfg.workers.threads;
    this.controlSab = new SharedArrayBuffer(this.threads * CONTROL_SLOTS * 4);
    this.control = new Int32Array(this.controlSab);
    this.statsSab = new SharedArrayBuffer(this.threads * STAT_SLOTS * 8);
    this.stats = new Float64Array(this.statsSab);
    this.limits = batchLimits(cfg, rowPlan, routes);
    this.maxDecompressedBytes = cfg.http.max_decompressed_bytes;
    this.piscina = new Piscina({
      filename: new URL('../../workers/pipeline-worker.js', import.meta.url).href,
      minThreads: this.threads,
      maxThreads: this.threads,
      concurrentTasksPerWorker: 1,
      idleTimeout: Number.MAX_SAFE_INTEGER,
      maxQueue: 0,
      // Bounded heaps: a worker holds one open batch and a request at a time; the caps follow
      // the node's memory (src/config/memory.ts: 128 + 16 MiB from 1 GiB up).
      resourceLimits: workerHeapLimits(cfg),
    });
  }

  start(): void {
    for (let i = 0; i < this.threads; i++) {
      const ring = ByteRing.create(this.cfg.workers.ring_bytes);
      this.slots.push({
        ring,
        port: undefined as unknown as MessagePort,
        task: Promise.resolve(),
        lastBusy: 0,
        beat: 0,
        beatChangedAt: performance.now(),
      });
      this.metrics.ringCapacityBytes.set({ worker: String(i) }, ring.capacity);
      this.launch(i);
    }
  }

  /** The largest body a ring record can carry (config validation keeps the limit below it). */
  get maxRecordBytes(): number {
    return this.slots[0]?.ring.maxRecordBytes ?? 0;
  }

  /** Put one request in the emptiest ring. Returns the worker index, or -1 when all are full. */
  tryDispatch(header: RecordHeader, body: readonly Uint8Array[]): number {
    return this.tryPush([encodeHeader(header), ...body]);
  }

  /** Put one whole ring record (header, source, body: as encoded) in the emptiest ring; -1 when all are full. */
  tryPush(parts: readonly Uint8Array[]): number {
    if (this.closing) return -1;
    const order = this.slots
      .map((s, i) => ({ i, used: s.ring.usedBytes() }))
      .sort((a, b) => a.used - b.used);
    for (const { i } of order) {
      if (this.slots[i].ring.tryPush(parts)) return i;
    }
    return -1;
  }

  /** A batch of worker w is settled: it may send another. */
  releaseCredit(worker: number): void {
    Atomics.sub(this.control, worker * CONTROL_SLOTS + CONTROL_INFLIGHT, 1);
    Atomics.notify(this.control, worker * CONTROL_SLOTS + CONTROL_INFLIGHT);
  }

  /** New batch limits (and decompression cap) for every worker; each applies them before its next request. */
  setLimits(limits: BatchLimits, maxDecompressedBytes = this.maxDecompressedBytes): void {
    this.limits = limits;
    this.maxDecompressedBytes = maxDecompressedBytes;
    for (const s of this.slots)
      s.port.postMessage({ t: 'limits', limits, maxDecompressedBytes } satisfies MainToWorker);
  }

  /** For /metrics: ring occupancy and each worker's busy share since the last call. */
  sampleGauges(): void {
    const now = performance.now();
    const wall = (now - this.lastSample) / 1000;
    this.lastSample = now;
    this.slots.forEach((s, i) => {
      this.metrics.ringUsedBytes.set({ worker: String(i) }, s.ring.usedBytes());
      const busy = this.stats[i * STAT_SLOTS + STAT_BUSY_SECONDS];
      if (wall > 0)
        this.metrics.workerBusyRatio.set(
          { worker: String(i) },
          Math.min(1, (busy - s.lastBusy) / wall),
        );
      s.lastBusy = busy;
    });
  }

  /**
   * Workers whose heartbeat has not moved for more than stallMs (for the systemd watchdog).
   * A live worker bumps it at least every ~100 ms, idle or busy, so only a wedged thread stalls.
   */
  stalledWorkers(stallMs: number): number[] {
    const now = performance.now();
    const out: number[] = [];
    this.slots.forEach((s, i) => {
      const beat = Atomics.load(this.control, i * CONTROL_SLOTS + CONTROL_HEARTBEAT);
      if (beat !== s.beat) {
        s.beat = beat;
        s.beatChangedAt = now;
      } else if (now - s.beatChangedAt > stallMs) out.push(i);
    });
    return out;
  }

  /** Events accepted by all workers since start (for the systemd STATUS line). */
  eventsTotal(): number {
    let n = 0;
    for (let i = 0; i < this.slots.length; i++) n += this.stats[i * STAT_SLOTS + STAT_EVENTS];
    return n;
  }

  /** Share of ring space in use, worst ring (for /readyz). */
  saturation(): number {
    return Math.max(0, ...this.slots.map((s) => s.ring.usedBytes() / s.ring.capacity));
  }

  /** Stop taking requests; workers drain their rings, seal open batches and return. */
  async close(): Promise<void> {
    this.closing = true;
    for (const s of this.slots) s.ring.close();
    await Promise.allSettled(this.slots.map((s) => s.task));
  }

  async destroy(): Promise<void> {
    for (const s of this.slots) s.port.close();
    await this.piscina.destroy();
  }

  private launch(i: number): void {
    const slot = this.slots[i];
    const { port1, port2 } = new MessageChannel();
    // The task's result and the port's messages travel separately: closing the port when the
    // task resolves could drop the last sealed batch still queued on it. Wait for 'done'.
    let portDone!: () => void;
    const drained = new Promise<void>((r) => (portDone = r));
    port1.on('message', (m: WorkerToMain) => {
      if (m.t === 'verdicts') this.handlers.onVerdicts(m.items);
      else if (m.t === 'batch')
        this.handlers.onBatch({ worker: m.worker, seq: m.seq, reqIds: m.reqIds, batch: m.batch });
      else portDone();
    });
    slot.port = port1;
    const task: WorkerTask = {
      index: i,
      ring: slot.ring.sab,
      control: this.controlSab,
      stats: this.statsSab,
      port: port2,
      limits: this.limits,
      maxInflight: this.cfg.workers.max_inflight_batches,
      maxDecompressedBytes: this.maxDecompressedBytes,
    };
    slot.task = this.piscina.run(task, { transferList: [port2] as never }).then(
      async () => {
        // The fallback timer is cleared once the port drains: left pending, it held the
        // process open ~5 s after `shutdown complete`.
        const fallback = new AbortController();
        await Promise.race([drained, sleep(5000, fallback.signal)]);
        fallback.abort();
        port1.close();
      },
      (err: Error) => {
        port1.close();
        this.log.error({ worker: i, err: err.message }, 'pipeline worker failed; restarting it');
        this.handlers.onWorkerFailed(i, err);
        if (!this.closing) setTimeout(() => this.launch(i), 100);
      },
    );
  }
}
