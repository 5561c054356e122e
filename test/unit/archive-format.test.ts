import { gunzipSync } from 'node:zlib';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { parseBody } from '../../workers/parse.js';
import type { BatchLimits, Codec } from '../../src/contracts/batch.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { BodyFormat } from '../../src/rings/record.js';
import { archiveToRows, ArchiveFormatError } from '../../src/replay/convert.js';
import { readArchive } from '../../src/archive/read.js';
import { decompress } from '../../src/codecs/index.js';
import { eventsOf, formatOf, linesOf, rawLinesOf } from '../helpers/archive.js';

/**
 * Archive format 2 (docs/archive.md) against format 1: the same requests give objects from
 * which replay rebuilds exactly the rows the live pipeline inserted, whichever the format.
 */
const enc = new TextEncoder();
const dec = new TextDecoder();
const T0 = Date.UTC(2026, 10, 23, 16, 0, 0, 123);

interface Req {
  format: BodyFormat;
  body: Uint8Array;
  receivedAt: number;
  source: string;
}

function limits(archiveFormat: 1 | 2, codec: Codec = 'none'): BatchLimits {
  return {
    maxEvents: 1_000_000,
    maxBytes: 1 << 30,
    maxAgeMs: 60_000,
    codec,
    level: 0,
    archive: true,
    rows: true,
    compressRows: false,
    archiveFormat,
  };
}

/** Every request into one batch; the sealed archive (decoded) and rows. */
function seal(reqs: Req[], archiveFormat: 1 | 2, codec: Codec = 'none', rows = true) {
  const sealed: SealedBatch[] = [];
  const b = new Batcher({ ...limits(archiveFormat, codec), rows }, (s) => sealed.push(s));
  reqs.forEach((r, i) => {
    const parsed = parseBody(r.format, r.body);
    if (!parsed.ok) throw new Error(parsed.message);
    b.appendRequest(i + 1, parsed.events, r.receivedAt, r.source);
  });
  b.sealIfDue(Date.now(), true);
  expect(sealed).toHaveLength(1);
  const part = sealed[0].batch.archive!;
  return {
    compressed: part.body,
    archive: decompress(codec, part.body, 1 << 30),
    rows: rows ? dec.decode(sealed[0].batch.rows!.body) : '',
  };
}

const ndjson = (lines: string[]): Req => ({
  format: BodyFormat.Ndjson,
  body: enc.encode(`${lines.join('\n')}\n`),
  receivedAt: T0,
  source: 'http',
});

describe('archive format 2: the object', () => {
  it('is a header line, then the producer’s NDJSON byte for byte (gzip: `zcat | tail -n +2`)', () => {
    const lines = [
      '{"msg":"hello","n":1.0,"big":12345678901234567890}',
      '{"event_id":"e1","s":"\\u00e9 é 🚢","dup":1,"dup":2}',
      '{"event_id":42,"x":[1e400,-0]}',
      '{ "spaced" : true ,\t"cr":"a"\r}',
    ];
    const { compressed, archive } = seal([ndjson(lines)], 2, 'gzip');
    const text = gunzipSync(compressed).toString('utf8');
    expect(Buffer.from(archive).toString('utf8')).toBe(text);
    const [head, ...body] = text.split('\n');
    expect(body.join('\n')).toBe(`${lines.join('\n')}\n`);
    expect(JSON.parse(head)).toEqual({
      ferry_archive: 2,
      events: 4,
      event_id: { field: 'event_id', else: 'sha256' },
      received_at: '2026-11-23T16:00:00.123Z',
      sources: ['http'],
      runs: [[4, 0, 0]],
    });
    expect(formatOf(archive)).toBe(2);
    expect(rawLinesOf(archive).slice(1)).toEqual(lines);
  });

  it('keeps received_at and source per run of requests, a source named once', () => {
    const reqs: Req[] = [
      { ...ndjson(['{"a":1}', '{"a":2}']), receivedAt: T0, source: 'edge-a' },
      { ...ndjson(['{"a":3}']), receivedAt: T0, source: 'edge-a' },
      { ...ndjson(['{"a":4}']), receivedAt: T0 + 1500, source: 'edge-b' },
      { ...ndjson(['{"a":5}', '{"a":6}']), receivedAt: T0 - 2, source: 'edge-a' },
    ];
    const { archive } = seal(reqs, 2);
    const head = JSON.parse(rawLinesOf(archive)[0]);
    expect(head.sources).toEqual(['edge-a', 'edge-b']);
    expect(head.runs).toEqual([
      [3, 0, 0],
      [1, 1500, 1],
      [2, -2, 0],
    ]);
    expect(eventsOf(archive).map((e) => [e.payload, e.receivedAt - T0, e.source])).toEqual([
      ['{"a":1}', 0, 'edge-a'],
      ['{"a":2}', 0, 'edge-a'],
      ['{"a":3}', 0, 'edge-a'],
      ['{"a":4}', 1500, 'edge-b'],
      ['{"a":5}', -2, 'edge-a'],
      ['{"a":6}', -2, 'edge-a'],
    ]);
  });

  it('consecutive objects of one worker each hold only their own events', () => {
    const sealed: SealedBatch[] = [];
    const b = new Batcher({ ...limits(2), maxEvents: 2 }, (x) => sealed.push(x));
    const p = parseBody(BodyFormat.Ndjson, enc.encode('{"a":1}\n{"a":22}\n{"a":333}\n'));
    if (!p.ok) throw new Error(p.message);
    b.appendRequest(1, p.events, T0, 'http');
    b.appendRequest(2, p.events.slice(0, 1), T0 + 5, 'other');
    b.sealIfDue(Date.now(), true);
    expect(
      sealed.map((x) => eventsOf(x.batch.archive!.body).map((e) => [e.payload, e.source])),
    ).toEqual([
      [
        ['{"a":1}', 'http'],
        ['{"a":22}', 'http'],
      ],
      [
        ['{"a":333}', 'http'],
        ['{"a":1}', 'other'],
      ],
    ]);
    expect(JSON.parse(rawLinesOf(sealed[1].batch.archive!.body)[0]).runs).toEqual([
      [1, 0, 0],
      [1, 5, 1],
    ]);
  });

  it('is much smaller than format 1 for events without an event_id', () => {
    const lines = Array.from({ length: 500 }, (_, i) => `{"ts":${T0 + i},"user":"u-${i % 7}"}`);
    const v1 = seal([ndjson(lines)], 1, 'gzip').compressed.byteLength;
    const v2 = seal([ndjson(lines)], 2, 'gzip').compressed.byteLength;
    // Format 1 pays ~32 incompressible bytes an event for the sha256 id alone.
    expect(v1 / 500).toBeGreaterThan(32);
    expect(v2 / 500).toBeLessThan(10);
  });
});

/** Odd but valid event_ids: replay must find the very id ingestion gave each event. */
const ODD = [
  '{"a":1}',
  '{"event_id":null,"a":1}',
  '{"event_id":"x","event_id":null}',
  '{"event_id":null,"event_id":"last"}',
  '{"\\u0065vent_id":"escaped-key"}',
  '{"event_id":"\\u0061\\n\\"q\\""}',
  '{"event_id":1.0}',
  '{"event_id":1e3}',
  '{"event_id":-0}',
  '{"event_id":9007199254740991}',
  '{"nested":{"event_id":"not-this"}}',
  '{"event_id":"žluťoučký 🚢"}',
  '{"__proto__":{"event_id":"p"},"x":"\\ud83d"}',
];

describe('format 1 and format 2 rebuild the same rows', () => {
  const bodies: Req[] = [
    ndjson(ODD),
    {
      format: BodyFormat.Json,
      body: enc.encode(`[\n${ODD.join(',\n  ')}\n]`),
      receivedAt: T0 + 7,
      source: 'http',
    },
    {
      format: BodyFormat.Msgpack,
      body: pack([{ a: 1 }, { event_id: 7 }, { event_id: 'm', b: new Uint8Array([1, 2]) }]),
      receivedAt: T0 + 3_600_000,
      source: 'kafka:orders/3',
    },
  ];

  it.each(['none', 'gzip', 'lz4', 'zstd'] as Codec[])(
    'odd event_ids, every body format (%s)',
    (codec) => {
      const v1 = seal(bodies, 1, codec);
      const v2 = seal(bodies, 2, codec);
      expect(v2.rows).toBe(v1.rows); // the live rows do not depend on the format
      expect(archiveToRows(dec.decode(v1.archive)).rows).toBe(v1.rows);
      expect(archiveToRows(dec.decode(v2.archive)).rows).toBe(v1.rows);
      // What tests read through the helper is the same for both.
      expect(linesOf(v2.archive)).toEqual(linesOf(v1.archive));
      expect(linesOf(v1.archive)).toEqual(rawLinesOf(v1.archive));
    },
  );

  it.each([1, 2] as const)(
    'a node without ClickHouse (no rows) archives the same object (format %s)',
    (format) => {
      expect(Buffer.from(seal(bodies, format, 'none', false).archive)).toEqual(
        Buffer.from(seal(bodies, format, 'none', true).archive),
      );
    },
  );

  it('for any JSON objects, sources and times', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            objs: fc.array(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), {
              minLength: 1,
              maxLength: 4,
            }),
            id: fc.option(fc.oneof(fc.string({ minLength: 1, maxLength: 20 }), fc.integer()), {
              nil: undefined,
            }),
            dt: fc.integer({ min: -5000, max: 5000 }),
            source: fc.constantFrom('http', 'kafka:t/0', 'sœurce "q"'),
          }),
          { minLength: 1, maxLength: 4 },
        ),
        (reqs) => {
          const asReqs: Req[] = reqs.map((r) => ({
            ...ndjson(r.objs.map((o) => JSON.stringify({ ...o, event_id: r.id }))),
            receivedAt: T0 + r.dt,
            source: r.source,
          }));
          const v1 = seal(asReqs, 1);
          const v2 = seal(asReqs, 2);
          expect(v2.rows).toBe(v1.rows);
          expect(archiveToRows(dec.decode(v2.archive)).rows).toBe(v1.rows);
          expect(archiveToRows(dec.decode(v1.archive), { keepIds: true }).ids).toEqual(
            archiveToRows(dec.decode(v2.archive), { keepIds: true }).ids,
          );
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ids the rule cannot recompute are stored', () => {
  it('OTLP: an event_id or log.record.uid attribute is kept in the header; a derived id is not', () => {
    const otlp = (attributes: unknown[]) =>
      enc.encode(
        JSON.stringify({
          resourceLogs: [{ scopeLogs: [{ logRecords: [{ attributes }, { attributes: [] }] }] }],
        }),
      );
    const reqs: Req[] = [
      ndjson(['{"event_id":"n1"}', '{"a":1}']),
      {
        format: BodyFormat.OtlpLogsJson,
        body: otlp([{ key: 'event_id', value: { stringValue: 'otlp-1' } }]),
        receivedAt: T0,
        source: 'otlp',
      },
      {
        format: BodyFormat.OtlpLogsJson,
        body: otlp([{ key: 'log.record.uid', value: { intValue: '9007199254740993' } }]),
        receivedAt: T0,
        source: 'otlp',
      },
    ];
    const v1 = seal(reqs, 1);
    const v2 = seal(reqs, 2);
    const head = JSON.parse(rawLinesOf(v2.archive)[0]);
    expect(head.ids).toEqual([
      [2, 'otlp-1'],
      [4, '9007199254740993'],
    ]);
    const ids = eventsOf(v2.archive).map((e) => e.id);
    expect(ids[0]).toBe('n1');
    expect(ids.slice(2)).toEqual([ids[2], ids[3], ids[4], ids[5]]);
    expect([ids[2], ids[4]]).toEqual(['otlp-1', '9007199254740993']);
    expect(ids[3]).toMatch(/^[0-9a-f]{64}$/);
    expect(archiveToRows(dec.decode(v2.archive)).rows).toBe(v1.rows);
    expect(archiveToRows(dec.decode(v1.archive)).rows).toBe(v1.rows);
    // Without the stored ids, replay would hash those two events: a different row.
    const stripped = dec.decode(v2.archive).replace(/,"ids":\[[^\n]*\]\]\}/, '}');
    expect(stripped).not.toBe(dec.decode(v2.archive));
    expect(archiveToRows(stripped).rows).not.toBe(v1.rows);
  });

  it('_bulk _ids: the header is the JSON of its pairs, after indexes, and each batch has only its own', () => {
    const ids = ['plain', 'q"uote', 'back\\slash', 'ключ', 'tab\there', '☃'];
    const sealed: SealedBatch[] = [];
    const b = new Batcher(limits(2), (x) => sealed.push(x));
    for (const batch of [0, 1]) {
      const p = parseBody(
        BodyFormat.Ndjson,
        enc.encode(ids.map((_, k) => `{"k":${k}}\n`).join('')),
      );
      if (!p.ok) throw new Error(p.message);
      const evs = p.events.map((e, k) =>
        // As parseBulk gives them: every other one carries an _id, the others keep a derived id.
        k % 2 === 0
          ? { id: `${ids[k]}-${batch}`, bytes: e.bytes, index: 'logs' }
          : Object.assign(e, { index: 'logs' }),
      );
      b.appendRequest(batch + 1, evs, T0, 'bulk');
      b.sealIfDue(Date.now(), true);
    }
    expect(sealed).toHaveLength(2);
    sealed.forEach((s, batch) => {
      const line = rawLinesOf(s.batch.archive!.body)[0];
      const head = JSON.parse(line);
      expect(line).toBe(JSON.stringify(head));
      expect(Object.keys(head).slice(-2)).toEqual(['indexes', 'ids']);
      expect(head.ids).toEqual([0, 2, 4].map((k) => [k, `${ids[k]}-${batch}`]));
      const read = eventsOf(s.batch.archive!.body).map((e) => e.id);
      expect([0, 2, 4].map((k) => read[k])).toEqual([0, 2, 4].map((k) => `${ids[k]}-${batch}`));
      expect(read[1]).toMatch(/^[0-9a-f]{64}$/);
    });
  });

  it("_bulk documents keep their _index (runs point into the header's indexes)", () => {
    const build = (format: 1 | 2) => {
      const sealed: SealedBatch[] = [];
      const b = new Batcher(limits(format), (x) => sealed.push(x));
      const p = parseBody(BodyFormat.Ndjson, enc.encode('{"a":1}\n{"a":2}\n{"a":3}\n'));
      if (!p.ok) throw new Error(p.message);
      const [x, y, z] = p.events;
      // Object.assign, not a spread: an event's derived id is a getter (hashed only when read).
      b.appendRequest(
        1,
        [Object.assign(x, { index: 'logs-a' }), Object.assign(y, { index: 'logs-b' }), z],
        T0,
        'bulk',
      );
      b.sealIfDue(Date.now(), true);
      return sealed[0].batch;
    };
    const v1 = build(1);
    const v2 = build(2);
    const head = JSON.parse(rawLinesOf(v2.archive!.body)[0]);
    expect(head.indexes).toEqual(['logs-a', 'logs-b']);
    expect(head.runs).toEqual([
      [1, 0, 0, 0],
      [1, 0, 0, 1],
      [1, 0, 0],
    ]);
    expect(eventsOf(v2.archive!.body).map((e) => e.index)).toEqual(['logs-a', 'logs-b', undefined]);
    expect(linesOf(v2.archive!.body)).toEqual(rawLinesOf(v1.archive!.body));
    expect(archiveToRows(dec.decode(v2.archive!.body)).rows).toBe(dec.decode(v1.rows!.body));
  });

  it('a header whose ids are not [index, id] pairs is refused', () => {
    const good = dec.decode(seal([ndjson(['{"a":1}'])], 2).archive);
    const bad = good.replace('"runs"', '"ids":[[0]],"runs"');
    expect(() => readArchive(bad)).toThrow(/ids must be/);
  });
});

describe('a reload that changes batch.archive_format', () => {
  it('applies from the next batch: an object is never mixed', () => {
    const sealed: SealedBatch[] = [];
    const b = new Batcher(limits(2), (s) => sealed.push(s));
    const events = (body: string) => {
      const p = parseBody(BodyFormat.Ndjson, enc.encode(body));
      if (!p.ok) throw new Error(p.message);
      return p.events;
    };
    b.appendRequest(1, events('{"a":1}'), T0, 'http');
    b.setLimits(limits(1));
    b.appendRequest(2, events('{"a":2}'), T0, 'http');
    b.sealIfDue(Date.now(), true);
    b.appendRequest(3, events('{"a":3}'), T0, 'http');
    b.sealIfDue(Date.now(), true);
    const objs = sealed.map((s) => s.batch.archive!.body);
    expect(objs.map(formatOf)).toEqual([2, 1]);
    expect(eventsOf(objs[0]).map((e) => e.payload)).toEqual(['{"a":1}', '{"a":2}']);
    expect(eventsOf(objs[1]).map((e) => e.payload)).toEqual(['{"a":3}']);
  });
});

describe('archive reader: what ferry did not write is refused, never guessed', () => {
  const good = dec.decode(seal([ndjson(['{"a":1}', '{"a":2}'])], 2).archive);
  const [head, ...rest] = good.split('\n');
  const withHead = (h: Record<string, unknown>) =>
    `${JSON.stringify({ ...JSON.parse(head), ...h })}\n${rest.join('\n')}`;

  it.each([
    [
      'a truncated object',
      good.slice(0, good.lastIndexOf('{"a":2}')),
      /1 events after the header, which says 2/,
    ],
    ['an event too many', `${good}{"a":3}\n`, /more events than the header's 2/],
    ['a later format', withHead({ ferry_archive: 3 }), /format 3 is not known/],
    ['another id rule', withHead({ event_id: { field: 'id', else: 'sha256' } }), /event_id rule/],
    ['runs that do not add up', withHead({ runs: [[1, 0, 0]] }), /events 2 is not the runs' 1/],
    ['a source index out of range', withHead({ runs: [[2, 0, 1]] }), /runs must be/],
    ['a bad time', withHead({ received_at: 'yesterday' }), /received_at is not a time/],
    [
      'a line that is not an object',
      good.replace('{"a":2}', '[2]'),
      /line 3: event is not a JSON object/,
    ],
    [
      'an unusable event_id',
      good.replace('{"a":2}', '{"event_id":true}'),
      /line 3: event_id must be/,
    ],
    ['a header that is not JSON', good.replace('"runs"', 'runs'), /archive header is not JSON/],
  ])('%s', (_name, text, why) => {
    expect(() => readArchive(text)).toThrow(ArchiveFormatError);
    expect(() => readArchive(text)).toThrow(why);
  });

  it('still reads format 1 envelopes, and refuses a line that is not one', () => {
    const v1 = dec.decode(seal([ndjson(['{"a":1}'])], 1).archive);
    expect(readArchive(v1)).toEqual([
      expect.objectContaining({ payload: '{"a":1}', receivedAt: T0, source: 'http' }),
    ]);
    expect(() => readArchive('{"a":1}\n')).toThrow(/line 1: not a ferry envelope/);
  });
});
