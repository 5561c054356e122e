/**
 * The archive object formats (docs/archive.md). Imports nothing: the workers write them, replay,
 * verify and the tests read them.
 *
 * - 1: one envelope per line, `{"event_id":…,"received_at":"<ISO>","source":…,"payload":<event>}`.
 * - 2 (default): a header line, then each event's bytes as they arrived, one per line. What every
 *   envelope of format 1 repeated is said once: the event_id rule, the base received_at, the
 *   sources, and runs of events that share a received_at and a source.
 */
export const ARCHIVE_FORMATS = [1, 2] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];
export const DEFAULT_ARCHIVE_FORMAT: ArchiveFormat = 2;

/** The first key of a format-2 header: a format-1 line starts `{"event_id":` instead. */
export const HEADER_KEY = 'ferry_archive';
export const HEADER_PREFIX = `{"${HEADER_KEY}":`;

/**
 * How an event's id is found again: the payload's top-level `event_id` (a string as it decodes,
 * an integer in plain decimal), else the sha256 (lowercase hex) of the event's line — exactly
 * the rule of ingestion (workers/event-id.ts), so nothing of the id needs storing.
 */
export const ID_RULE = { field: 'event_id', else: 'sha256' } as const;
export type IdRule = typeof ID_RULE;

/**
 * `[events, received_at − base in ms, index into sources]`, and a fourth element, an index into
 * `indexes`, for `_bulk` documents: consecutive events that share all of them.
 */
export type Run =
  | [count: number, deltaMs: number, source: number]
  | [count: number, deltaMs: number, source: number, index: number];

export interface HeaderV2 {
  ferry_archive: 2;
  events: number;
  event_id: IdRule;
  /** The base time, ISO 8601 UTC with milliseconds (the first run's received_at). */
  received_at: string;
  sources: string[];
  runs: Run[];
  /** The distinct Elasticsearch `_index` values of `_bulk` documents (runs point into it); absent when none. */
  indexes?: string[];
  /**
   * `[event index (0-based), id]` for the events whose id the rule does not give (an id taken from
   * elsewhere than the payload's top-level event_id, e.g. an OTLP attribute); absent when none.
   */
  ids?: [number, string][];
}
