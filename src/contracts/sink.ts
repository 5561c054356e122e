import type { BatchPart, EncodedBatch } from './batch.js';

/** Every destination implements this; retries and acks live outside it. */
export interface Sink {
  readonly name: string;
  /** The config's `type` (for logs); nothing switches on it. */
  readonly type: string;
  /** The part of a batch this sink stores: the worker builds it, the DLQ keeps it. */
  readonly takes: BatchPart;
  /** Store the batch; resolve only once the destination has it durably. Throw SinkError on failure. */
  write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt>;
  /** Cheap reachability check used by /readyz (and later by the DLQ re-upload). */
  probe(signal?: AbortSignal): Promise<void>;
  close(): Promise<void>;
}

export interface SinkReceipt {
  /** Where it went: object key, file path or table. */
  location: string;
  /**
   * Events of the batch the sink did not store because they are bad, while the rest went in
   * (ClickHouse columns mode: a value that does not fit, or a row the server refused): kept in
   * the sink's poison area with the reason.
   */
  poisonRows?: PoisonRow[];
}

/** One event a sink left out of a delivered batch, and why. */
export interface PoisonRow {
  event_id: string;
  /** The column it did not fit, when known. */
  column?: string;
  reason: string;
  /** The event as it arrived, or the row as it was sent. */
  event?: string;
  row?: string;
}
