import { hostname } from 'node:os';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { createMetrics, type Metrics } from '../observe/metrics.js';
import { startEventLoopLagProbe } from '../observe/loop-lag.js';
import { createApp } from '../sources/http/app.js';
import { createIngest, type IngestDeps } from '../sources/http/ingest.js';
import { createBulk } from '../sources/bulk/door.js';
import { listen, type Listener } from '../sources/http/serve.js';
import { SinkHealth } from './sink-health.js';
import { AuthGuard, openListenerWarning } from '../auth/guard.js';
import { readTlsMaterial, type TlsMaterial } from '../sources/http/tls.js';
import { ConfigHolder, createReloader, type ReloadResult } from './reload.js';
import { startPipeline } from './pipeline.js';
import { readinessProblems } from './readiness.js';
import { shutdown } from './shutdown.js';
import { startOtlp } from '../sources/otlp/start.js';

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
  const auth = new AuthGuard(cfg.auth);
  const tls: { current?: TlsMaterial } = {
    current: cfg.listen.tls ? await readTlsMaterial(cfg.listen.tls) : undefined,
  };
  const { sinks, dlq, acks, uploader, pool, dispatcher, wal } = await startPipeline(
    cfg,
    metrics,
    log,
  );

  const health = new SinkHealth(sinks, log);
  health.start();
  const stopLag = startEventLoopLagProbe((s) => metrics.eventLoopLag.set(s));
  let stopping = false;

  const ingestDeps: IngestDeps = {
    config: () => holder.get(),
    dispatcher,
    acks,
    metrics,
    accepting: () => !stopping,
    auth,
    refusal: () => dlq?.refusal(),
    walRefusal: wal && (() => wal.dispatcher.refusal()),
  };
  const ingest = createIngest(ingestDeps);
  // OTLP (docs/protocols.md): its routes on the main listener, or its own listener (otlp.port).
  const otlp = startOtlp(cfg, ingestDeps, metrics);
  const bulk = cfg.bulk.enabled ? createBulk({ ...ingestDeps, metrics }) : undefined;
  // Set once the Kafka source exists (it starts after the listener).
  let kafkaProblems: (() => string[]) | undefined;
  const app = createApp(cfg.listen.path, {
    ...ingestDeps,
    metrics,
    ingest,
    doors: otlp.sharedRoutes,
    beforeScrape: () => {
      pool.sampleGauges();
      dlq?.updateGauges();
      metrics.pendingAcks.set(acks.size);
      wal?.log.updateGauges();
    },
    readiness: {
      problems: () => [
        ...readinessProblems({ stopping, pool, health, dlq }),
        ...(kafkaProblems?.() ?? []),
        ...(wal?.dispatcher.refusal() ? [wal.dispatcher.refusal()!] : []),
      ],
    },
    bulk: bulk
      ? {
          bulk,
          identity: () => {
            const c = holder.get();
            return {
              version: c.bulk.version,
              clusterName: c.bulk.cluster_name,
              nodeName: c.host_id || hostname(),
            };
          },
        }
      : undefined,
  });
  const mainListener: Listener = await listen(app, {
    host: cfg.listen.host,
    port: cfg.listen.port,
    maxBodyBytes: cfg.http.max_body_bytes,
    ingestPath: cfg.listen.path,
    ingest,
    bulk,
    otlp: otlp.nodeRoute,
    tls: tls.current,
    timeouts: cfg.http.timeouts,
  });
  const listener = await otlp.listen(mainListener, tls.current);
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
    wal: wal && {
      setConfig: (c: FerryConfig) => {
        wal.log.setConfig(c);
        wal.dispatcher.setBackoff({ initialMs: c.retry.initial_ms, maxMs: c.retry.max_ms });
      },
    },
    sinks,
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
        dispatcher,
        saturation: () => pool.saturation(),
        acks,
        metrics,
        log,
        refusal: () => dlq?.refusal(),
      })
    : undefined;
  kafkaProblems = kafka && (() => kafka.problems());
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
      otlp: otlp.describe(),
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
    stop: (reason: string) => {
      if (stopping) return Promise.resolve();
      stopping = true;
      return shutdown(reason, {
        log,
        holder,
        listener,
        kafka,
        pool,
        uploader,
        acks,
        dlq,
        wal,
        sinks,
        health,
        stopLag,
      });
    },
  };
}
