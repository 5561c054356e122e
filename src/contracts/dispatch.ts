import type { RecordHeader } from '../rings/record.js';
import type { AckMode } from '../config/types.js';

/**
 * The source → pipeline contract: every source (HTTP doors, Kafka, …) puts a request's bytes in a
 * ring through this and nothing else. Returns the request id, or 0 when every ring is full (the
 * source answers 503 or pauses, or, with `ack` durable, when the write-ahead log is full).
 *
 * `ack` is the mode the source will register the request with (`AckTracker.register`): with
 * `durable` (the default) the record is also appended to the write-ahead log (src/wal/), and the
 * tracker answers once it is fsync'd; `delivered` and `accepted` write nothing.
 */
export interface Dispatcher {
  tryDispatch(header: RecordHeader, body: readonly Uint8Array[], ack?: AckMode): number;
}
