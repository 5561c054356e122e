import process from 'node:process';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { migrate } from '../sinks/clickhouse-migrate.js';
import type { ClickHouseSinkConfig } from '../config/types.js';

/** `ferry migrate`: apply the ClickHouse migrations to every (or the named) ClickHouse sink. */
export async function migrateCommand(
  configPath: string | undefined,
  only: string | undefined,
): Promise<number> {
  const { config } = loadConfig(configPath);
  const log = createLogger(config.log.level);
  const targets = config.sinks.filter(
    (s): s is ClickHouseSinkConfig => s.type === 'clickhouse' && (!only || s.name === only),
  );
  if (targets.length === 0) {
    process.stderr.write(
      only
        ? `no ClickHouse sink named "${only}" in the config\n`
        : 'no ClickHouse sink in the config: nothing to migrate\n',
    );
    return 1;
  }
  for (const sink of targets) {
    const r = await migrate(sink, config.clickhouse_migrations_dir, log);
    process.stdout.write(
      `${sink.name}: applied ${r.applied.length} (${r.applied.join(', ') || 'none'}), already applied ${r.skipped.length}\n`,
    );
  }
  return 0;
}
