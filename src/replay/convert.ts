import { errorMessage } from '../util/errors.js';

/**
 * Archive envelopes → ClickHouse rows, byte for byte what the live pipeline inserts
 * (workers/batcher.ts): the envelope is `{"event_id":…,"received_at":"<ISO>","source":…,"payload":<event>}`
 * and the row `{"event_id":…,"received_at":<unix s>,"source":…,"payload":"<event JSON as a string>"}`.
 * The payload is cut out of the line as it was archived (never re-serialised), so the row's
 * payload string is the producer's own text.
 */
export interface ConvertedObject {
  rows: string;
  events: number;
  /** event_id → received_at (ms), for verify. */
  ids: { id: string; receivedAt: number }[];
}

export class ArchiveFormatError extends Error {
  override readonly name = 'ArchiveFormatError';
}

const PAYLOAD = ',"payload":';

export function archiveToRows(ndjson: string, opts: { keepIds?: boolean } = {}): ConvertedObject {
  let rows = '';
  let events = 0;
  const ids: ConvertedObject['ids'] = [];
  let start = 0;
  let line = 0;
  while (start < ndjson.length) {
    let nl = ndjson.indexOf('\n', start);
    if (nl < 0) nl = ndjson.length;
    line++;
    const text = ndjson.slice(start, nl);
    start = nl + 1;
    if (text.length === 0) continue;
    // ferry writes the head itself: the first ',"payload":' outside a string is the real one,
    // and JSON strings cannot hold an unescaped '"' — so the first occurrence is it.
    const at = text.indexOf(PAYLOAD);
    if (at < 0 || !text.endsWith('}'))
      throw new ArchiveFormatError(`line ${line}: not a ferry envelope`);
    let head: { event_id?: unknown; received_at?: unknown; source?: unknown };
    try {
      head = JSON.parse(text.slice(0, at) + '}');
    } catch (err) {
      throw new ArchiveFormatError(
        `line ${line}: envelope head is not JSON (${errorMessage(err)})`,
      );
    }
    const receivedAt = typeof head.received_at === 'string' ? Date.parse(head.received_at) : NaN;
    if (
      typeof head.event_id !== 'string' ||
      !Number.isFinite(receivedAt) ||
      typeof head.source !== 'string'
    ) {
      throw new ArchiveFormatError(`line ${line}: envelope lacks event_id, received_at or source`);
    }
    const payload = text.slice(at + PAYLOAD.length, -1);
    rows += `{"event_id":${JSON.stringify(head.event_id)},"received_at":${Math.floor(receivedAt / 1000)},"source":${JSON.stringify(head.source)},"payload":${JSON.stringify(payload)}}\n`;
    events++;
    if (opts.keepIds) ids.push({ id: head.event_id, receivedAt });
  }
  return { rows, events, ids };
}
