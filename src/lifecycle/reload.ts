/**
 * Live config reload (SIGHUP): load and validate the file again, work out
 * what changed, apply what can be applied without a restart and report the
 * rest. Either the whole new config is applied (minus restart-only keys) or
 * nothing is: every step that can fail (loading, codec availability, TLS
 * files, building sink clients) runs before the first change.
 */
import { ConfigError, formatIssue } from '../config/load.js';
import { diffConfig, liveConfig } from '../config/diff.js';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { ConfigMetrics, SinkMetrics } from '../observe/metrics.js';
import { batchLimits, type WorkerPool } from '../pipeline/pool.js';
import type { Uploader } from '../pipeline/uploader.js';
import type { Dlq } from '../dlq/dlq.js';
import type { AuthGuard } from '../auth/guard.js';
import { openListenerWarning } from '../auth/guard.js';
import { createSink, loadSinkModules } from '../sinks/factory.js';
import { loadRoutePlan, loadRowPlan } from '../sinks/clickhouse/plan-loader.js';
import type { RowPlan } from '../sinks/clickhouse/row-plan.js';
import type { LiveSink } from '../sinks/live-sink.js';
import type { Sink } from '../contracts/sink.js';
import type { Listener } from '../sources/http/serve.js';
import { readTlsMaterial, type TlsMaterial } from '../sources/http/tls.js';
import { errorMessage } from '../util/errors.js';

export interface ReloadResult {
  ok: boolean;
  /** Changed keys now in effect. */
  applied: string[];
  /** Changed keys that wait for a restart (the running values are kept). */
  restartRequired: string[];
  /** Why nothing was applied (ok = false). */
  error?: string;
}

/** The one place the running config lives; everything reads it through `get`. */
export class ConfigHolder {
  constructor(private cfg: FerryConfig) {}
  get(): FerryConfig {
    return this.cfg;
  }
  set(cfg: FerryConfig): void {
    this.cfg = cfg;
  }
}

export interface ReloadDeps {
  holder: ConfigHolder;
  /** Reads and validates the config file (throws ConfigError). */
  load: () => FerryConfig;
  pool: WorkerPool;
  uploader: Uploader;
  /** The running DLQ (limits, TTL, re-upload rate are live). */
  dlq?: Dlq;
  /** The running write-ahead log (max_bytes, max_files, segment size and age are live). */
  wal?: { setConfig(cfg: FerryConfig): void };
  sinks: LiveSink[];
  auth: AuthGuard;
  listener: () => Listener | undefined;
  /** The certificate/key being served (to tell a renewal on runtimes that cannot swap it live). */
  tls: { current?: TlsMaterial };
  log: Logger;
  metrics: ConfigMetrics & SinkMetrics;
  stopping: () => boolean;
}

export function createReloader(d: ReloadDeps): () => Promise<ReloadResult> {
  let queue: Promise<unknown> = Promise.resolve();
  // Reloads run one at a time, in order (two quick SIGHUPs both apply).
  return () => {
    const next = queue.then(() => reloadOnce(d));
    queue = next.catch(() => {});
    return next;
  };
}

async function reloadOnce(d: ReloadDeps): Promise<ReloadResult> {
  const fail = (error: string, extra: Record<string, unknown> = {}): ReloadResult => {
    d.metrics.configReloadFailures.inc();
    d.metrics.configReloads.inc({ result: 'failed' });
    d.log.error({ ...extra, err: error }, 'config reload failed; the running config is kept');
    return { ok: false, applied: [], restartRequired: [], error };
  };
  if (d.stopping()) return fail('ferry is shutting down');
  const running = d.holder.get();
  let loaded: FerryConfig;
  try {
    loaded = d.load();
  } catch (err) {
    if (err instanceof ConfigError) {
      const issues = err.issues.map((i) => ({
        path: i.path,
        line: i.line,
        column: i.column,
        message: i.message,
      }));
      return fail(err.issues.map((i) => formatIssue(err.file, i)).join('; '), {
        file: err.file,
        issues,
      });
    }
    return fail(errorMessage(err));
  }
  const diff = diffConfig(running, loaded);
  const next = liveConfig(running, loaded);
  const restart = [...diff.restart];
  let live = [...diff.live];
  if (next.http.max_body_bytes !== loaded.http.max_body_bytes) {
    live = live.filter((p) => p !== 'http.max_body_bytes');
    restart.push(
      'http.max_body_bytes (larger than the running rings hold; raise workers.ring_bytes and restart)',
    );
  }

  // Everything that can fail, before anything changes.
  const listener = d.listener();
  let material: TlsMaterial | undefined;
  if (next.listen.tls) {
    try {
      material = await readTlsMaterial(next.listen.tls);
    } catch (err) {
      return fail(errorMessage(err), {
        issues: [{ path: 'listen.tls', message: errorMessage(err) }],
      });
    }
  }
  const tlsRenewed =
    !!material && (material.cert !== d.tls.current?.cert || material.key !== d.tls.current?.key);
  if (tlsRenewed && !listener?.setTls) {
    restart.push(
      'listen.tls (certificate files changed; this runtime cannot swap the certificate of a running server)',
    );
    material = undefined;
  }
  const rebuilt: { live: LiveSink; sink: Sink }[] = [];
  try {
    await loadSinkModules(next.sinks);
    for (const live of d.sinks) {
      const before = running.sinks.find((s) => s.name === live.name);
      const after = next.sinks.find((s) => s.name === live.name);
      const retryChanged = running.retry.attempt_timeout_ms !== next.retry.attempt_timeout_ms;
      if (before && after && (JSON.stringify(before) !== JSON.stringify(after) || retryChanged)) {
        rebuilt.push({ live, sink: createSink(after, next, d.log, d.metrics) });
      }
    }
  } catch (err) {
    await Promise.allSettled(rebuilt.map((r) => r.sink.close()));
    return fail(errorMessage(err));
  }
  // ClickHouse columns mode: the table's schema read again (it may have changed), by the sink
  // that will be in use after this reload.
  let rowPlan: RowPlan | undefined;
  let routes: Awaited<ReturnType<typeof loadRoutePlan>>;
  try {
    const sinkNamed = (n: string) =>
      rebuilt.find((r) => r.live.name === n)?.sink ?? d.sinks.find((s) => s.name === n)?.inner;
    rowPlan = await loadRowPlan(next, sinkNamed, d.log, 5_000);
    routes = await loadRoutePlan(next, sinkNamed, d.log, 5_000);
  } catch (err) {
    await Promise.allSettled(rebuilt.map((r) => r.sink.close()));
    return fail(errorMessage(err));
  }

  // Apply: nothing below throws on a valid config.
  d.holder.set(next);
  d.pool.setLimits(batchLimits(next, rowPlan, routes), next.http.max_decompressed_bytes);
  d.uploader.setPolicies(next);
  d.dlq?.setConfig(next);
  d.wal?.setConfig(next);
  for (const r of rebuilt) r.live.replace(r.sink);
  d.auth.configure(next.auth);
  d.log.level = next.log.level;
  if (material && tlsRenewed && listener?.setTls) {
    listener.setTls(material);
    d.tls.current = material;
    live.push('listen.tls (certificate re-read)');
  }

  d.metrics.configReloads.inc({ result: 'ok' });
  d.metrics.configLastReloadSuccess.set(Date.now() / 1000);
  d.metrics.configRestartRequired.set(restart.length > 0 ? 1 : 0);
  d.log.info(
    { applied: live, restart_required: restart, batch: next.batch, workers: d.pool.threads },
    live.length ? 'config reloaded' : 'config reloaded: no live changes',
  );
  if (restart.length)
    d.log.warn(
      { keys: restart },
      'config changes need a restart to take effect; running with the old values for these keys',
    );
  const warning = openListenerWarning(next);
  if (warning && running.auth.enabled) d.log.warn({ host: next.listen.host }, warning);
  return { ok: true, applied: live, restartRequired: restart };
}
