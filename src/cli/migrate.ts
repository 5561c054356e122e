import process from 'node:process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
    const r = await migrate(sink, migrationsFor(sink, config.clickhouse_migrations_dir), log);
    process.stdout.write(
      `${sink.name}: applied ${r.applied.length} (${r.applied.join(', ') || 'none'}), already applied ${r.skipped.length}\n`,
    );
  }
  return 0;
}

/** The migrations of a sink's preset: the configured directory for the envelope, else ferry's own. */
export function migrationsFor(sink: ClickHouseSinkConfig, envelopeDir: string): string {
  if (sink.preset === 'otel_logs') {
    // dist/src/cli/migrate.js → <root>/config/migrations/clickhouse-otel-logs
    const here = dirname(fileURLToPath(import.meta.url));
    return join(here, '..', '..', '..', 'config', 'migrations', 'clickhouse-otel-logs');
  }
  return envelopeDir;
}
