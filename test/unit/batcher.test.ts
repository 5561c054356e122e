import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { parseBody } from '../../workers/parse.js';
import type { BatchLimits } from '../../src/contracts/batch.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { BodyFormat } from '../../src/rings/record.js';
import { archiveToRows } from '../../src/replay/convert.js';
import { eventsOf } from '../helpers/archive.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const limits: BatchLimits = {
  maxEvents: 1_000_000,
  maxBytes: 1 << 30,
  maxAgeMs: 60_000,
  codec: 'none',
  level: 0,
  archive: true,
  rows: true,
  compressRows: false,
};

/** Seal one batch of the given NDJSON body and return its archive and rows as text. */
function batchOf(
  body: string,
  source = 'http',
  archiveFormat: 1 | 2 = 2,
): { archive: string; rows: string } {
  let sealed: SealedBatch | undefined;
  const b = new Batcher({ ...limits, archiveFormat }, (s) => (sealed = s));
  const parsed = parseBody(BodyFormat.Ndjson, enc.encode(body));
  if (!parsed.ok) throw new Error(parsed.message);
  b.appendRequest(1, parsed.events, Date.UTC(2026, 10, 23, 16, 0, 0, 123), source);
  b.sealIfDue(Date.now(), true);
  return {
    archive: dec.decode(sealed!.batch.archive!.body),
    rows: dec.decode(sealed!.batch.rows!.body),
  };
}

/** The row as it was built before the byte-level escaper: JSON.stringify of the event's text. */
const expectedRow = (id: string, text: string, source: string) =>
  `{"event_id":${JSON.stringify(id)},"received_at":1795449600,"source":${JSON.stringify(source)},"payload":${JSON.stringify(text)}}\n`;

describe('batcher: ClickHouse rows', () => {
  it('escape quotes, backslashes, tabs and carriage returns between tokens, and keep non-ASCII as it is', () => {
    const lines = [
      '{"event_id":"a","msg":"say \\"hi\\"\\\\ \\u0001"}',
      '{\t"event_id":"b",\r"x":"žluťoučký 🚢"}',
      '{"event_id":"c","n":[1,2.5e3,null,true]}',
    ];
    const { rows } = batchOf(lines.join('\n') + '\n');
    expect(rows).toBe(lines.map((l, i) => expectedRow('abc'[i], l, 'http')).join(''));
    // What ClickHouse stores as payload is the producer's text.
    expect(
      rows
        .trim()
        .split('\n')
        .map((r) => JSON.parse(r).payload),
    ).toEqual(lines);
  });

  it('match JSON.stringify of the text and the replay converter, byte for byte, for any JSON object', () => {
    fc.assert(
      fc.property(
        fc.array(fc.dictionary(fc.string({ unit: 'binary' }), fc.jsonValue()), {
          minLength: 1,
          maxLength: 5,
        }),
        fc.constantFrom('', ' ', '\t', '\r'),
        fc.constantFrom('http', 'kafka:orders', 'sœurce "q"'),
        fc.constantFrom(1 as const, 2 as const),
        (objs, ws, source, format) => {
          const lines = objs.map((o) => ws + JSON.stringify({ ...o, event_id: undefined }) + ws);
          const { archive, rows } = batchOf(lines.join('\n') + '\n', source, format);
          const ids = eventsOf(enc.encode(archive)).map((e) => e.id);
          expect(rows).toBe(lines.map((l, i) => expectedRow(ids[i], l.trim(), source)).join(''));
          expect(archiveToRows(archive).rows).toBe(rows);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('batcher: batch ids', () => {
  /** The id of the one batch made of these bodies (one request each), and the parsed events. */
  function sealOnce(bodies: string[], over: Partial<BatchLimits> = {}) {
    let sealed: SealedBatch | undefined;
    const b = new Batcher(
      { ...limits, rows: false, archiveFormat: 2, ...over },
      (s) => (sealed = s),
    );
    const events = bodies.flatMap((body, i) => {
      const parsed = parseBody(BodyFormat.Ndjson, enc.encode(body));
      if (!parsed.ok) throw new Error(parsed.message);
      b.appendRequest(i + 1, parsed.events, 1_700_000_000_000 + i, 'http');
      return parsed.events;
    });
    b.sealIfDue(Date.now(), true);
    return { id: sealed!.batch.id, events };
  }

  it('an archive-only (format 2) batch never hashes a derived event_id, and its id still follows its events', () => {
    const a = sealOnce(['{"a":1}\n{"a":2}\n', '{"event_id":"x","a":3}\n']);
    // The derived ids were never computed (the getter caches on first read).
    expect(a.events.filter((e) => e.hashed).map((e) => Reflect.get(e, 'cached'))).toEqual([
      undefined,
      undefined,
    ]);
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    // The same requests again (a DLQ retry, a WAL replay of the same records): the same id.
    expect(sealOnce(['{"a":1}\n{"a":2}\n', '{"event_id":"x","a":3}\n']).id).toBe(a.id);
    // Any change of an event, or of the order: another id.
    expect(sealOnce(['{"a":1}\n{"a":2}\n', '{"event_id":"x","a":4}\n']).id).not.toBe(a.id);
    expect(sealOnce(['{"a":2}\n{"a":1}\n', '{"event_id":"x","a":3}\n']).id).not.toBe(a.id);
    // Over the compressed object: another codec, another id (a reload changes the key anyway).
    expect(
      sealOnce(['{"a":1}\n{"a":2}\n', '{"event_id":"x","a":3}\n'], { codec: 'gzip' }).id,
    ).not.toBe(a.id);
  });

  it('a batch that carries its ids (rows, or format 1 envelopes) is identified by their hash', () => {
    const body = ['{"a":1}\n{"event_id":"y","a":2}\n'];
    const rows = sealOnce(body, { rows: true });
    const v1 = sealOnce(body, { archiveFormat: 1 });
    expect(rows.id).toBe(v1.id);
    // The derived id was computed for them, and is the sha256 of the event's bytes.
    expect(rows.events[0].id).toMatch(/^[0-9a-f]{64}$/);
  });
});
