import { join } from 'node:path';
import type { Logger } from '../observe/log.js';
import { partOf, type EncodedBatch } from '../contracts/batch.js';
import type { Sink } from '../contracts/sink.js';
import type { SinkError } from '../sinks/errors.js';
import type { RecordHead } from './frame.js';
import { SegmentStore, type StoreLimits, type StoredRecord } from './segment-store.js';
import { CircuitBreaker } from './breaker.js';
import { savePoison, savePoisonRows } from './poison.js';
import type { PoisonRow } from '../contracts/sink.js';

/** One sink's DLQ: its segment store, its poison area and its circuit breaker. */
export class SinkDlq {
  readonly store: SegmentStore;
  readonly breaker: CircuitBreaker;
  readonly poisonDir: string;

  constructor(
    readonly sink: Sink,
    readonly dir: string,
    limits: StoreLimits,
    breakerFailures: number,
    log: Logger,
    events: ConstructorParameters<typeof SegmentStore>[4],
  ) {
    this.store = new SegmentStore(sink.name, dir, limits, log, events);
    this.breaker = new CircuitBreaker(breakerFailures);
    this.poisonDir = join(dir, 'poison');
  }

  /** Keep a batch the sink could not take; resolves once it is fsync'd (throws DlqFullError). */
  async spool(batch: EncodedBatch, err: SinkError | undefined): Promise<void> {
    const part = this.sink.takes;
    const p = partOf(batch, part);
    const head: RecordHead = {
      batch: batch.id,
      sink: this.sink.name,
      events: batch.events,
      part,
      codec: p.codec,
      raw_bytes: p.rawBytes,
      created_at: batch.createdAt,
      attempts: err?.attempts ?? 0,
      error_class: err?.errorClass ?? 'circuit_open',
      spooled_at: Date.now(),
      ...(p.sections ? { sections: p.sections } : {}),
    };
    await this.store.append(head, p.body);
  }

  async poison(batch: EncodedBatch, err: SinkError): Promise<string> {
    return savePoison(this.poisonDir, batch, this.sink.takes, {
      sink: this.sink.name,
      status: err.status,
      error_class: err.errorClass,
      error: err.message,
    });
  }

  /** Rows the sink left out of a batch it delivered; resolves once written durably. */
  async poisonRows(batch: EncodedBatch, rows: readonly PoisonRow[]): Promise<string> {
    return savePoisonRows(this.poisonDir, batch, this.sink.name, rows);
  }

  /** Rebuild a batch from a record, for the same sink: same id and createdAt, so the same S3 key. */
  async batchOf(r: StoredRecord): Promise<EncodedBatch> {
    const body = await this.store.read(r);
    return {
      id: r.head.batch,
      createdAt: r.head.created_at,
      events: r.head.events,
      [r.head.part]: {
        body,
        codec: r.head.codec,
        rawBytes: r.head.raw_bytes,
        ...(r.head.sections ? { sections: r.head.sections } : {}),
      },
    };
  }
}
