import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { pack } from 'msgpackr';
import { parseBody, eventText, type ParseResult } from '../../workers/parse.js';
import { eventIdOf } from '../../workers/event-id.js';
import { BodyFormat } from '../../src/rings/record.js';
import { locateJsonError } from '../../workers/json-locate.js';

const enc = new TextEncoder();
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
/** Events as { text, id }, however the parser carried the text (string or body bytes). */
const texts = (r: ParseResult) =>
  r.ok ? { ok: true, events: r.events.map((e) => ({ text: eventText(e), id: e.id })) } : r;

describe('event_id rules', () => {
  it('uses the payload event_id when present (string or integer)', () => {
    expect(eventIdOf({ event_id: 'abc' }, '{}')).toBe('abc');
    expect(eventIdOf({ event_id: 42 }, '{}')).toBe('42');
  });
  it('falls back to sha256 of the event bytes', () => {
    const text = '{"a":1}';
    expect(eventIdOf({ a: 1 }, text)).toBe(sha(text));
  });
  it('rejects unusable event_ids', () => {
    expect(eventIdOf({ event_id: '' }, '{}')).toEqual({ error: expect.stringContaining('empty') });
    expect(eventIdOf({ event_id: 1.5 }, '{}')).toEqual({ error: expect.any(String) });
    expect(eventIdOf({ event_id: { x: 1 } }, '{}')).toEqual({ error: expect.any(String) });
    expect(eventIdOf({ event_id: 'x'.repeat(300) }, '{}')).toEqual({
      error: expect.stringContaining('longer'),
    });
  });
  it('same bytes → same id; different bytes → different id', () => {
    const a = parseBody(BodyFormat.Ndjson, enc.encode('{"a":1}\n{"a":1}\n{"a":2}\n'));
    if (!a.ok) throw new Error(a.message);
    expect(a.events[0].id).toBe(a.events[1].id);
    expect(a.events[0].id).not.toBe(a.events[2].id);
  });
});

describe('parseBody', () => {
  it('parses NDJSON with CRLF, blank lines and trailing newline', () => {
    const r = texts(
      parseBody(BodyFormat.Ndjson, enc.encode('{"a":1}\r\n\n  \n{"event_id":"x","b":2}\n')),
    );
    expect(r).toMatchObject({
      ok: true,
      events: [
        { text: '{"a":1}', id: sha('{"a":1}') },
        { text: '{"event_id":"x","b":2}', id: 'x' },
      ],
    });
  });

  it('hands out the payload bytes straight from the body (UTF-8 included)', () => {
    const r = parseBody(BodyFormat.Ndjson, enc.encode('  {"a":1} \n{"b":2}'));
    if (!r.ok) throw new Error(r.message);
    expect(r.events.map((e) => Buffer.from(e.bytes!).toString())).toEqual(['{"a":1}', '{"b":2}']);
    const u = parseBody(BodyFormat.Ndjson, enc.encode('{"a":"é"}\n'));
    expect(u.ok && Buffer.from(u.events[0].bytes!).toString()).toBe('{"a":"é"}');
    expect(u.ok && u.events[0].id).toBe(sha('{"a":"é"}'));
  });

  it('names the line and byte offset of malformed NDJSON', () => {
    const body = '{"a":1}\n{"a":2}\n{"a":,}\n';
    const r = parseBody(BodyFormat.Ndjson, enc.encode(body));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.line).toBe(3);
    expect(r.offset).toBe(21); // the ',' after "a": on the line starting at byte 16
    expect(r.message).toMatch(/^line 3 \(byte offset 21\): /);
  });

  it('rejects invalid UTF-8 with its line', () => {
    const bytes = new Uint8Array([
      ...enc.encode('{"a":1}\n{"a":"'),
      0xff,
      0xfe,
      ...enc.encode('"}\n'),
    ]);
    const r = parseBody(BodyFormat.Ndjson, bytes);
    expect(r).toMatchObject({ ok: false, line: 2, offset: 8 });
    expect(!r.ok && r.message).toContain('invalid UTF-8');
  });

  it('rejects events that are not objects', () => {
    expect(parseBody(BodyFormat.Ndjson, enc.encode('{"a":1}\n[1,2]\n'))).toMatchObject({
      ok: false,
      line: 2,
    });
    expect(parseBody(BodyFormat.Json, enc.encode('[{"a":1}, 3]'))).toMatchObject({
      ok: false,
      message: expect.stringContaining('event 1'),
    });
  });

  it('rejects an empty body', () => {
    expect(parseBody(BodyFormat.Ndjson, enc.encode('\n\n'))).toMatchObject({
      ok: false,
      message: expect.stringContaining('empty'),
    });
    expect(parseBody(BodyFormat.Json, enc.encode('[]'))).toMatchObject({ ok: false });
  });

  it('parses a JSON array and a single object', () => {
    const arr = texts(parseBody(BodyFormat.Json, enc.encode('[{"a":1},\n {"b": 2}]')));
    // Each element's bytes as they came (issue 18); a line break inside one becomes a space.
    expect(arr).toMatchObject({ ok: true, events: [{ text: '{"a":1}' }, { text: '{"b": 2}' }] });
    const one = texts(parseBody(BodyFormat.Json, enc.encode('{\n  "event_id": "e1"\n}')));
    expect(one).toEqual({ ok: true, events: [{ text: '{   "event_id": "e1" }', id: 'e1' }] });
  });

  it('locates a JSON syntax error by line and byte offset', () => {
    const r = parseBody(BodyFormat.Json, enc.encode('[\n{"a":1},\n{"a":}\n]'));
    expect(r).toMatchObject({ ok: false, line: 3 });
  });

  it('parses msgpack: one map, an array of maps, and a stream of maps', () => {
    expect(parseBody(BodyFormat.Msgpack, pack({ a: 1 }))).toMatchObject({
      ok: true,
      events: [{ text: '{"a":1}' }],
    });
    expect(parseBody(BodyFormat.Msgpack, pack([{ a: 1 }, { event_id: 'm' }]))).toMatchObject({
      ok: true,
      events: [{}, { id: 'm' }],
    });
    const stream = Buffer.concat([pack({ a: 1 }), pack({ a: 2 })]);
    expect(parseBody(BodyFormat.Msgpack, stream)).toMatchObject({
      ok: true,
      events: [{ text: '{"a":1}' }, { text: '{"a":2}' }],
    });
    expect(parseBody(BodyFormat.Msgpack, new Uint8Array([0xc1]))).toMatchObject({ ok: false });
  });
});

describe('locateJsonError', () => {
  it('points at the first bad character', () => {
    expect(locateJsonError('{"a":,}')).toBe(5);
    expect(locateJsonError('{"a":1')).toBe(6);
    expect(locateJsonError('{"a":"x')).toBe(7);
    expect(locateJsonError('[1,2,]')).toBe(5);
    expect(locateJsonError('{"a":tru}')).toBe(8);
    expect(locateJsonError('{"a":"\\x"}')).toBe(7);
    expect(locateJsonError('{"a":1} x')).toBe(8);
    expect(locateJsonError('{"a":01}')).toBe(6);
  });
  it('finds no error in valid JSON', () => {
    for (const v of ['{}', '[]', '{"a":[1,-2.5e3,true,false,null,"\\u00e9"]}', ' {"b" : { } } '])
      expect(locateJsonError(v)).toBeUndefined();
  });
  it('agrees with JSON.parse on mutated documents', () => {
    const base = JSON.stringify({ a: [1, 2, { b: 'c', d: null }], e: true, f: -1.5 });
    for (let i = 0; i < base.length; i++) {
      for (const ch of ['}', ',', '"', 'x', ':', ' ']) {
        const t = base.slice(0, i) + ch + base.slice(i + 1);
        let valid = true;
        try {
          JSON.parse(t);
        } catch {
          valid = false;
        }
        expect(locateJsonError(t) === undefined, t).toBe(valid);
      }
    }
  });
});
