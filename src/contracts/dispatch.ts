import type { RecordHeader } from '../rings/record.js';

/**
 * The source → pipeline contract: every source (HTTP doors, Kafka, …) puts a request's bytes in a
 * ring through this and nothing else. Returns the request id, or 0 when every ring is full (the
 * source answers 503 or pauses).
 */
export interface Dispatcher {
  tryDispatch(header: RecordHeader, body: readonly Uint8Array[]): number;
}
