import { join } from 'node:path';
import type { FerryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { DEFAULT_KEY_TEMPLATE, validateKeyTemplate } from './keys.js';
import { DirectorySink } from './directory.js';
import type { Sink } from '../contracts/sink.js';

// The S3 and ClickHouse clients cost ~25 and ~10 MiB of RSS to load: a node that ships only to a
// directory (or only to one of them) should not pay for the others. loadSinkModules imports
// what the config names, once; createSink stays synchronous for the reload path.
const modules: { s3?: typeof import('./s3.js'); clickhouse?: typeof import('./clickhouse.js') } =
  {};

export async function loadSinkModules(sinks: SinkConfig[]): Promise<void> {
  for (const s of sinks) {
    if (s.type === 's3') modules.s3 ??= await import('./s3.js');
    if (s.type === 'clickhouse') modules.clickhouse ??= await import('./clickhouse.js');
  }
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
    if (s.type !== 'clickhouse') {
      try {
        validateKeyTemplate(s.key_template);
      } catch (err) {
        throw new Error(`sinks[${i}] (${s.name}).key_template: ${(err as Error).message}`);
      }
    }
  }
}

export async function createSinks(cfg: FerryConfig, log: Logger): Promise<Sink[]> {
  validateSinks(cfg);
  await loadSinkModules(effectiveSinks(cfg));
  return effectiveSinks(cfg).map((s) => createSink(s, cfg, log));
}

const notLoaded = (type: string): never => {
  throw new Error(`internal: the ${type} sink module is not loaded (call loadSinkModules first)`);
};

/** One sink client from its config (also used by a reload to rebuild a changed sink; its module is loaded by loadSinkModules). */
export function createSink(s: SinkConfig, cfg: FerryConfig, log: Logger): Sink {
  switch (s.type) {
    case 'directory':
      return new DirectorySink(s, cfg.host_id);
    case 's3':
      return new (modules.s3 ?? notLoaded('s3')).S3Sink(s, cfg.host_id);
    case 'clickhouse':
      return new (modules.clickhouse ?? notLoaded('clickhouse')).ClickHouseSink(
        s,
        log.child({ sink: s.name }),
        s.retry?.attempt_timeout_ms ?? cfg.retry.attempt_timeout_ms,
      );
  }
}
