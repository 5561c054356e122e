import { readArchive } from '../archive/read.js';

export { ArchiveFormatError } from '../archive/errors.js';

/**
 * Archive objects (format 1 envelopes or format 2, src/archive/read.ts) → ClickHouse rows, byte
 * for byte what the live pipeline inserts (workers/batcher.ts):
 * `{"event_id":…,"received_at":<unix s>,"source":…,"payload":"<event JSON as a string>"}`.
 * The payload is the event's text as archived (never re-serialised), so the row's payload
 * string is the producer's own text.
 */
export interface ConvertedObject {
  rows: string;
  events: number;
  /** event_id → received_at (ms), for verify. */
  ids: { id: string; receivedAt: number }[];
}

export function archiveToRows(text: string, opts: { keepIds?: boolean } = {}): ConvertedObject {
  let rows = '';
  const ids: ConvertedObject['ids'] = [];
  const events = readArchive(text);
  for (const e of events) {
    rows += `{"event_id":${JSON.stringify(e.id)},"received_at":${Math.floor(e.receivedAt / 1000)},"source":${JSON.stringify(e.source)},"payload":${JSON.stringify(e.payload)}}\n`;
    if (opts.keepIds) ids.push({ id: e.id, receivedAt: e.receivedAt });
  }
  return { rows, events: events.length, ids };
}
