import type { FerryConfig } from '../config/types.js';
import { Dlq } from '../dlq/dlq.js';
import type { Logger } from '../observe/log.js';
import type { Metrics } from '../observe/metrics.js';
import { AckTracker } from '../pipeline/acks.js';
import { WorkerPool } from '../pipeline/pool.js';
import { Uploader } from '../pipeline/uploader.js';
import { createSinks } from '../sinks/factory.js';
import { LiveSink } from '../sinks/live-sink.js';
import { loadRoutePlan, loadRowPlan } from '../sinks/clickhouse/plan-loader.js';
import type { Dispatcher } from '../contracts/dispatch.js';
import { WriteAheadLog } from '../wal/log.js';
import { LoggedDispatcher } from '../wal/dispatcher.js';

/** rings → workers → uploader → sinks, with the ack tracker and the DLQ: what every source feeds. */
export interface Pipeline {
  sinks: LiveSink[];
  dlq: Dlq | undefined;
  acks: AckTracker;
  uploader: Uploader;
  pool: WorkerPool;
  /** What sources dispatch through: the write-ahead log in front of the pool, or the pool. */
  dispatcher: Dispatcher;
  /** The write-ahead log and its re-dispatcher (undefined with wal.enabled false). */
  wal?: { log: WriteAheadLog; dispatcher: LoggedDispatcher };
}

/**
 * Build and start the pipeline. The DLQ is recovered before the workers start, so what was spooled
 * before a crash is re-uploaded first and nothing is accepted until it is known.
 */
export async function startPipeline(
  cfg: FerryConfig,
  metrics: Metrics,
  log: Logger,
): Promise<Pipeline> {
  const sinks = (await createSinks(cfg, log, metrics)).map((s) => new LiveSink(s));
  // ClickHouse columns mode: the workers convert rows by the table's schema, so read it first.
  const rowPlan = await loadRowPlan(cfg, (n) => sinks.find((s) => s.name === n)?.inner, log);
  // ClickHouse routing: the workers choose each row's table (and its columns, in columns mode).
  const routes = await loadRoutePlan(cfg, (n) => sinks.find((s) => s.name === n)?.inner, log);
  const acks = new AckTracker();
  const dlq = cfg.dlq.enabled ? await Dlq.open(cfg, sinks, metrics, log) : undefined;
  // The uploader returns a worker's credit when a batch settles; the pool needs the uploader to
  // hand batches to: one is created first and reaches the other through this late binding.
  let pool: WorkerPool | undefined;
  const uploader = new Uploader(
    sinks,
    cfg,
    acks,
    metrics,
    log,
    (job) => pool?.releaseCredit(job.worker),
    dlq,
  );
  pool = new WorkerPool(
    cfg,
    metrics,
    log,
    {
      onVerdicts: (items) => {
        for (const v of items) acks.onVerdict(v);
      },
      onBatch: (job) => uploader.submit(job),
      onWorkerFailed: (worker, err) =>
        acks.failWorker(
          worker,
          `worker ${worker} failed (${err.message}); nothing of this request was acknowledged, retry it`,
        ),
    },
    rowPlan,
    routes,
  );
  pool.start();
  let wal: Pipeline['wal'];
  if (cfg.wal.enabled) {
    // After the DLQ (its recovery comes first) and the workers: the log's records are replayed
    // into the rings now, before any source starts.
    const { wal: walLog, recovered } = await WriteAheadLog.open(cfg, metrics, log);
    const dispatcher = new LoggedDispatcher(
      pool,
      walLog,
      acks,
      metrics,
      log,
      {
        initialMs: cfg.retry.initial_ms,
        maxMs: cfg.retry.max_ms,
      },
      () => dlq?.refusal(),
    );
    await dispatcher.replay(recovered);
    wal = { log: walLog, dispatcher };
  }
  return { sinks, dlq, acks, uploader, pool, dispatcher: wal?.dispatcher ?? pool, wal };
}
