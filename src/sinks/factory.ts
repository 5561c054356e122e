import { effectiveSinks } from '../config/effective-sinks.js';
import type { FerryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { attemptTimeoutOf, kindOf, type SinkContext } from './kinds.js';
import type { SinkMetrics } from '../observe/metrics.js';
import type { Sink } from '../contracts/sink.js';

// The embedded default sink is config (src/config/effective-sinks.ts); re-exported for the pool.

type Construct = (cfg: SinkConfig, ctx: SinkContext) => Sink;
/** Each kind's constructor, once its module is loaded; createSink stays synchronous for a reload. */
const constructors = new Map<SinkConfig['type'], Construct>();

export async function loadSinkModules(sinks: SinkConfig[]): Promise<void> {
  for (const s of sinks)
    if (!constructors.has(s.type)) constructors.set(s.type, (await kindOf(s).load()) as Construct);
}

/**
 * The clients of the sinks ferry runs with (effectiveSinks: the embedded default when none is
 * configured). cfg comes from the loader, which has already checked the sinks (unique names, key
 * templates: src/config/check-sinks.ts); nothing is checked twice here.
 */
export async function createSinks(
  cfg: FerryConfig,
  log: Logger,
  metrics?: SinkMetrics,
): Promise<Sink[]> {
  await loadSinkModules(effectiveSinks(cfg));
  return effectiveSinks(cfg).map((s) => createSink(s, cfg, log, metrics));
}

/** One sink client from its config (also used by a reload to rebuild a changed sink; its module is loaded by loadSinkModules). */
export function createSink(
  s: SinkConfig,
  cfg: FerryConfig,
  log: Logger,
  metrics?: SinkMetrics,
): Sink {
  const construct = constructors.get(s.type);
  if (!construct)
    throw new Error(
      `internal: the ${s.type} sink module is not loaded (call loadSinkModules first)`,
    );
  return construct(s, {
    host: cfg.host_id,
    log,
    metrics,
    attemptTimeoutMs: attemptTimeoutOf(s, cfg),
  });
}
