import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseColumnType } from '../../src/sinks/clickhouse/column-type.js';
import { buildRowPlan } from '../../src/sinks/clickhouse/row-plan.js';
import { convert, encodeRow, lookup } from '../../workers/row-convert.js';
import { writeColumnsRow } from '../../workers/row-bytes.js';
import { ByteSink } from '../../workers/byte-sink.js';
import { bisectRows, NoRowFits } from '../../src/sinks/clickhouse/bisect.js';

const enc = new TextEncoder();
const meta = { idJson: '"id-1"', receivedAt: 1_795_400_000_250, sourceJson: '"tok"' };

describe('ClickHouse column types', () => {
  it('parses the types system.columns spells', () => {
    expect(parseColumnType('LowCardinality(Nullable(String))')).toEqual({
      k: 'nullable',
      of: { k: 'string' },
    });
    expect(parseColumnType('Map(String, Array(UInt16))')).toEqual({
      k: 'map',
      key: { k: 'string' },
      value: { k: 'array', of: { k: 'int', bits: 16, signed: false } },
    });
    expect(parseColumnType("Enum8('a,b' = 1, 'it\\'s' = 2)")).toEqual({
      k: 'enum',
      values: ['a,b', "it's"],
    });
    expect(parseColumnType("DateTime64(6, 'UTC')")).toEqual({ k: 'datetime64', precision: 6 });
    expect(parseColumnType('Decimal(10, 2)')).toEqual({ k: 'raw', type: 'Decimal(10, 2)' });
  });

  it('converts values or says why not', () => {
    const t = parseColumnType;
    expect(convert('18446744073709551615', t('UInt64'))).toBe('18446744073709551615');
    expect(() => convert('18446744073709551616', t('UInt64'))).toThrow(/out of range/);
    expect(() => convert(1.5, t('Int32'))).toThrow(/not an integer/);
    expect(convert('2026-11-23T02:13:20Z', t('DateTime'))).toBe('1795400000');
    expect(convert('2026-11-23 04:13:20+0200', t('DateTime'))).toBe('1795400000');
    // epoch seconds, ms, µs and ns all name the same instant
    for (const v of [1_795_400_000, 1_795_400_000_000, 1_795_400_000_000_000, 1.7954e18])
      expect(convert(v, t('DateTime'))).toBe('1795400000');
    expect(convert('2026-11-23T02:13:20.123456789Z', t('DateTime64(9)'))).toBe(
      '"1795400000.123456789"',
    );
    expect(convert(1_795_400_000_123, t('DateTime64(3)'))).toBe('"1795400000.123"');
    expect(convert('2026-11-23T23:59:59-05:00', t('Date'))).toBe('"2026-11-24"');
    expect(convert('::ffff:10.0.0.1', t('IPv6'))).toBe('"::ffff:10.0.0.1"');
    expect(() => convert('1:2:3:4:5:6:7:8:9', t('IPv6'))).toThrow(/IPv6/);
    expect(convert({ a: 1, b: [2] }, t('Map(String, String)'))).toBe('{"a":"1","b":"[2]"}');
    expect(convert(null, t('Nullable(UInt8)'))).toBe('null');
    expect(() => convert('é'.repeat(2), t('FixedString(3)'))).toThrow(/4 bytes/);
    expect(
      lookup({ attributes: { 'http.status_code': 200 } }, ['attributes', 'http', 'status_code']),
    ).toBe(200);
  });
});

describe('columns rows: the byte walker and the general encoder agree', () => {
  const plan = buildRowPlan(
    'db.t',
    [
      ['event_id', 'String'],
      ['received_at', 'DateTime64(3)'],
      ['source', 'LowCardinality(String)'],
      ['s', 'String'],
      ['i', 'Int16'],
      ['u', 'Nullable(UInt8)'],
      ['f', 'Float32'],
      ['d', 'Float64'],
      ['ts', 'DateTime'],
      ['tags', 'Array(String)'],
      ['nums', 'Array(Int32)'],
      ['uid', 'Nullable(String)'],
      ['rest', 'String'],
    ].map(([name, type]) => ({ name, type })),
    { paths: { uid: 'user.id' }, unknown: 'keep', catch_all_column: 'rest' },
  );
  const value = fc.oneof(
    fc.string(),
    fc.integer({ min: -70000, max: 70000 }),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.constant(null),
    fc.array(fc.string(), { maxLength: 3 }),
    fc.array(fc.integer(), { maxLength: 3 }),
    fc.integer({ min: 0, max: 4_000_000_000 }),
  );
  const event = fc.record(
    {
      s: value,
      i: value,
      u: value,
      f: value,
      d: value,
      ts: value,
      tags: value,
      nums: value,
      user: fc.oneof(fc.record({ id: value }), value),
      other: value,
    },
    { requiredKeys: [] },
  );

  it('a key written with escapes is left to the general encoder', () => {
    const out = new ByteSink(64);
    expect(writeColumnsRow(out, enc.encode('{"we\\"ird":1}'), meta, plan)).toBeUndefined();
    expect(out.len).toBe(0);
  });

  it('same row or the same misfit column, for generated events', () => {
    fc.assert(
      fc.property(event, (ev) => {
        const out = new ByteSink(64);
        const viaBytes = writeColumnsRow(out, enc.encode(JSON.stringify(ev)), meta, plan);
        const viaObject = encodeRow(ev, meta, plan);
        expect(viaBytes).toBeDefined();
        if (!viaObject.ok) {
          expect(viaBytes).toEqual({
            ok: false,
            column: viaObject.column,
            reason: viaObject.reason,
          });
          expect(out.len).toBe(0);
        } else {
          expect(viaBytes).toEqual({ ok: true });
          const text = new TextDecoder().decode(out.take());
          expect(JSON.parse(text)).toEqual(JSON.parse(viaObject.line));
        }
      }),
      { numRuns: 3000 },
    );
  });
});

describe('bisection', () => {
  const rowError = (row: number) =>
    Object.assign(new Error(`bad (at row ${row})`), { rowErr: true });
  const make = (n: number, bad: Set<number>, hints: boolean) => {
    const rows = Array.from({ length: n }, (_, i) => String(i));
    let inserts = 0;
    const delivered: string[] = [];
    const insert = async (part: readonly string[]) => {
      inserts++;
      const at = part.findIndex((r) => bad.has(Number(r)));
      if (at >= 0)
        throw hints ? rowError(at + 1) : Object.assign(new Error('bad'), { rowErr: true });
      delivered.push(...part);
    };
    return { rows, insert, delivered, count: () => inserts };
  };
  const opts = (max: number) => ({
    maxInserts: max,
    isRowError: (e: unknown) => (e as { rowErr?: boolean }).rowErr === true,
    rowHint: (e: unknown) => {
      const m = /at row (\d+)/.exec((e as Error).message);
      return m ? Number(m[1]) : undefined;
    },
  });

  for (const hints of [true, false]) {
    it(`finds exactly the bad rows (${hints ? 'with' : 'without'} the server's row hints), within the bound`, async () => {
      const bad = new Set([17, 2500, 4999]);
      const t = make(5000, bad, hints);
      const r = await bisectRows(t.rows, rowError(18), t.insert, opts(200));
      expect(r.bad.map((b) => b.index)).toEqual([17, 2500, 4999]);
      expect(r.unresolved).toEqual([]);
      expect(t.delivered.length).toBe(4997);
      expect(new Set(t.delivered).size).toBe(4997);
      // k bad rows of n: at most 2·k·⌈log2 n⌉ inserts by halving, ~3 per bad row with hints.
      expect(r.inserts).toBeLessThanOrEqual(hints ? 3 * 3 + 1 : 2 * 3 * 13);
    });
  }

  it('every row refused: stops after the first few, blaming the table (the batch stays whole)', async () => {
    const t = make(30, new Set(Array.from({ length: 30 }, (_, i) => i)), true);
    const err = await bisectRows(t.rows, rowError(1), t.insert, opts(64)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NoRowFits);
    expect(t.delivered).toEqual([]);
    expect(t.count()).toBeLessThanOrEqual(8);
  });

  it('stops at the budget: nothing delivered twice, the rest reported unresolved', async () => {
    const t = make(100, new Set([3, 50, 90]), false);
    const r = await bisectRows(t.rows, new Error('x'), t.insert, opts(5));
    expect(r.inserts).toBe(5);
    const seen = [...t.delivered, ...r.bad.map((b) => b.row), ...r.unresolved.map((u) => u.row)];
    expect(seen.sort()).toEqual([...t.rows].sort());
  });
});
