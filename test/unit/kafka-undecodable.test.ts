import { describe, it, expect } from 'vitest';
import { UndecodableHolds } from '../../src/sources/kafka/undecodable.js';

const tp = { topic: 't', partition: 3 };
const batch = (base: string, last: string) => ({
  baseOffset: base,
  lastOffset: last,
  codec: 4,
  error: 'corrupt zstd data',
});

describe('UndecodableHolds', () => {
  it('backs off longer on each failure of the same batch, and waits until then', () => {
    let now = 1000;
    const holds = new UndecodableHolds(
      (a) => 100 * 2 ** a,
      () => now,
    );
    expect(holds.failed(tp, batch('10', '19')).waitMs).toBe(100);
    expect(holds.waiting(tp)).toBe(true);
    now += 100;
    expect(holds.waiting(tp)).toBe(false);
    expect(holds.failed(tp, batch('10', '19'))).toMatchObject({ attempts: 2, waitMs: 200 });
    expect(holds.failed(tp, batch('10', '19'))).toMatchObject({ attempts: 3, waitMs: 400 });
    // A different batch starts over.
    expect(holds.failed(tp, batch('40', '49'))).toMatchObject({ attempts: 1, waitMs: 100 });
    expect(holds.problems()).toEqual(
      ['t/3 held at offset 40: undecodable record batch (corrupt zstd data)'].map(
        (p) => `kafka: ${p}`,
      ),
    );
  });

  it('lets the partition go once a message past the batch comes through, not before', () => {
    const holds = new UndecodableHolds(() => 100);
    holds.failed(tp, batch('10', '19'));
    holds.passed(tp, '19');
    expect(holds.size).toBe(1);
    holds.passed(tp, '20');
    expect(holds.size).toBe(0);
    expect(holds.problems()).toEqual([]);
  });

  it('a rejoin keeps the holds of partitions still assigned (their backoff goes on)', () => {
    const holds = new UndecodableHolds(() => 60_000);
    holds.failed(tp, batch('1', '2'));
    holds.failed({ topic: 't', partition: 4 }, batch('1', '2'));
    holds.forget((p) => p.partition === 3);
    expect(holds.size).toBe(1);
    expect(holds.waiting(tp)).toBe(true);
  });
});
