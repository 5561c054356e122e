import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { Buffer } from 'node:buffer';
import { Packr } from 'msgpackr';
import {
  parseBody,
  eventText,
  MAX_EVENT_DEPTH,
  MAX_EVENT_KEYS,
  MAX_EVENT_BYTES,
  type ParseResult,
} from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

/**
 * Issue 18: an event is archived as the bytes it arrived as, whatever the Content-Type;
 * msgpack goes through one lossless conversion; the same limits hold for every type.
 */
const enc = new TextEncoder();
// useBigInt64 (pack BigInt as int64/uint64) is missing from msgpackr's Options type.
const packOptions = { useRecords: false, useBigInt64: true };
const packr = new Packr(packOptions);
const FORMATS = [BodyFormat.Ndjson, BodyFormat.Json, BodyFormat.Msgpack] as const;

const texts = (r: ParseResult): string[] => {
  if (!r.ok) throw new Error(r.message);
  return r.events.map(eventText);
};

/**
 * JSON text → a value whose numbers are exact decimals (sign, digits, exponent), so
 * 12345678901234567890, 1e400 and 1.0 compare as what they are, not as doubles.
 */
function lossless(text: string): unknown {
  const tagged = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (tok) =>
    tok.startsWith('"') ? tok : JSON.stringify({ $n: exactNumber(tok) }),
  );
  return JSON.parse(tagged);
}

function exactNumber(tok: string): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(tok)!;
  let digits = m[2] + (m[3] ?? '');
  let exp = BigInt(m[4] ?? 0) - BigInt((m[3] ?? '').length);
  digits = digits.replace(/^0+/, '');
  if (digits === '') return '0';
  while (digits.endsWith('0')) {
    digits = digits.slice(0, -1);
    exp++;
  }
  return `${m[1]}${digits}e${exp}`;
}

/** A JSON object's text with number tokens no double can hold, spaces, escapes and duplicates. */
const jsonNumberToken = fc.oneof(
  fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }).map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
  fc.constantFrom('1e400', '-1e-400', '1.0', '0.000', '-0', '12345678901234567890', '2E+5'),
);
const jsonStringToken = fc.oneof(
  fc.string().map((s) => JSON.stringify(s)),
  fc.constantFrom('"\\u00e9"', '"\\ud83d\\ude00"', '"a\\/b"', '"\\ud800"'),
);
const ws = fc.constantFrom('', ' ', '  ', '\t', '\r');
const wsLines = fc.constantFrom('', ' ', '\n', '\r\n', '\n  ');

function eventArb(space: fc.Arbitrary<string>): fc.Arbitrary<string> {
  const { value } = fc.letrec<{ value: string; object: string; array: string }>((tie) => ({
    value: fc.oneof(
      { depthSize: 'small' },
      jsonNumberToken,
      jsonStringToken,
      fc.constantFrom('true', 'false', 'null'),
      tie('object'),
      tie('array'),
    ),
    object: fc
      .array(fc.tuple(space, jsonStringToken, space, tie('value'), space), { maxLength: 5 })
      .map((kv) => `{${kv.map(([a, k, b, v, c]) => `${a}${k}${b}:${v}${c}`).join(',')}}`),
    array: fc
      .array(fc.tuple(space, tie('value')), { maxLength: 5 })
      .map((vs) => `[${vs.map(([a, v]) => a + v).join(',')}]`),
  }));
  return fc
    .tuple(fc.option(fc.constantFrom('"e-1"', '7', 'null', '"é"')), value, jsonStringToken, space)
    .map(([id, v, k, sp]) => `{${sp}${id === null ? '' : `"event_id":${id},`}${k}:${v}${sp}}`);
}
const eventText$ = eventArb(ws);

describe('JSON bodies are archived byte for byte', () => {
  it('the issue 18 example, as NDJSON and as application/json', () => {
    const big = '9'.repeat(500);
    const ev = `{"event_id":"n1", "a" : 1.0, "x":1e400, "b":${big}, "i":12345678901234567890, "s":"\\u00e9", "d":1, "d":2, "y":-1e-400}`;
    expect(texts(parseBody(BodyFormat.Ndjson, enc.encode(ev)))).toEqual([ev]);
    expect(texts(parseBody(BodyFormat.Json, enc.encode(ev)))).toEqual([ev]);
    expect(texts(parseBody(BodyFormat.Json, enc.encode(`[${ev}, ${ev}]`)))).toEqual([ev, ev]);
  });

  it('for any JSON object: each array element, and a lone object, byte-identical', () => {
    fc.assert(
      fc.property(fc.array(eventText$, { minLength: 1, maxLength: 6 }), ws, (events, sp) => {
        const body = enc.encode(`${sp}[${events.join(`${sp},${sp}`)}]${sp}`);
        const r = parseBody(BodyFormat.Json, body);
        if (!r.ok) {
          // Refused only for an event_id the rules refuse (here none are), never for the bytes.
          throw new Error(`${r.message}\n${new TextDecoder().decode(body)}`);
        }
        expect(r.events.map(eventText)).toEqual(events);
        expect(
          parseBody(BodyFormat.Json, enc.encode(events[0])).ok &&
            texts(parseBody(BodyFormat.Json, enc.encode(events[0]))),
        ).toEqual([events[0]]);
        expect(texts(parseBody(BodyFormat.Ndjson, enc.encode(events.join('\n'))))).toEqual(events);
      }),
      { numRuns: 400 },
    );
  });

  it('a line break inside an element becomes a space: same length, same exact value', () => {
    fc.assert(
      fc.property(eventArb(wsLines), (pretty) => {
        const [got] = texts(parseBody(BodyFormat.Json, enc.encode(`[\n${pretty}\n]`)));
        // Raw newlines can only be whitespace between tokens (inside strings they are escaped).
        expect(got).toBe(pretty.replaceAll('\n', ' '));
        expect(lossless(got)).toEqual(lossless(pretty));
      }),
      { numRuns: 200 },
    );
  });

  it('the event_id rules are the same for an array element as for an NDJSON line', () => {
    const cases = [
      '{"event_id":""}',
      `{"event_id":"${'x'.repeat(257)}"}`,
      '{"event_id":1.5}',
      '{"event_id":true}',
      '{"event_id":12345678901234567890}',
    ];
    for (const c of cases) {
      expect(parseBody(BodyFormat.Ndjson, enc.encode(c)).ok, c).toBe(false);
      expect(parseBody(BodyFormat.Json, enc.encode(`[${c}]`)), c).toMatchObject({
        ok: false,
        message: expect.stringMatching(/^event 0 \(byte offset 1\): event_id/),
      });
    }
    const ok: [string, string][] = [
      ['{"event_id":1.0}', '1'],
      ['{"event_id":"\\u0061"}', 'a'],
      ['{"\\u0065vent_id":"b"}', 'b'],
      ['{"event_id":"a","event_id":"z"}', 'z'],
      [`{"event_id":"${'x'.repeat(256)}"}`, 'x'.repeat(256)],
    ];
    for (const [c, id] of ok) {
      for (const body of [c, `[${c}]`]) {
        const r = parseBody(BodyFormat.Json, enc.encode(body));
        expect(r.ok && r.events[0].id, body).toBe(id);
        expect(r.ok && eventText(r.events[0])).toBe(c);
      }
      const n = parseBody(BodyFormat.Ndjson, enc.encode(c));
      expect(n.ok && n.events[0].id, c).toBe(id);
    }
    const nul = parseBody(BodyFormat.Json, enc.encode('[{"event_id":null,"a":1}]'));
    expect(nul.ok && nul.events[0].hashed).toBe(true);
  });

  it('refuses what is not an object or an array of objects, naming the place', () => {
    expect(parseBody(BodyFormat.Json, enc.encode('[{"a":1}, 2]'))).toMatchObject({
      ok: false,
      message: 'event 1: an event must be a JSON object',
    });
    expect(parseBody(BodyFormat.Json, enc.encode('[{"a":1}] x'))).toMatchObject({ ok: false });
    expect(parseBody(BodyFormat.Json, enc.encode('[{"a":1},]'))).toMatchObject({ ok: false });
    expect(parseBody(BodyFormat.Json, enc.encode(' [ ] '))).toMatchObject({
      ok: false,
      message: 'empty body: no events',
    });
  });
});

describe('msgpack: one lossless conversion to JSON', () => {
  it('keeps every map key as it came: __proto__ and constructor stay, number keys become their text', () => {
    // A Map packs as a msgpack map with exactly these keys (an object literal would make
    // __proto__ its prototype). Found by the property test below (seed -1230605743): msgpackr's
    // objects turned __proto__ into __proto_.
    const body = packr.pack(
      new Map<unknown, unknown>([
        ['__proto__', new Map([['a', 1]])],
        ['constructor', 2],
        [7, 'seven'],
        ['event_id', 'k1'],
      ]),
    );
    const parsed = parseBody(BodyFormat.Msgpack, body);
    expect(texts(parsed)).toEqual([
      '{"__proto__":{"a":1},"constructor":2,"7":"seven","event_id":"k1"}',
    ]);
    expect(parsed.ok && parsed.events[0].id).toBe('k1');
  });

  it('a map key that is a map, an array or bin has no JSON form: 400', () => {
    const body = packr.pack(new Map<unknown, unknown>([[[1, 2], 'x']]));
    const r = parseBody(BodyFormat.Msgpack, body);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toMatch(/a map key that is an array has no JSON form/);
  });

  it('int64 and uint64 beyond 2^53 keep every digit; bin is base64; floats read back', () => {
    const body = packr.pack({
      i: 12345678901234567890n,
      n: -9223372036854775807n,
      s: 42,
      f: 0.1,
      b: Buffer.from([0, 1, 2, 250]),
      t: 'é',
    });
    expect(texts(parseBody(BodyFormat.Msgpack, body))).toEqual([
      '{"i":12345678901234567890,"n":-9223372036854775807,"s":42,"f":0.1,"b":"AAEC+g==","t":"é"}',
    ]);
    expect(parseBody(BodyFormat.Msgpack, packr.pack({ x: Number.NaN }))).toMatchObject({
      ok: false,
      message: 'event: NaN has no JSON form',
    });
  });

  it('for any value: the archive parses to the same exact value', () => {
    const leaf = fc.oneof(
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.string(),
      fc.boolean(),
      fc.constant(null),
      fc.uint8Array({ maxLength: 8 }),
    );
    const { value } = fc.letrec<{ value: unknown }>((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        leaf,
        fc.array(tie('value'), { maxLength: 4 }),
        fc.dictionary(fc.string(), tie('value'), { maxKeys: 4 }),
      ),
    }));
    const expected = (v: unknown): unknown => {
      if (typeof v === 'bigint') return { $n: exactNumber(v.toString()) };
      if (typeof v === 'number')
        return { $n: exactNumber(Object.is(v, -0) ? '-0' : JSON.stringify(v)) };
      if (v instanceof Uint8Array) return Buffer.from(v).toString('base64');
      if (Array.isArray(v)) return v.map(expected);
      if (v && typeof v === 'object')
        return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, expected(x)]));
      return v;
    };
    fc.assert(
      fc.property(fc.dictionary(fc.string(), value, { maxKeys: 5 }), (ev) => {
        delete (ev as Record<string, unknown>).event_id;
        const [got] = texts(parseBody(BodyFormat.Msgpack, packr.pack(ev)));
        expect(lossless(got)).toEqual(expected(ev));
      }),
      { numRuns: 300 },
    );
  });
});

describe('the same limits for every Content-Type', () => {
  const deep = (levels: number) => `{"a":${'['.repeat(levels)}${']'.repeat(levels)}}`;
  const deepValue = (levels: number): unknown => {
    let v: unknown = [];
    for (let i = 1; i < levels; i++) v = [v];
    return { a: v };
  };
  const bodyOf = (format: BodyFormat, text: string, value: () => unknown): Uint8Array =>
    format === BodyFormat.Msgpack ? packr.pack(value()) : enc.encode(text);

  it.each(FORMATS)('nesting 10^5 deep is a 400 naming the limit (format %i)', (format) => {
    // msgpackr packs recursively too: build the msgpack body by hand.
    const levels = 100_000;
    const body =
      format === BodyFormat.Msgpack
        ? Buffer.concat([
            Buffer.from([0x81, 0xa1, 0x61]),
            Buffer.alloc(levels, 0x91),
            Buffer.from([0x90]),
          ])
        : enc.encode(deep(levels));
    expect(parseBody(format, body)).toMatchObject({
      ok: false,
      message: expect.stringContaining(
        `nested deeper than ${MAX_EVENT_DEPTH} levels (max_event_depth)`,
      ),
    });
    if (format === BodyFormat.Json) {
      const arr = enc.encode(`[${deep(levels)}]`);
      expect(parseBody(format, arr)).toMatchObject({
        ok: false,
        message: expect.stringContaining('max_event_depth'),
      });
      const arrays = enc.encode('['.repeat(levels) + ']'.repeat(levels));
      expect(parseBody(format, arrays)).toMatchObject({
        ok: false,
        message: expect.stringContaining('max_event_depth'),
      });
    }
  });

  it.each(FORMATS)('exactly at the depth limit is accepted (format %i)', (format) => {
    // The event's own braces count as one level.
    const body = bodyOf(format, deep(MAX_EVENT_DEPTH - 1), () => deepValue(MAX_EVENT_DEPTH - 1));
    expect(parseBody(format, body).ok).toBe(true);
    const over = bodyOf(format, deep(MAX_EVENT_DEPTH), () => deepValue(MAX_EVENT_DEPTH));
    expect(parseBody(format, over)).toMatchObject({
      ok: false,
      message: expect.stringContaining('max_event_depth'),
    });
  });

  it.each(FORMATS)('key count and event size (format %i)', (format) => {
    const keys = (n: number) =>
      Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
    const atKeys = keys(MAX_EVENT_KEYS);
    expect(
      parseBody(
        format,
        bodyOf(format, JSON.stringify(atKeys), () => atKeys),
      ).ok,
    ).toBe(true);
    const overKeys = { ...atKeys, nested: { x: 1 } };
    expect(
      parseBody(
        format,
        bodyOf(format, JSON.stringify(overKeys), () => overKeys),
      ),
    ).toMatchObject({
      ok: false,
      message: expect.stringContaining(`more than ${MAX_EVENT_KEYS} keys (max_event_keys)`),
    });
    const big = { s: 'x'.repeat(MAX_EVENT_BYTES) };
    expect(
      parseBody(
        format,
        bodyOf(format, JSON.stringify(big), () => big),
      ),
    ).toMatchObject({
      ok: false,
      message: expect.stringContaining(`over ${MAX_EVENT_BYTES} (max_event_bytes)`),
    });
  });
});
