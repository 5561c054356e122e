import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import { startEventLoopLagProbe } from '../observe/loop-lag.js';
import { AckTracker } from '../pipeline/acks.js';
import { Uploader } from '../pipeline/uploader.js';
import { WorkerPool } from '../pipeline/pool.js';
import { createSinks } from '../sinks/factory.js';
import type { Sink } from '../sinks/sink.js';
import { createApp } from '../sources/http/app.js';
import { createIngest, type IngestDeps } from '../sources/http/ingest.js';
import { listen, type Listener } from '../sources/http/serve.js';
import { SinkHealth } from './sink-health.js';
import { AuthGuard, openListenerWarning } from '../auth/guard.js';
import { LiveSink } from '../sinks/live-sink.js';
import { readTlsMaterial, type TlsMaterial } from '../sources/http/tls.js';
import { ConfigHolder, createReloader, type ReloadResult } from './reload.js';
import { Dlq } from '../dlq/dlq.js';

export interface Running {
  port: number;
  metrics: Metrics;
  /** Graceful stop: stop accepting, drain rings, flush, deliver, answer. */
  stop(reason: string): Promise<void>;
  /** Re-read the config (SIGHUP): apply what can be applied live, report what needs a restart. Never throws. */
  reload(): Promise<ReloadResult>;
  /** Live figures for the systemd STATUS line and watchdog (src/lifecycle/systemd.ts). */
  vitals(stallMs: number): Vitals;
}

export interface Vitals {
  /** Events accepted since start. */
  events: number;
  /** Worst ring's share in use, 0..1. */
  ringUse: number;
  workers: number;
  /** Workers whose heartbeat has not moved for stallMs: a non-empty list stops the watchdog pings. */
  stalledWorkers: number[];
  /** Durable requests waiting for delivery. */
  pending: number;
  /** What waits in the local DLQ (undefined with the DLQ off). */
  dlq?: { events: number; bytes: number };
}

export interface StartOptions {
  /** Reads and validates the config file again for a reload; without it reload() reports there is nothing to reload. */
  load?: () => FerryConfig;
}

/** Wire sources → rings → workers → uploader → sinks and start listening. */
export async function startFerry(
  initial: FerryConfig,
  log: Logger,
  opts: StartOptions = {},
): Promise<Running> {
  const metrics = createMetrics();
  // One holder for the running config: every reader goes through it, a reload swaps it.
  const holder = new ConfigHolder(initial);
  const cfg = initial;
  const liveSinks = (await createSinks(cfg, log)).map((s) => new LiveSink(s));
  const sinks: Sink[] = liveSinks;
  const auth = new AuthGuard(cfg.auth);
  const tls: { current?: TlsMaterial } = {
    current: cfg.listen.tls ? await readTlsMaterial(cfg.listen.tls) : undefined,
  };
  const acks = new AckTracker();
  // DLQ recovery comes before anything is accepted: what was spooled before a crash is re-uploaded first.
  const dlq = cfg.dlq.enabled ? await Dlq.open(cfg, sinks, metrics, log) : undefined;
  let pool!: WorkerPool;
  const uploader = new Uploader(
    sinks,
    cfg,
    acks,
    metrics,
    log,
    (job) => pool.releaseCredit(job.worker),
    dlq,
  );
  pool = new WorkerPool(cfg, metrics, log, {
    onVerdicts: (items) => {
      for (const v of items) acks.onVerdict(v);
    },
    onBatch: (job) => uploader.submit(job),
    onWorkerFailed: (worker, err) =>
      acks.failWorker(
        worker,
        `worker ${worker} failed (${err.message}); nothing of this request was acknowledged, retry it`,
      ),
  });
  pool.start();

  const health = new SinkHealth(sinks, log);
  health.start();
  const stopLag = startEventLoopLagProbe((s) => metrics.eventLoopLag.set(s));
  let stopping = false;

  const ingestDeps: IngestDeps = {
    config: () => holder.get(),
    dispatcher: pool,
    acks,
    metrics,
    accepting: () => !stopping,
    auth,
    refusal: () => dlq?.refusal(),
  };
  const ingest = createIngest(ingestDeps);
  const app = createApp(cfg.listen.path, {
    ...ingestDeps,
    metrics,
    ingest,
    beforeScrape: () => {
      pool.sampleGauges();
      dlq?.updateGauges();
      metrics.pendingAcks.set(acks.size);
    },
    readiness: {
      problems: () => {
        const p: string[] = [];
        if (stopping) p.push('shutting down');
        if (pool.saturation() > 0.9) p.push('rings over 90% full');
        p.push(...health.problems());
        if (dlq) p.push(...dlq.problems());
        return p;
      },
    },
  });
  const listener: Listener = await listen(app, {
    host: cfg.listen.host,
    port: cfg.listen.port,
    maxBodyBytes: cfg.http.max_body_bytes,
    ingestPath: cfg.listen.path,
    ingest,
    tls: tls.current,
  });
  metrics.configLastReloadSuccess.set(Date.now() / 1000);
  const exposed = openListenerWarning(cfg);
  if (exposed) log.warn({ host: cfg.listen.host, auth: 'off' }, exposed);
  const reload = createReloader({
    holder,
    load:
      opts.load ??
      (() => {
        throw new Error('ferry was started without a config loader; nothing to reload');
      }),
    pool,
    uploader,
    dlq,
    sinks: liveSinks,
    auth,
    listener: () => listener,
    tls,
    log,
    metrics,
    stopping: () => stopping,
  });
  // Kafka after the pipeline and the listener are up: its messages go through the same rings.
  const kafka = cfg.kafka.enabled
    ? new (await import('../sources/kafka/source.js')).KafkaSource({
        config: cfg,
        dispatcher: pool,
        saturation: () => pool.saturation(),
        acks,
        metrics,
        log,
        refusal: () => dlq?.refusal(),
      })
    : undefined;
  kafka?.start();
  log.info(
    {
      host: cfg.listen.host,
      port: listener.port,
      path: cfg.listen.path,
      tls: !!cfg.listen.tls,
      auth: auth.on ? `${cfg.auth.tokens.length} tokens` : 'off',
      workers: pool.threads,
      sinks: sinks.map((s) => `${s.name}:${s.type}`),
      codec: cfg.batch.codec,
      ack: cfg.http.ack,
    },
    'ferry listening',
  );

  // READY=1 is sent by the caller once this resolves (src/cli/run.ts): everything that must
  // happen before ferry counts as started (DLQ recovery, listeners up) goes above.
  return {
    port: listener.port,
    metrics,
    vitals: (stallMs: number) => ({
      events: pool.eventsTotal(),
      ringUse: pool.saturation(),
      workers: pool.threads,
      stalledWorkers: pool.stalledWorkers(stallMs),
      pending: acks.size,
      dlq: dlq?.totals(),
    }),
    reload,
    stop: async (reason: string) => {
      if (stopping) return;
      stopping = true;
      const t0 = Date.now();
      log.info({ reason }, 'shutdown: stop accepting, draining rings');
      const listenerClosed = listener.stop();
      const drained = (async () => {
        // Kafka first, while the pool still runs: stop fetching → in-flight durable → commit → disconnect.
        await kafka?.stop(Math.max(1000, holder.get().shutdown.drain_timeout_ms - 2000));
        await pool.close();
        log.info(
          { batches_inflight: uploader.size },
          'shutdown: rings drained, delivering last batches',
        );
        await uploader.drain();
        // Every durable request is answered now; keep-alive connections would hold close() open.
        await new Promise((r) => setTimeout(r, 200));
        listener.forceClose();
        await listenerClosed;
      })();
      const timedOut = await Promise.race([
        drained.then(() => false),
        new Promise<boolean>((r) =>
          setTimeout(() => r(true), holder.get().shutdown.drain_timeout_ms).unref?.(),
        ),
      ]);
      if (timedOut) {
        log.error(
          { pending_requests: acks.size, batches_inflight: uploader.size },
          'shutdown: drain timeout; unfinished requests answered 503',
        );
        uploader.cancel();
        acks.failAll(
          503,
          'shutting_down',
          'ferry stopped before this request was delivered; retry it',
        );
        listener.forceClose();
      }
      health.stop();
      stopLag();
      // After the uploader: its last spools must be fsync'd before the files close.
      await dlq?.close();
      await pool.destroy();
      await Promise.allSettled(sinks.map((s) => s.close()));
      log.info({ ms: Date.now() - t0 }, 'shutdown complete');
    },
  };
}
