import type { EncodedBatch } from '../contracts/batch.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';

/**
 * A sink whose client can be swapped while batches are in flight (a reload
 * with new credentials, endpoint or retry settings). Each attempt uses the
 * client current when it starts, so a batch retrying after an auth error
 * picks up fixed credentials on its next attempt; a replaced client is closed
 * once its last attempt has finished.
 */
export class LiveSink implements Sink {
  private current: Sink;
  private readonly active = new Map<Sink, number>();
  private readonly retired = new Set<Sink>();

  constructor(initial: Sink) {
    this.current = initial;
  }

  get name(): string {
    return this.current.name;
  }

  get type(): Sink['type'] {
    return this.current.type;
  }

  get takes(): Sink['takes'] {
    return this.current.takes;
  }

  /** The sink now in use (for what only its kind has, e.g. ClickHouse's table schema). */
  get inner(): Sink {
    return this.current;
  }

  write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    return this.using((s) => s.write(batch, signal));
  }

  probe(signal?: AbortSignal): Promise<void> {
    return this.using((s) => s.probe(signal));
  }

  replace(next: Sink): void {
    if (next.name !== this.current.name || next.type !== this.current.type)
      throw new Error(`cannot replace sink ${this.current.name} with ${next.type} ${next.name}`);
    const old = this.current;
    this.current = next;
    if ((this.active.get(old) ?? 0) === 0) void old.close().catch(() => {});
    else this.retired.add(old);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.current, ...this.retired].map((s) => s.close()));
    this.retired.clear();
  }

  private async using<T>(f: (s: Sink) => Promise<T>): Promise<T> {
    const s = this.current;
    this.active.set(s, (this.active.get(s) ?? 0) + 1);
    try {
      return await f(s);
    } finally {
      const n = (this.active.get(s) ?? 1) - 1;
      if (n > 0) this.active.set(s, n);
      else {
        this.active.delete(s);
        if (this.retired.delete(s)) void s.close().catch(() => {});
      }
    }
  }
}
