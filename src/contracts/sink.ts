import type { EncodedBatch } from './batch.js';

/** Every destination implements this; retries and acks live outside it. */
export interface Sink {
  readonly name: string;
  readonly type: 'directory' | 's3' | 'clickhouse';
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
