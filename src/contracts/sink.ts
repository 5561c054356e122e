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
}
