/**
 * The columns-mode row builders after the speed work (issue 19's bench target) against the
 * builders before it (test/unit/fixtures/columns-before/, copies of workers/row-bytes.ts and
 * workers/row-convert.ts at 1a891b7): for generated events — any value in any column, spacing
 * and number spellings as senders write them — the same bytes and the same poison decisions.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { buildRowPlan, type RowPlan } from '../../src/sinks/clickhouse/row-plan.js';
import { ByteSink } from '../../workers/byte-sink.js';
import { writeColumnsRow } from '../../workers/row-bytes.js';
import { encodeRow } from '../../workers/row-convert.js';
import { writeColumnsRow as writeColumnsRowBefore } from './fixtures/columns-before/row-bytes.js';
import { encodeRow as encodeRowBefore } from './fixtures/columns-before/row-convert.js';

const enc = new TextEncoder();

/** test/integration/clickhouse-columns.test.ts's typed table (the current-server variant). */
const TYPED: [string, string][] = [
  ['event_id', 'String'],
  ['received_at', 'DateTime'],
  ['src', 'LowCardinality(String)'],
  ['user_id', 'UInt32'],
  ['level', 'Int8'],
  ['big', 'Int64'],
  ['ratio', 'Float32'],
  ['name', 'String'],
  ['code', 'FixedString(3)'],
  ['uid', 'UUID'],
  ['at', 'DateTime'],
  ['n', 'Nullable(Int16)'],
  ['tags', 'Array(String)'],
  ['nums', 'Array(UInt16)'],
  ['status', "Enum8('ok' = 1, 'fail' = 2)"],
  ['rest', 'String'],
  ['ok', 'Bool'],
  ['ts64', 'DateTime64(6)'],
  ['ip4', 'IPv4'],
  ['ip6', 'IPv6'],
  ['attrs', 'Map(String, String)'],
];

/** bench/worker-path.mjs --columns: the W1 table. */
const W1: [string, string][] = [
  ['event_id', 'String'],
  ['received_at', 'DateTime'],
  ['source', 'LowCardinality(String)'],
  ['ts', 'DateTime64(3)'],
  ['user', 'LowCardinality(String)'],
  ['kind', 'LowCardinality(String)'],
  ['path', 'String'],
  ['referrer', 'String'],
  ['ua', 'String'],
  ['session', 'String'],
  ['value', 'Float64'],
  ['tags', 'Array(LowCardinality(String))'],
  ['note', 'String'],
];

/** Every scalar type once more, Nullable, and ferry's fields in other types. */
const WIDE: [string, string][] = [
  ['event_id', 'String'],
  ['received_at', 'DateTime64(3)'],
  ['source', 'String'],
  ['i8', 'Int8'],
  ['u8', 'Nullable(UInt8)'],
  ['i16', 'Int16'],
  ['u32', 'UInt32'],
  ['i64', 'Int64'],
  ['u128', 'UInt128'],
  ['f32', 'Float32'],
  ['f64', 'Nullable(Float64)'],
  ['d', 'Date'],
  ['dt', 'Nullable(DateTime)'],
  ['dt0', 'DateTime64(0)'],
  ['dt9', 'DateTime64(9)'],
  ['s', 'Nullable(String)'],
  ['arr', 'Array(Nullable(Int32))'],
  ['dates', 'Array(DateTime)'],
  ['m', 'Map(String, UInt8)'],
  ['dec', 'Decimal(10, 2)'],
  ['j', 'JSON'],
];

const table = (cols: [string, string][]) => cols.map(([name, type]) => ({ name, type }));

const PLANS: [string, RowPlan][] = [
  [
    'typed, catch-all String',
    buildRowPlan('db.typed', table(TYPED), {
      paths: { user_id: 'user.id' },
      source_column: 'src',
      unknown: 'keep',
      catch_all_column: 'rest',
    }),
  ],
  [
    'typed, catch-all Map',
    buildRowPlan('db.typed', table(TYPED), {
      paths: { user_id: 'user.id', name: 'attributes.http.name' },
      source_column: 'src',
      unknown: 'keep',
      catch_all_column: 'attrs',
    }),
  ],
  ['W1, unknown skipped', buildRowPlan('bench.w1', table(W1), {})],
  [
    'wide, catch-all JSON',
    buildRowPlan('db.wide', table(WIDE), {
      paths: { s: 'user.name', u8: 'user.id' },
      unknown: 'keep',
      catch_all_column: 'j',
    }),
  ],
];

/** A JSON value as text, with a sender's spacing. */
type Tok = { raw: string } | { str: string } | { arr: Tok[] } | { obj: [string, Tok][] };

const ws = fc.constantFrom('', '', '', ' ', '  ', '\n', '\t', ' \r\n ');

/** The spacing between tokens: `space`'s entries in turn (deterministic, so fast-check can shrink). */
function render(t: Tok, space: string[]): string {
  let turn = 0;
  const sp = () => space[turn++ % space.length];
  const go = (x: Tok): string => {
    if ('raw' in x) return x.raw;
    if ('str' in x) return JSON.stringify(x.str);
    if ('arr' in x) return `[${sp()}${x.arr.map(go).join(`${sp()},${sp()}`)}${sp()}]`;
    const pairs = x.obj.map(([k, v]) => `${JSON.stringify(k)}${sp()}:${sp()}${go(v)}`);
    return `{${sp()}${pairs.join(`${sp()},${sp()}`)}${sp()}}`;
  };
  return go(t);
}

const scalar: fc.Arbitrary<Tok> = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }).map((str) => ({ str })),
  fc.string({ unit: 'binary', maxLength: 8 }).map((str) => ({ str })),
  fc
    .constantFrom(
      'ok',
      'fail',
      'abc',
      'héllo',
      'a"b\\c',
      '\u2028',
      '6F9619FF-8B86-D011-B42D-00C04FC964FF',
      '2026-11-23T03:13:20.5+01:00',
      '2026-11-23 03:13:20Z',
      '2026-11-23T03:13:20.123456789-0330',
      '2026-02-30T00:00:00Z',
      '2026-11-23',
      '1732350000',
      '1732350000.25',
      '9007199254740993',
      '-12',
      '10.1.2.3',
      '256.1.2.3',
      '2001:db8::1',
      '::ffff:10.0.0.1',
      'true',
      '',
    )
    .map((str) => ({ str })),
  fc.integer({ min: -70000, max: 70000 }).map((n) => ({ raw: String(n) })),
  fc.integer({ min: 0, max: 4_000_000_000 }).map((n) => ({ raw: String(n) })),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => ({ raw: JSON.stringify(n) })),
  fc
    .constantFrom(
      '1.50',
      '1e3',
      '1E+2',
      '-0',
      '0.1e-2',
      '1e400',
      '123456789012345678',
      '-9223372036854775809',
      '1732350000123',
      '1732350000123456',
      '1795400000123456789',
      '4294967296',
      '255',
      '256',
      '-129',
      '3.5e38',
    )
    .map((raw) => ({ raw })),
  fc.constantFrom('true', 'false', 'null').map((raw) => ({ raw })),
);

const value: fc.Arbitrary<Tok> = fc.letrec<{ v: Tok }>((tie) => ({
  v: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    scalar,
    scalar,
    fc.array(tie('v'), { maxLength: 3 }).map((arr) => ({ arr })),
    fc
      .array(fc.tuple(fc.constantFrom('id', 'name', 'http.name', 'http', 'x', 'é'), tie('v')), {
        maxLength: 3,
      })
      .map((obj) => ({ obj })),
  ),
})).v;

const KEYS = [
  ...new Set([...TYPED, ...W1, ...WIDE].map(([k]) => k)),
  'user',
  'attributes',
  'other',
  'ünï',
  'a"q',
  'e\\s',
];

const event = fc.tuple(
  fc.uniqueArray(fc.tuple(fc.constantFrom(...KEYS), value), {
    selector: ([k]) => k,
    maxLength: 14,
  }),
  fc.array(ws, { minLength: 1, maxLength: 4 }),
  // A key spelt with an escape (`"\u0074s"` for ts): both leave the event to the general encoder.
  fc.boolean(),
);

/**
 * What a builder did: its result, or the error it threw. Before, a Date column given a number
 * beyond a JS Date's range threw a RangeError out of the worker; now that row is poison.
 */
function outcome<T>(build: () => T): T | { threw: string } {
  try {
    return build();
  } catch (err) {
    return { threw: String(err) };
  }
}

function expectSame(after: unknown, before: unknown): void {
  if (before !== null && typeof before === 'object' && 'threw' in before) {
    expect(before.threw).toContain('RangeError: Invalid time value');
    expect(after).toEqual({
      ok: false,
      column: 'd',
      reason: expect.stringContaining("out of Date's range"),
    });
  } else expect(after).toEqual(before);
}

const metas = [
  {
    idJson: '"0123456789abcdef0123456789abcdef"',
    receivedAt: 1_732_350_000_123,
    sourceJson: '"http"',
  },
  {
    idJson: '"0123456789abcdef0123456789abcdef"',
    receivedAt: 1_732_350_000_123,
    sourceJson: '"http"',
  },
  { idJson: '"ïd-ünicode"', receivedAt: 1_732_350_001_999, sourceJson: '"kafka:tøpic"' },
  { idJson: '"a\\"b"', receivedAt: 1_732_350_001_999, sourceJson: '"http"' },
];

describe('columns rows: the same bytes and poison decisions as before the speed work', () => {
  for (const [name, plan] of PLANS)
    it(`byte walker, ${name}`, () => {
      fc.assert(
        fc.property(fc.array(event, { minLength: 1, maxLength: 6 }), (evs) => {
          // One sink per builder across several events: rows after a poison row, a reused request frame.
          const before = new ByteSink(16);
          const after = new ByteSink(16);
          evs.forEach(([pairs, space, escapedKey], k) => {
            let text = render({ obj: pairs }, space);
            if (escapedKey)
              text = text.replace(
                /"([a-z])/,
                (_, ch: string) => `"\\u00${ch.charCodeAt(0).toString(16)}`,
              );
            const bytes = enc.encode(text);
            const meta = metas[k % metas.length];
            const mark = before.len;
            const a = outcome(() => writeColumnsRowBefore(before, bytes, meta, plan));
            const b = outcome(() => writeColumnsRow(after, bytes, meta, plan));
            if (typeof a === 'object' && 'threw' in a) before.len = mark; // the poison row's reset
            expectSame(b, a);
            expect(after.len).toBe(before.len);
            expect(
              Buffer.compare(after.buf.subarray(0, after.len), before.buf.subarray(0, before.len)),
            ).toBe(0);
          });
        }),
        { numRuns: 1500 },
      );
    });

  for (const [name, plan] of PLANS)
    it(`general encoder, ${name}`, () => {
      fc.assert(
        fc.property(event, ([pairs, space]) => {
          const ev = JSON.parse(render({ obj: pairs }, space));
          expectSame(
            outcome(() => encodeRow(ev, metas[2], plan)),
            outcome(() => encodeRowBefore(ev, metas[2], plan)),
          );
        }),
        { numRuns: 500 },
      );
    });

  it('a received_at the column cannot take poisons every row (not only the first of a request)', () => {
    const plan = buildRowPlan(
      'db.t',
      table([
        ['event_id', 'String'],
        ['received_at', 'Bool'],
        ['s', 'String'],
      ]),
      {},
    );
    const out = new ByteSink(16);
    for (let i = 0; i < 3; i++) {
      const r = writeColumnsRow(out, enc.encode('{"s":"x"}'), metas[0], plan);
      expect(r).toEqual({
        ok: false,
        column: 'received_at',
        reason: expect.stringContaining('not a boolean'),
      });
      expect(out.len).toBe(0);
    }
  });
});
