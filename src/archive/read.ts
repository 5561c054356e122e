import { eventIdOf } from '../../workers/event-id.js';
import { errorMessage } from '../util/errors.js';
import { ArchiveFormatError } from './errors.js';
import { HEADER_PREFIX, ID_RULE, type ArchiveFormat, type HeaderV2, type Run } from './format.js';

/** One archived event as ingestion saw it: what its ClickHouse row and verify are built from. */
export interface ArchivedEvent {
  id: string;
  /** ms since the epoch. */
  receivedAt: number;
  source: string;
  /** A `_bulk` document's Elasticsearch `_index`. */
  index?: string;
  /** The event's bytes as they arrived (as text). */
  payload: string;
}

/** The format of a decoded object, by its first bytes (format 2 starts with its header). */
export function archiveFormatOf(text: string): ArchiveFormat {
  return text.startsWith(HEADER_PREFIX) ? 2 : 1;
}

/**
 * Every event of a decoded archive object, format 1 or 2, in order. Throws ArchiveFormatError
 * (naming the line) on anything ferry did not write: a replay skips such an object whole.
 */
export function readArchive(text: string): ArchivedEvent[] {
  return archiveFormatOf(text) === 2 ? readV2(text) : readV1(text);
}

/** Lines of text without their `\n` (an event never holds one: ingestion made sure). */
function forEachLine(text: string, from: number, each: (line: string, n: number) => void): void {
  let start = from;
  let n = from === 0 ? 0 : 1;
  while (start < text.length) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = text.length;
    n++;
    if (nl > start) each(text.slice(start, nl), n);
    start = nl + 1;
  }
}

const PAYLOAD = ',"payload":';

/** Format 1: `{"event_id":…,"received_at":"<ISO>","source":…,"payload":<event>}` per line. */
function readV1(text: string): ArchivedEvent[] {
  const out: ArchivedEvent[] = [];
  forEachLine(text, 0, (line, n) => {
    // ferry writes the head itself: the first ',"payload":' outside a string is the real one,
    // and JSON strings cannot hold an unescaped '"' — so the first occurrence is it.
    const at = line.indexOf(PAYLOAD);
    if (at < 0 || !line.endsWith('}'))
      throw new ArchiveFormatError(`line ${n}: not a ferry envelope`);
    let head: { event_id?: unknown; received_at?: unknown; source?: unknown };
    try {
      head = JSON.parse(`${line.slice(0, at)}}`);
    } catch (err) {
      throw new ArchiveFormatError(`line ${n}: envelope head is not JSON (${errorMessage(err)})`);
    }
    const receivedAt = typeof head.received_at === 'string' ? Date.parse(head.received_at) : NaN;
    if (
      typeof head.event_id !== 'string' ||
      !Number.isFinite(receivedAt) ||
      typeof head.source !== 'string'
    )
      throw new ArchiveFormatError(`line ${n}: envelope lacks event_id, received_at or source`);
    out.push({
      id: head.event_id,
      receivedAt,
      source: head.source,
      payload: line.slice(at + PAYLOAD.length, -1),
    });
  });
  return out;
}

/** Format 2: the header line, then one event per line, exactly as it arrived. */
function readV2(text: string): ArchivedEvent[] {
  let nl = text.indexOf('\n');
  if (nl < 0) nl = text.length;
  const header = parseHeader(text.slice(0, nl));
  const base = Date.parse(header.received_at);
  const out: ArchivedEvent[] = [];
  const stored = new Map(header.ids ?? []);
  let run = 0;
  let left = header.runs.length > 0 ? header.runs[0][0] : 0;
  forEachLine(text, nl + 1, (payload, n) => {
    while (left === 0 && run < header.runs.length - 1) left = header.runs[++run][0];
    if (left === 0)
      throw new ArchiveFormatError(`line ${n}: more events than the header's ${header.events}`);
    left--;
    const [, delta, source, index] = header.runs[run];
    let value: unknown;
    try {
      value = JSON.parse(payload);
    } catch (err) {
      throw new ArchiveFormatError(`line ${n}: event is not JSON (${errorMessage(err)})`);
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw new ArchiveFormatError(`line ${n}: event is not a JSON object`);
    const id = stored.get(out.length) ?? eventIdOf(value as Record<string, unknown>, payload);
    if (typeof id !== 'string') throw new ArchiveFormatError(`line ${n}: ${id.error}`);
    const e: ArchivedEvent = {
      id,
      receivedAt: base + delta,
      source: header.sources[source],
      payload,
    };
    if (index !== undefined) e.index = header.indexes![index];
    out.push(e);
  });
  if (out.length !== header.events)
    throw new ArchiveFormatError(
      `${out.length} events after the header, which says ${header.events} (truncated?)`,
    );
  return out;
}

const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

/** The header line, checked field by field: a reader must never guess. */
function parseHeader(line: string): HeaderV2 {
  let h: Partial<Record<keyof HeaderV2, unknown>>;
  try {
    h = JSON.parse(line);
  } catch (err) {
    throw new ArchiveFormatError(`line 1: archive header is not JSON (${errorMessage(err)})`);
  }
  if (h.ferry_archive !== 2)
    throw new ArchiveFormatError(`line 1: archive format ${String(h.ferry_archive)} is not known`);
  const rule = h.event_id as Record<string, unknown> | undefined;
  if (
    rule?.field !== ID_RULE.field ||
    rule?.else !== ID_RULE.else ||
    Object.keys(rule).length !== 2
  )
    throw new ArchiveFormatError(`line 1: event_id rule ${JSON.stringify(rule)} is not known`);
  const sources = h.sources;
  if (!Array.isArray(sources) || !sources.every((s) => typeof s === 'string'))
    throw new ArchiveFormatError('line 1: sources must be an array of strings');
  const indexes = h.indexes ?? [];
  if (!Array.isArray(indexes) || !indexes.every((s) => typeof s === 'string'))
    throw new ArchiveFormatError('line 1: indexes must be an array of strings');
  const runs = h.runs;
  if (
    !Array.isArray(runs) ||
    !runs.every(
      (r): r is Run =>
        Array.isArray(r) &&
        (r.length === 3 || (r.length === 4 && isInt(r[3]) && r[3] >= 0 && r[3] < indexes.length)) &&
        isInt(r[0]) &&
        r[0] > 0 &&
        isInt(r[1]) &&
        isInt(r[2]) &&
        r[2] >= 0 &&
        r[2] < sources.length,
    )
  )
    throw new ArchiveFormatError('line 1: runs must be [events, ms, source index] triples');
  const ids = h.ids;
  if (
    ids !== undefined &&
    !(
      Array.isArray(ids) &&
      ids.every(
        (e) =>
          Array.isArray(e) &&
          e.length === 2 &&
          isInt(e[0]) &&
          e[0] >= 0 &&
          typeof e[1] === 'string' &&
          e[1].length > 0,
      )
    )
  )
    throw new ArchiveFormatError('line 1: ids must be [event index, id] pairs');
  const total = runs.reduce((n: number, r: Run) => n + r[0], 0);
  if (!isInt(h.events) || h.events !== total)
    throw new ArchiveFormatError(`line 1: events ${String(h.events)} is not the runs' ${total}`);
  if (typeof h.received_at !== 'string' || !Number.isFinite(Date.parse(h.received_at)))
    throw new ArchiveFormatError('line 1: received_at is not a time');
  return h as HeaderV2;
}
