import type { Dlq } from '../dlq/dlq.js';
import type { Logger } from '../observe/log.js';
import type { AckTracker } from '../pipeline/acks.js';
import type { WorkerPool } from '../pipeline/pool.js';
import type { Uploader } from '../pipeline/uploader.js';
import type { Sink } from '../contracts/sink.js';
import type { Listener } from '../sources/http/serve.js';
import type { KafkaSource } from '../sources/kafka/source.js';
import type { ConfigHolder } from './reload.js';
import type { SinkHealth } from './sink-health.js';
import { sleep } from '../util/backoff.js';
import type { Pipeline } from './pipeline.js';

/** What a running ferry is made of, in the order the stop sequence needs it. */
export interface ShutdownParts {
  log: Logger;
  holder: ConfigHolder;
  listener: Listener;
  kafka: KafkaSource | undefined;
  pool: WorkerPool;
  uploader: Uploader;
  acks: AckTracker;
  dlq: Dlq | undefined;
  wal: Pipeline['wal'];
  sinks: Sink[];
  health: SinkHealth;
  stopLag: () => void;
}

/**
 * The graceful stop (SIGTERM): stop accepting → Kafka stops fetching and commits what is durable →
 * workers drain their rings and seal → the uploader delivers or spools the last batches → every
 * durable request is answered → files and clients close. `shutdown.drain_timeout_ms` bounds the
 * drain; past it unfinished requests are answered 503, never acknowledged.
 */
export async function shutdown(reason: string, p: ShutdownParts): Promise<void> {
  const { log, holder, listener, kafka, pool, uploader, acks, dlq, wal, sinks, health } = p;
  const t0 = Date.now();
  log.info({ reason }, 'shutdown: stop accepting, draining rings');
  const listenerClosed = listener.stop();
  const drained = (async () => {
    // Kafka first, while the pool still runs: stop fetching → in-flight durable → commit → disconnect.
    await kafka?.stop(Math.max(1000, holder.get().shutdown.drain_timeout_ms - 2000));
    // No more re-dispatches of lost log records: what is still unreleased stays for the next start.
    await wal?.dispatcher.close();
    await pool.close();
    log.info(
      { batches_inflight: uploader.size },
      'shutdown: rings drained, delivering last batches',
    );
    await uploader.drain();
    // Every durable request is answered now; keep-alive connections would hold close() open.
    await sleep(200);
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
    acks.failAll(503, 'shutting_down', 'ferry stopped before this request was delivered; retry it');
    listener.forceClose();
  }
  health.stop();
  p.stopLag();
  // After the uploader: its last spools must be fsync'd before the files close.
  await dlq?.close();
  // After the DLQ: a record is released once its batches are delivered or spooled.
  await wal?.dispatcher.close();
  await wal?.log.close();
  await pool.destroy();
  await Promise.allSettled(sinks.map((s) => s.close()));
  log.info({ ms: Date.now() - t0 }, 'shutdown complete');
}
