import { join } from 'node:path';
import type { FerryConfig, SinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { configSchema } from '../config/schema.js';
import { validateKeyTemplate } from './keys.js';
import { DirectorySink } from './directory.js';
import { S3Sink } from './s3.js';
import { ClickHouseSink } from './clickhouse.js';
import type { Sink } from './sink.js';

/** With no sinks configured, ferry writes to <state_dir>/out so a newcomer sees it work. */
export function effectiveSinks(cfg: FerryConfig): SinkConfig[] {
  if (cfg.sinks.length > 0) return cfg.sinks;
  return [{ type: 'directory', name: 'local', path: join(cfg.state_dir, 'out'), key_template: configSchema.properties.sinks.items.oneOf[0].properties.key_template.default }];
}

export function createSinks(cfg: FerryConfig, log: Logger): Sink[] {
  return effectiveSinks(cfg).map((s) => {
    if (s.type !== 'clickhouse') validateKeyTemplate(s.key_template);
    switch (s.type) {
      case 'directory':
        return new DirectorySink(s, cfg.host_id);
      case 's3':
        return new S3Sink(s, cfg.host_id);
      case 'clickhouse':
        return new ClickHouseSink(s, log.child({ sink: s.name }), s.retry?.attempt_timeout_ms ?? cfg.retry.attempt_timeout_ms);
    }
  });
}
