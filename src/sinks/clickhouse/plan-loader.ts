/**
 * The row plan the workers convert ClickHouse rows by (columns mode), read from the table at
 * start and on every reload. The workers build one `rows` part per batch, so columns mode needs
 * the node's only ClickHouse sink.
 */
import type { FerryConfig } from '../../config/types.js';
import type { Sink } from '../../contracts/sink.js';
import type { Logger } from '../../observe/log.js';
import { errorMessage } from '../../util/errors.js';
import type { RowPlan } from './row-plan.js';
import type { RoutePlan } from './route-plan.js';

interface PlanSource {
  rowPlan(signal?: AbortSignal): Promise<RowPlan | undefined>;
  routePlan(signal?: AbortSignal): Promise<RoutePlan | undefined>;
}

/** The columns-mode sink's config problem, if any (also checked when the config is loaded). */
export function columnsModeProblem(cfg: FerryConfig): string | undefined {
  const ch = cfg.sinks.filter((s) => s.type === 'clickhouse');
  if (ch.length > 1 && ch.some((s) => s.type === 'clickhouse' && s.columns))
    return `ClickHouse columns mode (sink ${ch.find((s) => s.type === 'clickhouse' && s.columns)!.name}) needs the node's only ClickHouse sink: the workers build one set of rows per batch`;
  if (ch.length > 1 && ch.some((s) => s.type === 'clickhouse' && s.route))
    return `ClickHouse routing (sink ${ch.find((s) => s.type === 'clickhouse' && s.route)!.name}) needs the node's only ClickHouse sink: the workers build one set of rows per batch`;
  return undefined;
}

/**
 * The routes of the routing sink (in columns mode with each routed table's columns), retried like
 * loadRowPlan; undefined when no sink routes. Envelope mode reads no table: nothing to wait for.
 */
export async function loadRoutePlan(
  cfg: FerryConfig,
  sinkNamed: (name: string) => Sink | undefined,
  log: Logger,
  waitMs = 30_000,
): Promise<RoutePlan | undefined> {
  const sc = cfg.sinks.find((s) => s.type === 'clickhouse' && s.route);
  if (!sc) return undefined;
  const problem = columnsModeProblem(cfg);
  if (problem) throw new Error(problem);
  const sink = sinkNamed(sc.name) as (Sink & Partial<PlanSource>) | undefined;
  if (!sink?.routePlan) throw new Error(`internal: sink ${sc.name} cannot read its routes`);
  const plan = await retrying(
    sc.name,
    () => sink.routePlan!(AbortSignal.timeout(10_000)),
    log,
    waitMs,
  );
  log.info(
    { sink: sc.name, by: plan?.what, tables: plan?.tables, unmatched: plan?.unmatched },
    'ClickHouse routing: routes loaded',
  );
  return plan;
}

/** `read()` until it succeeds, a permanent error, or waitMs (ClickHouse may start after ferry). */
async function retrying<T>(
  sinkName: string,
  read: () => Promise<T>,
  log: Logger,
  waitMs: number,
): Promise<T> {
  const until = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (err) {
      const retryable = (err as { retryable?: boolean }).retryable !== false;
      if (!retryable || Date.now() >= until)
        throw new Error(`sink ${sinkName}: cannot read the table's columns: ${errorMessage(err)}`);
      log.warn(
        { sink: sinkName, attempt, err: errorMessage(err) },
        'ClickHouse schema not readable yet, retrying',
      );
      await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * attempt)));
    }
  }
}

/**
 * Read the plan through the columns-mode sink, retrying for up to `waitMs` (ClickHouse may start
 * after ferry); undefined when no sink uses columns mode. Throws when the table cannot be read in
 * time or does not match the config: the workers cannot build rows without it.
 */
export async function loadRowPlan(
  cfg: FerryConfig,
  sinkNamed: (name: string) => Sink | undefined,
  log: Logger,
  waitMs = 30_000,
): Promise<RowPlan | undefined> {
  // A routing sink's tables are read by loadRoutePlan, each with its own plan.
  const sc = cfg.sinks.find((s) => s.type === 'clickhouse' && s.columns && !s.route);
  if (!sc) return undefined;
  const problem = columnsModeProblem(cfg);
  if (problem) throw new Error(problem);
  const sink = sinkNamed(sc.name) as (Sink & Partial<PlanSource>) | undefined;
  if (!sink?.rowPlan) throw new Error(`internal: sink ${sc.name} cannot read its table's columns`);
  const until = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const plan = await sink.rowPlan(AbortSignal.timeout(10_000));
      log.info(
        { sink: sc.name, table: plan?.table, columns: plan?.columns.map((c) => c.name) },
        'ClickHouse columns mode: table schema read',
      );
      return plan;
    } catch (err) {
      const retryable = (err as { retryable?: boolean }).retryable !== false;
      if (!retryable || Date.now() >= until)
        throw new Error(`sink ${sc.name}: cannot read the table's columns: ${errorMessage(err)}`);
      log.warn(
        { sink: sc.name, attempt, err: errorMessage(err) },
        'ClickHouse schema not readable yet, retrying',
      );
      await new Promise((r) => setTimeout(r, Math.min(2_000, 200 * attempt)));
    }
  }
}
