import { Batcher } from '../../workers/batcher.js';
import type { ParsedEvent } from '../../workers/parse.js';
import type { ArchivedEvent } from '../archive/read.js';
import type { BatchLimits, EncodedBatch, RowPoison } from '../contracts/batch.js';
import type { RowPlan } from '../sinks/clickhouse/row-plan.js';
import type { RoutePlan } from '../sinks/clickhouse/route-plan.js';

/** What a ClickHouse sink in columns mode or with routes converts rows by (read from its tables). */
export interface RowPlans {
  rowPlan?: RowPlan;
  routes?: RoutePlan;
}

/** One archive object's rows as the live pipeline builds them, and the events that did not fit. */
export interface BuiltRows {
  /** The rows part (one section per table when routed); undefined for an object without events. */
  batch: EncodedBatch | undefined;
  events: number;
  /** Events a column could not take, or no route took: not inserted (the live sink's poison rows). */
  poison: RowPoison[];
}

/**
 * Archive events → ClickHouse rows through the workers' own Batcher, so a replay into a typed
 * table, or into routed tables, writes exactly the rows the live pipeline wrote: the same
 * conversions, the same routes, the same misfits. Rows are left uncompressed (as replay's
 * envelope rows are): a replay reads and writes in the same place, it is not an edge uplink.
 */
export function buildLiveRows(events: readonly ArchivedEvent[], plans: RowPlans): BuiltRows {
  let sealed: EncodedBatch | undefined;
  const limits: BatchLimits = {
    // One batch for the whole object: sealed below, never by count, size or age.
    maxEvents: Number.MAX_SAFE_INTEGER,
    maxBytes: Number.MAX_SAFE_INTEGER,
    maxAgeMs: Number.POSITIVE_INFINITY,
    codec: 'none',
    level: 0,
    archive: false,
    rows: true,
    compressRows: false,
    ...(plans.rowPlan ? { rowPlan: plans.rowPlan } : {}),
    ...(plans.routes ? { routes: plans.routes } : {}),
  };
  const batcher = new Batcher(limits, (s) => (sealed = s.batch));
  // The live pipeline appended events request by request: runs of one received_at and source.
  let run: ParsedEvent[] = [];
  let at = 0;
  let source = '';
  let req = 0;
  const flush = () => {
    if (run.length > 0) batcher.appendRequest(req++, run, at, source);
    run = [];
  };
  for (const e of events) {
    if (run.length > 0 && (e.receivedAt !== at || e.source !== source)) flush();
    at = e.receivedAt;
    source = e.source;
    run.push({ text: e.payload, id: e.id, ...(e.index !== undefined ? { index: e.index } : {}) });
  }
  flush();
  batcher.sealIfDue(Date.now(), true);
  const batch = sealed as EncodedBatch | undefined;
  return { batch, events: events.length, poison: batch?.rowPoison ?? [] };
}
