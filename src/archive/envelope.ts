import type { ArchivedEvent } from './read.js';

/**
 * An event as format 1's envelope line (without its newline), byte for byte what format 1
 * archives (workers/envelope.ts): for the sinks that send envelopes whatever the archive format.
 */
export function envelopeLine(e: ArchivedEvent): string {
  const index = e.index === undefined ? '' : `,"_index":${JSON.stringify(e.index)}`;
  return `{"event_id":${JSON.stringify(e.id)}${index},"received_at":"${new Date(e.receivedAt).toISOString()}","source":${JSON.stringify(e.source)},"payload":${e.payload}}`;
}
