/**
 * ClickHouse routing (docs/clickhouse.md "Routing"): which table of a bounded, configured set
 * each event's row goes to. Built on the main thread from the sink's `route` config (and, in
 * columns mode, each table's row plan); a plain object, so it travels to the worker threads with
 * the batch limits. The workers decide each event's table (workers/route.ts) and build one rows
 * section per table.
 */
import type { RowPlan } from './row-plan.js';

/** The `route` block of a ClickHouse sink's config (see src/config/schema.ts). */
export interface RouteConfig {
  /** What names the table: a field of the event, the `_bulk` `_index`, or the token's source. */
  by?: 'field' | 'index' | 'source';
  /** With by: field — a dotted path in the event (`service.name`). */
  field?: string;
  /** value → table (in the sink's database). */
  tables: Record<string, string>;
  /** An event no route takes: into default_table, or refused (a poison row with the reason). */
  unmatched?: 'default' | 'refuse';
  /** With unmatched: default — the table (default: the sink's `table`). */
  default_table?: string;
}

export type RouteBy = { kind: 'index' } | { kind: 'source' } | { kind: 'field'; path: string[] };

export interface RoutePlan {
  by: RouteBy;
  /** How the config names what routes (`service.name`, `_index`, `source`), for messages. */
  what: string;
  /** The tables, in section order (distinct; the default table included when it is used). */
  tables: string[];
  /** value → index into tables. */
  values: Record<string, number>;
  /** The index of the table an unmatched event goes to, or refuse. */
  unmatched: number | 'refuse';
  /** Columns mode: the row plan of each table, by the same index. */
  plans?: RowPlan[];
}

export const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** The most routes one sink may have: each batch sends at most one INSERT per table. */
export const MAX_ROUTES = 256;

/** What the schema cannot say about a route config: [key under `route`, message]. */
export function routeConfigProblems(r: RouteConfig): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  const by = r.by ?? 'field';
  if (by === 'field' && !r.field)
    out.push({ key: 'field', message: 'by: field needs a field (a dotted path in the event)' });
  if (by !== 'field' && r.field)
    out.push({
      key: 'field',
      message: `field is only read with by: field (this route is by ${by})`,
    });
  if (r.field && !/^[^.]+(\.[^.]+)*$/.test(r.field))
    out.push({ key: 'field', message: `"${r.field}" is not a dotted path (a.b.c)` });
  const entries = Object.entries(r.tables ?? {});
  if (entries.length === 0) out.push({ key: 'tables', message: 'at least one route' });
  if (entries.length > MAX_ROUTES)
    out.push({ key: 'tables', message: `at most ${MAX_ROUTES} routes (${entries.length})` });
  for (const [value, table] of entries)
    if (!IDENT.test(table))
      out.push({ key: `tables.${value}`, message: `table "${table}" must match ${IDENT.source}` });
  if (r.default_table !== undefined && !IDENT.test(r.default_table))
    out.push({
      key: 'default_table',
      message: `table "${r.default_table}" must match ${IDENT.source}`,
    });
  if ((r.unmatched ?? 'default') === 'refuse' && r.default_table !== undefined)
    out.push({
      key: 'default_table',
      message: 'unmatched: refuse sends no event to default_table',
    });
  return out;
}

/** The tables a route config can send rows to (the default table only when it is used). */
export function routeTables(r: RouteConfig, sinkTable: string): string[] {
  const tables: string[] = [];
  for (const t of Object.values(r.tables)) if (!tables.includes(t)) tables.push(t);
  if ((r.unmatched ?? 'default') === 'default') {
    const d = r.default_table ?? sinkTable;
    if (!tables.includes(d)) tables.push(d);
  }
  return tables;
}

/** The plan the workers route by; `plans` (columns mode) by the order of routeTables(). */
export function buildRoutePlan(r: RouteConfig, sinkTable: string, plans?: RowPlan[]): RoutePlan {
  const problems = routeConfigProblems(r);
  if (problems.length) throw new Error(`route.${problems[0].key}: ${problems[0].message}`);
  const tables = routeTables(r, sinkTable);
  if (plans && plans.length !== tables.length)
    throw new Error(`internal: ${plans.length} row plans for ${tables.length} routed tables`);
  const values: Record<string, number> = Object.create(null);
  for (const [value, table] of Object.entries(r.tables)) values[value] = tables.indexOf(table);
  const by: RouteBy =
    (r.by ?? 'field') === 'field'
      ? { kind: 'field', path: r.field!.split('.') }
      : { kind: r.by as 'index' | 'source' };
  return {
    by,
    what: by.kind === 'field' ? r.field! : by.kind === 'index' ? '_index' : 'source',
    tables,
    values,
    unmatched:
      (r.unmatched ?? 'default') === 'refuse'
        ? 'refuse'
        : tables.indexOf(r.default_table ?? sinkTable),
    ...(plans ? { plans } : {}),
  };
}
