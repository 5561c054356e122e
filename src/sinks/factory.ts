import { join } from 'node:path';
import type { FerryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { DEFAULT_KEY_TEMPLATE } from './keys.js';
import { attemptTimeoutOf, kindOf, type SinkContext } from './kinds.js';
import type { SinkMetrics } from '../observe/metrics.js';
import type { Sink } from '../contracts/sink.js';

type Construct = (cfg: SinkConfig, ctx: SinkContext) => Sink;
/** Each kind's constructor, once its module is loaded; createSink stays synchronous for a reload. */
const constructors = new Map<SinkConfig['type'], Construct>();

export async function loadSinkModules(sinks: SinkConfig[]): Promise<void> {
  for (const s of sinks)
    if (!constructors.has(s.type)) constructors.set(s.type, (await kindOf(s).load()) as Construct);
}

/**
 * The sinks ferry runs with: the configured ones, or — with none configured —
 * the embedded default, a directory sink named `local` at `<state_dir>/out`,
 * so a newcomer sees ferry work before wiring S3 or ClickHouse.
 */
export function effectiveSinks(cfg: FerryConfig): SinkConfig[] {
  if (cfg.sinks.length > 0) return cfg.sinks;
  return [
    {
      type: 'directory',
      name: 'local',
      path: join(cfg.state_dir, 'out'),
      key_template: DEFAULT_KEY_TEMPLATE,
    },
  ];
}

/**
 * Check what the schema cannot: key templates and unique sink names. Throws
 * naming the sink; `ferry config check` and `createSinks` both call it.
 */
export function validateSinks(cfg: FerryConfig): void {
  const seen = new Set<string>();
  for (const [i, s] of effectiveSinks(cfg).entries()) {
    if (seen.has(s.name)) throw new Error(`sinks[${i}]: duplicate sink name "${s.name}"`);
    seen.add(s.name);
    try {
      kindOf(s).check(s);
    } catch (err) {
      throw new Error(`sinks[${i}] (${s.name}).${(err as Error).message}`);
    }
  }
}

export async function createSinks(
  cfg: FerryConfig,
  log: Logger,
  metrics?: SinkMetrics,
): Promise<Sink[]> {
  validateSinks(cfg);
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
