/**
 * Partitions held at a record batch ferry cannot decode (fetch-decode.ts finds them). Nothing is
 * skipped: the partition stops at that batch, the others go on, and the batch is fetched again
 * after a capped full-jitter backoff — a new ferry build, a fixed codec or the operator moving
 * the group's offset past it (docs/kafka.md) lets it go on. The attempts are counted here, not in
 * the consumer, so neither a rejoin nor a consumer restart resets the backoff.
 */
import type { UndecodableBatch } from './fetch-decode.js';
import type { TopicPartition } from './pause-gate.js';

interface Held {
  tp: TopicPartition;
  batch: UndecodableBatch;
  attempts: number;
  /** Epoch ms before which the partition is not fetched again. */
  until: number;
}

const key = (tp: TopicPartition) => `${tp.topic}\u0000${tp.partition}`;

export class UndecodableHolds {
  private readonly held = new Map<string, Held>();

  constructor(
    private readonly backoffMs: (attempt: number) => number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The batch failed (again): returns the hold, with the wait before the next try. */
  failed(tp: TopicPartition, batch: UndecodableBatch): Held & { waitMs: number } {
    const k = key(tp);
    const prev = this.held.get(k);
    const attempts = prev && prev.batch.baseOffset === batch.baseOffset ? prev.attempts + 1 : 1;
    const waitMs = this.backoffMs(attempts - 1);
    const h: Held = { tp, batch, attempts, until: this.now() + waitMs };
    this.held.set(k, h);
    return { ...h, waitMs };
  }

  /** True while the partition must not be fetched (its backoff is running). */
  waiting(tp: TopicPartition): boolean {
    const h = this.held.get(key(tp));
    return h !== undefined && this.now() < h.until;
  }

  /** A message past the held batch came through: the partition is no longer held. */
  passed(tp: TopicPartition, offset: string): void {
    const h = this.held.get(key(tp));
    if (h && BigInt(offset) > BigInt(h.batch.lastOffset)) this.held.delete(key(tp));
  }

  /** The partition went to another member: its hold is that member's business now. */
  forget(keep: (tp: TopicPartition) => boolean): void {
    for (const [k, h] of this.held) if (!keep(h.tp)) this.held.delete(k);
  }

  /** /readyz reasons. */
  problems(): string[] {
    return [...this.held.values()].map(
      (h) =>
        `kafka: ${h.tp.topic}/${h.tp.partition} held at offset ${h.batch.baseOffset}: undecodable record batch (${h.batch.error})`,
    );
  }

  get size(): number {
    return this.held.size;
  }
}
