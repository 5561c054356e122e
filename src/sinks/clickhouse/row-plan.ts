/**
 * The row plan of a ClickHouse sink in columns mode: for each column of the operator's table,
 * where its value comes from (a path in the event, or one of ferry's own fields) and the type it
 * must be converted to. Built on the main thread from `system.columns` and the sink's `columns`
 * config; a plain object, so it travels to the worker threads with the batch limits.
 */
import { parseColumnType, type ColumnType } from './column-type.js';

export type FerryField = 'event_id' | 'received_at' | 'source';

export interface PlanColumn {
  name: string;
  /** `"name":` rendered once. */
  keyJson: string;
  type: ColumnType;
  /** The event path (`['user', 'id']`), or one of ferry's fields. */
  from: { path: string[] } | { ferry: FerryField };
}

export interface RowPlan {
  /** `db.table`, for messages. */
  table: string;
  columns: PlanColumn[];
  /** Fields no column takes go here (kept), else they are skipped. */
  catchAll?: { name: string; keyJson: string; type: ColumnType };
  /** Top-level event keys some column takes: not repeated in the catch-all column. */
  consumed: string[];
}

/** The `columns` block of a ClickHouse sink's config (see src/config/schema.ts). */
export interface ColumnsConfig {
  /** column → dotted path in the event (`user.id`); other columns take the field of their name. */
  paths?: Record<string, string>;
  event_id_column?: string;
  received_at_column?: string;
  source_column?: string;
  /** What becomes of fields no column takes. */
  unknown?: 'skip' | 'keep';
  /** With unknown: keep — a String, Map(String, String) or JSON column. */
  catch_all_column?: string;
}

/** One row of `SELECT name, type, default_kind FROM system.columns`. */
export interface SystemColumn {
  name: string;
  type: string;
  default_kind?: string;
}

/** Build the plan; throws with a message naming the column when config and table disagree. */
export function buildRowPlan(table: string, cols: SystemColumn[], cfg: ColumnsConfig): RowPlan {
  const byName = new Map(cols.map((c) => [c.name, c]));
  const ferry = new Map<string, FerryField>();
  for (const [field, col] of [
    ['event_id', cfg.event_id_column ?? 'event_id'],
    ['received_at', cfg.received_at_column ?? 'received_at'],
    ['source', cfg.source_column ?? 'source'],
  ] as const) {
    if (col) ferry.set(col, field);
  }
  for (const col of Object.keys(cfg.paths ?? {})) {
    if (!byName.has(col))
      throw new Error(`${table}: columns.paths names column ${col}, which the table does not have`);
  }
  const keep = cfg.unknown === 'keep';
  let catchAll: RowPlan['catchAll'];
  if (keep) {
    const name = cfg.catch_all_column ?? '';
    const c = byName.get(name);
    if (!c)
      throw new Error(
        `${table}: catch_all_column ${name || '(unset)'} is not a column of the table`,
      );
    const type = parseColumnType(c.type);
    const t = type.k === 'nullable' ? type.of : type;
    const ok =
      t.k === 'string' ||
      t.k === 'json' ||
      (t.k === 'map' && t.key.k === 'string' && t.value.k === 'string');
    if (!ok)
      throw new Error(
        `${table}: catch_all_column ${name} is ${c.type}; it must be String, Map(String, String) or JSON`,
      );
    catchAll = { name, keyJson: `${JSON.stringify(name)}:`, type: t };
  }
  const columns: PlanColumn[] = [];
  // The event's own event_id is ferry's event_id: never repeated in the catch-all column.
  const consumed = new Set<string>(['event_id']);
  for (const c of cols) {
    const kind = (c.default_kind ?? '').toUpperCase();
    // Computed by the server: never sent.
    if (kind === 'MATERIALIZED' || kind === 'ALIAS' || kind === 'EPHEMERAL') continue;
    if (catchAll && c.name === catchAll.name) continue;
    const field = ferry.get(c.name);
    const type = parseColumnType(c.type);
    if (field) {
      columns.push({
        name: c.name,
        keyJson: `${JSON.stringify(c.name)}:`,
        type,
        from: { ferry: field },
      });
      continue;
    }
    const dotted = cfg.paths?.[c.name];
    const path = dotted ? dotted.split('.') : [c.name];
    consumed.add(path[0]);
    columns.push({ name: c.name, keyJson: `${JSON.stringify(c.name)}:`, type, from: { path } });
  }
  return { table, columns, catchAll, consumed: [...consumed] };
}
