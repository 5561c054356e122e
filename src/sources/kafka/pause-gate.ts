/** Why a partition is not being fetched. */
export type PauseReason = 'rings' | 'inflight' | 'dlq_full' | 'retry' | 'undecodable';

export interface TopicPartition {
  topic: string;
  partition: number;
}

/**
 * Pause bookkeeping: a partition stays paused while any reason holds, and
 * resumes only when every reason has cleared (checked on a short tick by the
 * source, which knows the conditions).
 */
export class PauseGate {
  private readonly paused = new Map<string, { tp: TopicPartition; reasons: Set<PauseReason> }>();

  constructor(
    private readonly hooks: {
      pause(tp: TopicPartition): void;
      resume(tp: TopicPartition): void;
      counted(reason: PauseReason): void;
    },
  ) {}

  /** True when this call paused the partition (it was running). */
  pause(tp: TopicPartition, reason: PauseReason): boolean {
    const k = `${tp.topic}\u0000${tp.partition}`;
    let e = this.paused.get(k);
    const fresh = !e;
    if (!e) {
      e = { tp, reasons: new Set() };
      this.paused.set(k, e);
      this.hooks.pause(tp);
    }
    if (!e.reasons.has(reason)) {
      e.reasons.add(reason);
      this.hooks.counted(reason);
    }
    return fresh;
  }

  isPaused(tp: TopicPartition): boolean {
    return this.paused.has(`${tp.topic}\u0000${tp.partition}`);
  }

  /** Drop the reasons that no longer hold; resume partitions left with none. */
  recheck(holds: (tp: TopicPartition, reason: PauseReason) => boolean): void {
    for (const [k, e] of this.paused) {
      for (const r of e.reasons) if (!holds(e.tp, r)) e.reasons.delete(r);
      if (e.reasons.size === 0) {
        this.paused.delete(k);
        this.hooks.resume(e.tp);
      }
    }
  }

  /** A new assignment: start every partition fetching again (their in-flight state was forgotten). */
  clear(): void {
    for (const e of this.paused.values()) this.hooks.resume(e.tp);
    this.paused.clear();
  }

  all(): TopicPartition[] {
    return [...this.paused.values()].map((e) => e.tp);
  }
}
