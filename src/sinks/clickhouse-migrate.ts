/**
 * `ferry migrate` for ClickHouse: apply `dir/*.sql` in lexicographic (glob)
 * order — `001_events.sql`, `002_….sql` … — each once, recorded in
 * `<database>.ferry_migrations (name, checksum, applied_at)`.
 *
 * - The database is created if missing.
 * - `{database}` and `{table}` in a file are replaced by the sink's database and table.
 * - A file may hold several statements, each ending with `;` at the end of a
 *   line; lines starting with `--` are comments.
 * - A file is recorded only after all of its statements succeeded. A file that
 *   fails halfway is re-run from its first statement next time, so write
 *   migrations idempotently (`IF NOT EXISTS`).
 * - A recorded file whose checksum changed is an error: add a new migration
 *   instead of editing an applied one. The checksum is a sha256 of the file's
 *   statements (comment lines and surrounding blank space left out), so
 *   rewording a comment is not a change.
 * - Everything used here exists on ClickHouse 18.16 and current versions.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createClient, ClickHouseLogLevel } from '@clickhouse/client';
import type { ClickHouseSinkConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import { errorMessage } from '../util/errors.js';

export interface MigrationResult {
  applied: string[];
  skipped: string[];
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

export async function migrate(
  sink: ClickHouseSinkConfig,
  dir: string,
  log: Logger,
): Promise<MigrationResult> {
  for (const [k, v] of [
    ['database', sink.database],
    ['table', sink.table],
  ] as const) {
    if (!IDENT.test(v))
      throw new Error(`clickhouse sink ${sink.name}: ${k} "${v}" must match ${IDENT.source}`);
  }
  let names: string[];
  try {
    names = (await readdir(dir)).filter((f) => f.endsWith('.sql')).sort();
  } catch (err) {
    throw new Error(`cannot read the migrations directory ${dir}: ${errorMessage(err)}`);
  }
  const files = await Promise.all(
    names.map(async (name) => {
      const text = await readFile(join(dir, name), 'utf8');
      return { name, text, checksum: migrationChecksum(text) };
    }),
  );

  const db = `\`${sink.database}\``;
  const client = createClient({
    url: sink.url,
    username: sink.username,
    password: sink.password,
    compression: { request: false, response: false },
    log: { level: ClickHouseLogLevel.OFF },
    application: 'ferry-migrate',
  });
  const run = async (query: string, context: string) => {
    try {
      await client.command({ query });
    } catch (err) {
      throw new Error(`${context} on ${sink.name} (${sink.url}): ${firstLine(errorMessage(err))}`);
    }
  };
  try {
    await run(`CREATE DATABASE IF NOT EXISTS ${db}`, `creating database ${sink.database}`);
    await run(
      `CREATE TABLE IF NOT EXISTS ${db}.ferry_migrations (name String, checksum String, applied_at DateTime) ENGINE = MergeTree() ORDER BY name`,
      'creating ferry_migrations',
    );
    const rows = await (
      await client.query({
        query: `SELECT name, checksum FROM ${db}.ferry_migrations`,
        format: 'JSONEachRow',
      })
    ).json<{ name: string; checksum: string }>();
    const done = new Map(rows.map((r) => [r.name, r.checksum]));

    const result: MigrationResult = { applied: [], skipped: [] };
    for (const f of files) {
      const prev = done.get(f.name);
      if (prev !== undefined) {
        if (prev !== f.checksum) {
          throw new Error(
            `migration ${f.name} was changed after it was applied to ${sink.database} (checksum ${prev.slice(0, 12)}… → ${f.checksum.slice(0, 12)}…); add a new migration instead`,
          );
        }
        result.skipped.push(f.name);
        continue;
      }
      const sql = f.text.replaceAll('{database}', sink.database).replaceAll('{table}', sink.table);
      const statements = splitStatements(sql);
      for (const [i, stmt] of statements.entries())
        await run(stmt, `migration ${f.name} statement ${i + 1}/${statements.length}`);
      await client.insert({
        table: `${db}.ferry_migrations`,
        values: [{ name: f.name, checksum: f.checksum, applied_at: Math.floor(Date.now() / 1000) }],
        format: 'JSONEachRow',
      });
      log.info(
        {
          sink: sink.name,
          database: sink.database,
          migration: f.name,
          statements: statements.length,
        },
        'migration applied',
      );
      result.applied.push(f.name);
    }
    for (const name of done.keys()) {
      if (!names.includes(name))
        log.warn(
          { sink: sink.name, migration: name },
          'an applied migration is no longer in the migrations directory',
        );
    }
    return result;
  } finally {
    await client.close();
  }
}

export function migrationChecksum(text: string): string {
  return createHash('sha256').update(splitStatements(text).join(';\n')).digest('hex');
}

/** Statements end with `;` at the end of a line; `--` comment lines are dropped. */
export function splitStatements(sql: string): string[] {
  const out: string[] = [];
  let cur: string[] = [];
  for (const raw of sql.split(/\r?\n/)) {
    if (raw.trim().startsWith('--')) continue;
    const m = /;\s*$/.exec(raw);
    cur.push(m ? raw.slice(0, m.index) : raw);
    if (m) {
      out.push(cur.join('\n'));
      cur = [];
    }
  }
  out.push(cur.join('\n'));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

function firstLine(s: string): string {
  return s.trim().split('\n')[0].slice(0, 500);
}
