/**
 * What a worker hands to the uploader: one sealed batch, already encoded for
 * every kind of sink. Workers do the CPU work (parse, encode, compress); the
 * main thread only moves these bytes to the sinks.
 */
/** The compression codecs, by name: the config schema lists them from here (`batch.codec`). */
export const CODECS = ['gzip', 'lz4', 'zstd', 'none'] as const;

export type Codec = (typeof CODECS)[number];

export interface EncodedPart {
  /** Bytes exactly as the sink stores or sends them (already compressed). */
  body: Uint8Array;
  codec: Codec;
  /** Length before compression, for metrics and multipart decisions. */
  rawBytes: number;
  /**
   * ClickHouse routing (docs/clickhouse.md "Routing"): the rows of each table, one after the other
   * in `body`, each compressed on its own (a gzip member), so each is sent as its own INSERT
   * without decompressing. Absent: the whole body is the rows of the sink's one table.
   */
  sections?: RowSection[];
}

/** One table's rows in a routed rows part (src/sinks/clickhouse/sections.ts reads them). */
export interface RowSection {
  /** The table (in the sink's database). */
  table: string;
  /** Bytes of `body` this section takes (compressed), from the end of the one before. */
  bytes: number;
  /** Its length before compression. */
  rawBytes: number;
  /** Rows in it. */
  rows: number;
}

export interface EncodedBatch {
  /**
   * Deterministic id: derived from the event_ids in the batch, so the same
   * batch re-sent (retry, DLQ replay) gets the same S3 key and overwrites.
   */
  id: string;
  /** ms since epoch when the batch was opened; names the date/hour of its key. */
  createdAt: number;
  events: number;
  /**
   * The archive object (docs/archive.md): format 2, a header line and the events' bytes one per
   * line, or format 1, NDJSON envelopes `{"event_id","received_at","source","payload"}` — for the
   * sinks that take the archive (directory, S3); only built when such a sink is configured.
   */
  archive?: EncodedPart;
  /**
   * JSONEachRow rows for ClickHouse (codec 'gzip' or 'none', sent as Content-Encoding);
   * only built when a ClickHouse sink is configured.
   */
  rows?: EncodedPart;
  /**
   * Columns mode: the events whose value did not fit a column of the ClickHouse table; they are
   * not in `rows` (the rest of the batch is) and go to the sink's poison area with the reason.
   */
  rowPoison?: RowPoison[];
}

/** One event the worker could not convert to the ClickHouse table's columns. */
export interface RowPoison {
  event_id: string;
  column: string;
  reason: string;
  /** The event as it arrived (JSON text). */
  event: string;
  /** Routing: no route took it and the sink refuses unmatched events (counted apart). */
  unrouted?: true;
}

/** How a worker batches and encodes, set by the main thread from the config (live on reload). */
export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  maxAgeMs: number;
  codec: Codec;
  level: number;
  /** Build the archive part (a sink takes it: directory, S3). */
  archive: boolean;
  /** Archive object format (src/archive/format.ts): 2 = header + the events' bytes, 1 = envelopes. Default 2. */
  archiveFormat?: 1 | 2;
  /** Build JSONEachRow rows (a sink takes rows: ClickHouse). */
  rows: boolean;
  /** gzip the ClickHouse rows (sent with Content-Encoding: gzip). */
  compressRows: boolean;
  /**
   * Columns mode (a ClickHouse sink with `columns`): each row converted to the table's columns
   * by this plan (src/sinks/clickhouse/row-plan.ts); absent, rows are today's envelope.
   */
  rowPlan?: import('../sinks/clickhouse/row-plan.js').RowPlan;
  /**
   * ClickHouse routing: which table each event's row goes to (src/sinks/clickhouse/route-plan.ts);
   * the rows part then has one section per table.
   */
  routes?: import('../sinks/clickhouse/route-plan.js').RoutePlan;
}

/** The parts a batch can carry; each sink takes one (its `takes`). */
export type BatchPart = 'archive' | 'rows';

/** The part a sink takes; a batch without it is a wiring bug (the worker builds what sinks take). */
export function partOf(batch: EncodedBatch, part: BatchPart): EncodedPart {
  const p = batch[part];
  if (!p) throw new Error(`internal: batch ${batch.id} has no ${part} part`);
  return p;
}
