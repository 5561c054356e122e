import { join } from 'node:path';
import { configSchema } from './schema.js';
import type { FerryConfig, SinkConfig } from './types.js';

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
      key_template: configSchema.properties.sinks.items.oneOf[0].properties.key_template.default,
    },
  ];
}
