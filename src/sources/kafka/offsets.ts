/**
 * Commit-after-durable bookkeeping for one partition. Each dispatched unit of
 * messages (a chunk) covers an offset range; the committable offset is the end
 * of the longest prefix of chunks that are all done — never past a chunk still
 * in flight, whatever order the chunks finish in. Offsets are bigint because
 * Kafka's are int64.
 */
export interface ChunkRange {
  readonly first: bigint;
  readonly last: bigint;
}

interface Entry extends ChunkRange {
  done: boolean;
}

export class PartitionOffsets {
  /** In flight or done but not yet folded into `next`, ordered by offset. */
  private readonly entries: Entry[] = [];
  /** The offset to commit (one past the last durable message), or undefined before anything is durable. */
  private next: bigint | undefined;
  /** One past the highest offset ever added: a refetch below it is already handled. */
  private high: bigint | undefined;

  /** Messages at or above this offset are new to this tracker. */
  get fetchedUpTo(): bigint | undefined {
    return this.high;
  }

  get inflight(): number {
    return this.entries.filter((e) => !e.done).length;
  }

  /** Register a dispatched chunk. Chunks must be added in offset order and must not overlap. */
  add(first: bigint, last: bigint): ChunkRange {
    if (last < first) throw new RangeError(`chunk ${first}..${last} is empty`);
    if (this.high !== undefined && first < this.high)
      throw new RangeError(
        `chunk ${first}..${last} overlaps offsets already tracked (up to ${this.high - 1n})`,
      );
    const e: Entry = { first, last, done: false };
    this.entries.push(e);
    this.high = last + 1n;
    return e;
  }

  /** The chunk's messages are durable (every sink or a DLQ segment) or in the DLQ topic. */
  done(chunk: ChunkRange): void {
    const e = chunk as Entry;
    if (!this.entries.includes(e)) return; // from an earlier assignment: nothing to do
    e.done = true;
    while (this.entries.length > 0 && this.entries[0].done) {
      this.next = this.entries.shift()!.last + 1n;
    }
  }

  /** The offset Kafka should store for the group (next message to read), if anything became durable. */
  committable(): bigint | undefined {
    return this.next;
  }
}

/** The trackers of every assigned partition, keyed "topic\u0000partition". */
export class OffsetTracker {
  private readonly parts = new Map<string, PartitionOffsets>();
  /** What was last committed per partition, so a commit goes out only when it moves. */
  private readonly committed = new Map<string, bigint>();

  static key(topic: string, partition: number): string {
    return `${topic}\u0000${partition}`;
  }

  partition(topic: string, partition: number): PartitionOffsets {
    const k = OffsetTracker.key(topic, partition);
    let p = this.parts.get(k);
    if (!p) {
      p = new PartitionOffsets();
      this.parts.set(k, p);
    }
    return p;
  }

  /**
   * A new assignment: Kafka will hand out messages again from the committed offsets,
   * so forget everything (chunks still in flight finish into the old trackers, unused).
   */
  reset(): void {
    this.parts.clear();
    this.committed.clear();
  }

  /** Offsets that moved since the last call to markCommitted. */
  pendingCommits(): { topic: string; partition: number; offset: bigint }[] {
    const out: { topic: string; partition: number; offset: bigint }[] = [];
    for (const [k, p] of this.parts) {
      const c = p.committable();
      if (c === undefined) continue;
      const prev = this.committed.get(k);
      if (prev !== undefined && c <= prev) continue;
      const [topic, part] = k.split('\u0000');
      out.push({ topic, partition: Number(part), offset: c });
    }
    return out;
  }

  markCommitted(topic: string, partition: number, offset: bigint): void {
    const k = OffsetTracker.key(topic, partition);
    const prev = this.committed.get(k);
    if (prev === undefined || offset > prev) this.committed.set(k, offset);
  }

  lastCommitted(topic: string, partition: number): bigint | undefined {
    return this.committed.get(OffsetTracker.key(topic, partition));
  }

  /** Chunks still in flight over all partitions. */
  inflight(): number {
    let n = 0;
    for (const p of this.parts.values()) n += p.inflight;
    return n;
  }
}
