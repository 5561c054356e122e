import { describe, it, expect } from 'vitest';
import { PartitionOffsets, OffsetTracker } from '../../src/sources/kafka/offsets.js';
import {
  PauseGate,
  type TopicPartition,
  type PauseReason,
} from '../../src/sources/kafka/pause-gate.js';

describe('PartitionOffsets (commit after durable)', () => {
  it('commits nothing until the first chunk is done, then one past its last offset', () => {
    const p = new PartitionOffsets();
    const a = p.add(0n, 9n);
    expect(p.committable()).toBeUndefined();
    p.done(a);
    expect(p.committable()).toBe(10n);
  });

  it('never moves past a chunk still in flight, whatever order chunks finish in', () => {
    const p = new PartitionOffsets();
    const a = p.add(0n, 9n);
    const b = p.add(10n, 19n);
    const c = p.add(20n, 29n);
    p.done(c);
    p.done(b);
    expect(p.committable()).toBeUndefined();
    expect(p.inflight).toBe(1);
    p.done(a);
    expect(p.committable()).toBe(30n);
    expect(p.inflight).toBe(0);
  });

  it('a middle chunk stuck in retry holds the commit at its start', () => {
    const p = new PartitionOffsets();
    const a = p.add(100n, 149n);
    p.add(150n, 199n); // e.g. 503 dlq_full, being retried
    const c = p.add(200n, 249n);
    p.done(a);
    p.done(c);
    expect(p.committable()).toBe(150n);
  });

  it('gaps between chunks (compaction, transaction markers) are committed over', () => {
    const p = new PartitionOffsets();
    const a = p.add(0n, 4n);
    const b = p.add(9n, 12n);
    p.done(a);
    p.done(b);
    expect(p.committable()).toBe(13n);
  });

  it('refuses overlapping or out-of-order chunks (they would double-count)', () => {
    const p = new PartitionOffsets();
    p.add(0n, 9n);
    expect(() => p.add(5n, 15n)).toThrow(/overlaps/);
    expect(() => p.add(3n, 2n)).toThrow(/empty/);
    expect(p.fetchedUpTo).toBe(10n);
  });

  it('offsets beyond 2^53 stay exact', () => {
    const p = new PartitionOffsets();
    const big = 2n ** 60n;
    const a = p.add(big, big + 1n);
    p.done(a);
    expect(p.committable()).toBe(big + 2n);
  });
});

describe('OffsetTracker', () => {
  it('reports only offsets that moved since the last commit', () => {
    const t = new OffsetTracker();
    const p0 = t.partition('ev', 0);
    const p1 = t.partition('ev', 1);
    const a = p0.add(0n, 9n);
    p1.add(0n, 4n);
    p0.done(a);
    expect(t.pendingCommits()).toEqual([{ topic: 'ev', partition: 0, offset: 10n }]);
    t.markCommitted('ev', 0, 10n);
    expect(t.pendingCommits()).toEqual([]);
    expect(t.lastCommitted('ev', 0)).toBe(10n);
    expect(t.inflight()).toBe(1);
  });

  it('after a reset (new assignment) chunks of the old one no longer count', () => {
    const t = new OffsetTracker();
    const old = t.partition('ev', 0);
    const a = old.add(0n, 9n);
    t.reset();
    old.done(a);
    expect(t.pendingCommits()).toEqual([]);
    const fresh = t.partition('ev', 0);
    expect(fresh.fetchedUpTo).toBeUndefined();
    fresh.done(a); // a chunk from the old tracker is ignored by the new one
    expect(fresh.committable()).toBeUndefined();
  });
});

describe('PauseGate', () => {
  it('resumes a partition only when every reason has cleared', () => {
    const log: string[] = [];
    const counted: PauseReason[] = [];
    const gate = new PauseGate({
      pause: (tp) => log.push(`pause ${tp.partition}`),
      resume: (tp) => log.push(`resume ${tp.partition}`),
      counted: (r) => counted.push(r),
    });
    const tp: TopicPartition = { topic: 'ev', partition: 3 };
    expect(gate.pause(tp, 'rings')).toBe(true);
    expect(gate.pause(tp, 'retry')).toBe(false);
    expect(gate.pause(tp, 'retry')).toBe(false);
    expect(counted).toEqual(['rings', 'retry']);
    let ringsFull = false;
    let retrying = true;
    gate.recheck((_, r) => (r === 'rings' ? ringsFull : retrying));
    expect(gate.isPaused(tp)).toBe(true);
    retrying = false;
    gate.recheck((_, r) => (r === 'rings' ? ringsFull : retrying));
    expect(gate.isPaused(tp)).toBe(false);
    expect(log).toEqual(['pause 3', 'resume 3']);
    ringsFull = true;
  });

  it('clear() resumes everything it had paused', () => {
    const log: string[] = [];
    const gate = new PauseGate({
      pause: () => {},
      resume: (tp) => log.push(`${tp.topic}/${tp.partition}`),
      counted: () => {},
    });
    gate.pause({ topic: 'a', partition: 0 }, 'inflight');
    gate.pause({ topic: 'b', partition: 1 }, 'dlq_full');
    gate.clear();
    expect(log.sort()).toEqual(['a/0', 'b/1']);
    expect(gate.all()).toEqual([]);
  });
});
