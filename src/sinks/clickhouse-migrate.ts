import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createClient } from '@clickhouse/client';
import type { ClickHouseSinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

/**
 * Apply `NNN_*.sql` files in lexicographic order, once each, recording them in
 * `<database>.ferry_migrations`. `{database}` and `{table}` are substituted;
 * statements are separated by a `;` at the end of a line. A file whose
 * checksum changed after it was applied is an error: write a new migration.
 */
export async function migrate(sink: ClickHouseSinkConfig, dir: string, log: Logger): Promise<MigrationResult> {
  const files = readdirSync(dir).filter((f) => /^\d+_.*\.sql$/.test(f)).sort();
  const client = createClient({ url: sink.url, username: sink.username, password: sink.password, compression: { request: false, response: false } });
  try {
    await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${sink.database}` });
    // TinyLog-free MergeTree with the old-style-compatible syntax: works on 18.16 too.
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${sink.database}.ferry_migrations (name String, checksum String, applied_at DateTime) ENGINE = MergeTree() ORDER BY name`,
    });
    const rows = await (await client.query({ query: `SELECT name, checksum FROM ${sink.database}.ferry_migrations`, format: 'JSONEachRow' })).json<{ name: string; checksum: string }>();
    const done = new Map(rows.map((r) => [r.name, r.checksum]));
    const result: MigrationResult = { applied: [], skipped: [] };
    for (const file of files) {
      const text = readFileSync(join(dir, file), 'utf8');
      const checksum = createHash('sha256').update(text).digest('hex');
      const prev = done.get(file);
      if (prev !== undefined) {
        if (prev !== checksum) throw new Error(`migration ${file} was changed after it was applied to ${sink.database} (checksum differs); add a new migration instead`);
        result.skipped.push(file);
        continue;
      }
      const sql = text.replaceAll('{database}', sink.database).replaceAll('{table}', sink.table);
      for (const stmt of splitStatements(sql)) {
        try {
          await client.command({ query: stmt });
        } catch (err) {
          throw new Error(`migration ${file} failed on ${sink.name}: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      await client.insert({
        table: `${sink.database}.ferry_migrations`,
        values: [{ name: file, checksum, applied_at: Math.floor(Date.now() / 1000) }],
        format: 'JSONEachRow',
      });
      log.info({ sink: sink.name, migration: file }, 'migration applied');
      result.applied.push(file);
    }
    return result;
  } finally {
    await client.close();
  }
}

/** Statements end with `;` at the end of a line; `--` comment lines are dropped. */
export function splitStatements(sql: string): string[] {
  const body = sql
    .split('\n')
    .filter((l) => !l.trim().startsWith('--'))
    .join('\n');
  return body
    .split(/;\s*(?:\n|$)/)
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
}
