import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { eventText, type ParseResult } from '../../workers/parse.js';
import {
  parseOtlpProtobuf,
  parseOtlpProtobufReference,
  type OtlpLimits,
} from '../../workers/otlp-logs.js';
import { otlpLogsProto } from '../../src/sources/otlp/proto.js';

/**
 * The byte mapper (workers/otlp-protobuf.ts) against the reference it replaced: protobufjs's
 * decoding + the object mapping (parseOtlpProtobufReference). Same bytes, same ids, same
 * refusals for every request protobufjs encodes; the same verdict on cut bodies; never a throw.
 */

const proto = otlpLogsProto();
const LIMITS: OtlpLimits = { maxDepth: 512, maxKeys: 10_000, maxBytes: 1 << 20 };

/** What a ParseResult says, with the events as their text (a view must be read at once). */
function seen(r: ParseResult) {
  if (!r.ok) return { ok: false as const, error: r.error };
  return {
    ok: true as const,
    events: r.events.map((e) => ({ text: eventText(e), id: e.id, hashed: e.hashed === true })),
    rejected: r.rejected,
    rejectMessage: r.rejectMessage,
  };
}

function both(body: Uint8Array, limits = LIMITS) {
  const before = seen(parseOtlpProtobufReference(body, limits));
  const after = seen(parseOtlpProtobuf(body, limits));
  return { before, after };
}

const encode = (req: unknown) => proto.ExportLogsServiceRequest.encode(req).finish();

const long = (v: bigint, unsigned: boolean) => ({
  low: Number(BigInt.asUintN(32, v)) | 0,
  high: Number(BigInt.asUintN(32, v >> 32n)) | 0,
  unsigned,
});

// --- arbitraries: requests as protobufjs encodes them ---

const text = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'grapheme', maxLength: 8 }),
  fc.string({
    unit: fc.constantFrom(
      '"',
      '\\',
      '\n',
      '\t',
      '\u0001',
      '\u001f',
      '\u007f',
      'é',
      '€',
      '😀',
      '\u2028',
      'a',
    ),
    maxLength: 10,
  }),
);
const key = fc.oneof(
  fc.constantFrom('a', 'b', '', 'event_id', 'log.record.uid', 'k"\\', 'ключ'),
  text,
);
const int64 = fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((v) => long(v, false));
const uint64 = fc.oneof(
  fc.constant(0n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 1_500_000_000_000_000_000n, max: 1_900_000_000_000_000_000n }),
);
const uint32 = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffffffff }));

const { any } = fc.letrec<{ any: unknown; kv: unknown }>((tie) => ({
  any: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.constant({}),
    fc.record({ stringValue: text }),
    fc.record({ boolValue: fc.boolean() }),
    fc.record({ intValue: int64 }),
    fc.record({ doubleValue: fc.double() }),
    fc.record({ bytesValue: fc.uint8Array({ maxLength: 10 }) }),
    fc.record({ arrayValue: fc.record({ values: fc.array(tie('any'), { maxLength: 3 }) }) }),
    fc.record({ kvlistValue: fc.record({ values: fc.array(tie('kv'), { maxLength: 3 }) }) }),
    // Several members of the oneof on the wire (protobufjs writes every one that is set).
    fc.record(
      {
        stringValue: text,
        boolValue: fc.boolean(),
        intValue: int64,
        doubleValue: fc.double(),
        bytesValue: fc.uint8Array({ maxLength: 4 }),
      },
      { requiredKeys: [] },
    ),
  ),
  kv: fc.record({ key, value: tie('any') }, { requiredKeys: ['key'] }),
}));
const kv = fc.record({ key, value: any }, { requiredKeys: ['key'] });
const attributes = fc.array(kv, { maxLength: 5 });

const idValue = fc.oneof(
  fc.record({ stringValue: fc.string({ maxLength: 4 }) }),
  fc.record({ stringValue: fc.string({ minLength: 255, maxLength: 258 }) }),
  fc.record({ intValue: int64 }),
  fc.record({ boolValue: fc.boolean() }),
  fc.constant({}),
);
const recordAttributes = fc.oneof(
  attributes,
  fc
    .tuple(attributes, fc.constantFrom('event_id', 'log.record.uid'), idValue)
    .map(([list, name, value]) => [...list, { key: name, value }]),
);

const logRecord = fc.record(
  {
    timeUnixNano: uint64.map((v) => long(v, true)),
    observedTimeUnixNano: uint64.map((v) => long(v, true)),
    severityNumber: fc.integer({ min: -3, max: 30 }),
    severityText: text,
    body: any,
    attributes: recordAttributes,
    droppedAttributesCount: uint32,
    flags: uint32,
    traceId: fc.oneof(
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      fc.uint8Array({ maxLength: 17 }),
    ),
    spanId: fc.oneof(
      fc.uint8Array({ minLength: 8, maxLength: 8 }),
      fc.uint8Array({ maxLength: 9 }),
    ),
    eventName: text,
  },
  { requiredKeys: [] },
);
const scopeLogs = fc.record(
  {
    scope: fc.record(
      { name: text, version: text, attributes, droppedAttributesCount: uint32 },
      { requiredKeys: [] },
    ),
    logRecords: fc.array(logRecord, { maxLength: 4 }),
    schemaUrl: text,
  },
  { requiredKeys: [] },
);
const resourceLogs = fc.record(
  {
    resource: fc.record(
      {
        attributes,
        droppedAttributesCount: uint32,
        entityRefs: fc.array(fc.record({ type: text, idKeys: fc.array(text, { maxLength: 2 }) }), {
          maxLength: 2,
        }),
      },
      { requiredKeys: [] },
    ),
    scopeLogs: fc.array(scopeLogs, { maxLength: 3 }),
    schemaUrl: text,
  },
  { requiredKeys: [] },
);
const request = fc.record({ resourceLogs: fc.array(resourceLogs, { maxLength: 3 }) });
const limits = fc.oneof(
  fc.constant(LIMITS),
  fc.record({
    maxDepth: fc.integer({ min: 0, max: 4 }),
    maxKeys: fc.integer({ min: 0, max: 8 }),
    maxBytes: fc.integer({ min: 300, max: 1200 }),
  }),
);

// --- hand-made wire bytes ---

function varint(n: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? b | 0x80 : b);
  } while (v > 0n);
  return out;
}
const tag = (field: number, wire: number) => varint((field << 3) | wire);
const ld = (field: number, bytes: number[]) => [
  ...tag(field, 2),
  ...varint(bytes.length),
  ...bytes,
];
const str = (field: number, s: string) => ld(field, [...Buffer.from(s)]);
/** A request of one ResourceLogs / ScopeLogs around these LogRecord bytes. */
const wrap = (record: number[], resource: number[] = [], scope: number[] = []) =>
  new Uint8Array(ld(1, [...resource, ...ld(2, [...scope, ...ld(2, record)])]));

describe('OTLP protobuf byte mapper (workers/otlp-protobuf.ts) = protobufjs + the object mapping', () => {
  it('random requests: the same events byte for byte, the same ids and refusals', () => {
    fc.assert(
      fc.property(request, limits, (req, lim) => {
        const { before, after } = both(encode(req), lim);
        expect(after).toEqual(before);
      }),
      { numRuns: 600 },
    );
  });

  it('many resources, scopes and records in one body, with the limits of the worker', () => {
    fc.assert(
      fc.property(fc.array(resourceLogs, { minLength: 2, maxLength: 6 }), (rl) => {
        const { before, after } = both(encode({ resourceLogs: rl }));
        expect(after).toEqual(before);
      }),
      { numRuns: 100 },
    );
  });

  it('a body cut anywhere: the same verdict, and the same events when it still decodes', () => {
    fc.assert(
      fc.property(request, fc.double({ min: 0, max: 1, noNaN: true }), (req, at) => {
        const body = encode(req);
        const { before, after } = both(body.subarray(0, Math.floor(body.length * at)));
        expect(after.ok).toBe(before.ok);
        if (after.ok) expect(after).toEqual(before);
      }),
      { numRuns: 400 },
    );
  });

  it('garbage and flipped bytes: an answer (events or malformed_body), never a throw', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 200 }),
          fc.tuple(request, fc.nat(), fc.integer({ min: 0, max: 255 })).map(([req, i, v]) => {
            const b = Uint8Array.from(encode(req));
            if (b.length > 0) b[i % b.length] = v;
            return b;
          }),
        ),
        (body) => {
          const r = parseOtlpProtobuf(body, LIMITS);
          if (!r.ok) expect(r.message).toMatch(/^not an OTLP ExportLogsServiceRequest: /);
          else for (const e of r.events) JSON.parse(eventText(e));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('what protobufjs does with odd but valid wire: the last of a field wins, unknown fields are skipped', () => {
    const record = [
      ...str(3, 'first'),
      ...str(3, 'second'), // severity_text twice: the last one
      ...ld(5, [...str(1, 'a body')]),
      ...ld(5, [...tag(3, 0), ...varint(-7n)]), // body twice: replaced, not merged
      ...tag(99, 0),
      ...varint(2n ** 63n), // unknown varint
      ...tag(98, 1),
      ...[1, 2, 3, 4, 5, 6, 7, 8], // unknown fixed64
      ...tag(97, 5),
      ...[1, 2, 3, 4], // unknown fixed32
      ...str(96, 'unknown'), // unknown bytes
      ...tag(95, 3),
      ...tag(1, 0),
      ...varint(1),
      ...tag(95, 4), // a group
      ...ld(6, [...str(1, 'k'), ...ld(2, [...str(1, 'x'), ...tag(3, 0), ...varint(5)])]),
      ...tag(2, 0),
      ...[0x90, 0x80, 0x00], // severity_number 16 in a non-minimal varint
      ...[0x90, 0x00, 0x09], // the tag of severity_number itself non-minimal: 9, the last
    ];
    const { before, after } = both(wrap(record));
    expect(after).toEqual(before);
    expect(after.ok && after.events[0].text).toContain(
      '"severity_number":9,"severity_text":"second","body":-7,"attributes":{"k":"x"}',
    );
  });

  it('refused whole, in the same terms: truncated, wrong wire type, bad UTF-8 anywhere, bad varint', () => {
    const bad = (body: Uint8Array, why: RegExp) => {
      const r = parseOtlpProtobuf(body, LIMITS);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.error).toBe('malformed_body');
        expect(r.message).toMatch(/^not an OTLP ExportLogsServiceRequest: /);
        expect(r.message).toMatch(why);
      }
    };
    const ok = wrap([...str(3, 'INFO')]);
    bad(ok.subarray(0, ok.length - 1), /truncated/);
    bad(wrap([...tag(5, 0), 1]), /LogRecord field 5 has wire type 0, expected 2/);
    bad(wrap([...tag(1, 2), 0]), /LogRecord field 1 has wire type 2, expected 1/);
    bad(wrap([...ld(3, [0x61, 0xff])]), /not valid UTF-8/);
    bad(wrap([...ld(6, [...ld(1, [0xc0, 0x80])])]), /not valid UTF-8/); // an overlong key
    bad(wrap([...ld(6, [...ld(1, [0xed, 0xa0, 0x80])])]), /not valid UTF-8/); // a surrogate
    bad(wrap([], [...ld(1, [...ld(3, [...ld(2, [0xe2, 0x82])])])]), /not valid UTF-8/); // entity_refs
    // Strings the mapping never writes are still strings: a replaced one, a refused record's, a
    // repeated key's value, a losing oneof member.
    bad(wrap([...ld(3, [0xff]), ...str(3, 'x')]), /not valid UTF-8/);
    bad(wrap([...ld(9, [1, 2]), ...ld(12, [0xff])]), /not valid UTF-8/);
    bad(
      wrap([
        ...ld(6, [...str(1, 'k'), ...ld(2, str(1, 'v'))]),
        ...ld(6, [...str(1, 'k'), ...ld(2, ld(1, [0xff]))]),
      ]),
      /not valid UTF-8/,
    );
    bad(wrap([...ld(5, [...ld(1, [0xff]), ...tag(2, 0), 1])]), /not valid UTF-8/);
    bad(wrap([...tag(99, 0), ...Array(10).fill(0xff), 1]), /varint longer than 10 bytes/);
    bad(wrap([...tag(99, 7)]), /invalid wire type 7/);
    bad(wrap([...tag(99, 4)]), /invalid wire type 4/);
    bad(new Uint8Array([0x0a, 0xff, 0x01]), /truncated/);
    // protobufjs decoded these with U+FFFD in place of the bad bytes; proto3 strings are UTF-8.
    expect(parseOtlpProtobufReference(wrap([...ld(3, [0xff])]), LIMITS).ok).toBe(true);
  });

  it('a big export then a small one: both mapped as the reference maps them (the buffer grows, then is let go)', () => {
    const big = 'x'.repeat(900_000);
    const records = Array.from({ length: 6 }, (_, i) => ({ body: { stringValue: `${i}${big}` } }));
    const large = both(encode({ resourceLogs: [{ scopeLogs: [{ logRecords: records }] }] }));
    expect(large.after.ok && large.after.events).toHaveLength(6);
    expect(large.after).toEqual(large.before);
    const small = both(wrap([...str(3, 'after the big one')]));
    expect(small.after).toEqual(small.before);
  });

  it('AnyValue nesting: past max_event_depth the record is refused; far past it the body, never a stack overflow', () => {
    // `levels` × arrayValue { values: [ … ] } around a string, built inside out in linear time.
    const nested = (levels: number) => {
      const leaf = str(1, 'leaf');
      const heads: number[][] = [];
      let len = leaf.length;
      for (let i = 0; i < levels; i++) {
        const inner = [...tag(1, 2), ...varint(len)];
        len += inner.length;
        const outer = [...tag(5, 2), ...varint(len)];
        len += outer.length;
        heads.push(inner, outer);
      }
      const v: number[] = [];
      for (let i = heads.length - 1; i >= 0; i--) for (const b of heads[i]) v.push(b);
      for (const b of leaf) v.push(b);
      return wrap([...tag(5, 2), ...varint(v.length), ...v, ...str(3, 'x')]);
    };
    const shallow = both(nested(600));
    expect(shallow.after).toEqual(shallow.before);
    expect(shallow.after.ok && shallow.after.rejectMessage).toMatch(/max_event_depth/);
    for (const levels of [5000, 200_000]) {
      const r = parseOtlpProtobuf(nested(levels), LIMITS);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.message).toMatch(/nested deeper than 4096/);
    }
  });
});
