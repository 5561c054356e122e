import { describe, it, expect } from 'vitest';
import {
  scanNdjson,
  parseNdjson,
  parseBody,
  eventText,
  type ParseResult,
} from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

/**
 * The NDJSON fast path (json-scan.ts: validate bytes in place, no JSON.parse) must never
 * accept what the JSON.parse path rejects, and must give the same event_ids and event
 * texts when both accept. It may decline (undefined) — the slow path then answers.
 */
const enc = new TextEncoder();

function summary(r: ParseResult): unknown {
  return r.ok
    ? { ok: true, events: r.events.map((e) => ({ id: e.id, text: eventText(e) })) }
    : { ok: false };
}

function agree(body: Uint8Array, label: string): void {
  const slow = parseNdjson(body);
  const fast = scanNdjson(body);
  if (fast !== undefined) {
    expect(summary(fast), label).toEqual(summary(slow));
  }
  // And through the public entry point, errors included (the fast path words none itself).
  expect(parseBody(BodyFormat.Ndjson, body)).toEqual(
    slow.ok ? expect.objectContaining({ ok: true }) : slow,
  );
}

// A small deterministic PRNG so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 6 : 8));
  switch (k) {
    case 0:
      return null;
    case 1:
      return r() < 0.5;
    case 2:
      return Math.floor((r() - 0.5) * 1e6);
    case 3:
      return (r() - 0.5) * 10 ** Math.floor(r() * 40 - 20);
    case 4:
    case 5: {
      const alphabet = [
        'a',
        'Z',
        ' ',
        '"',
        '\\',
        '/',
        '\n',
        '\t',
        '\u0001',
        'é',
        '€',
        '😀',
        '\ud800',
        'event_id',
      ];
      let s = '';
      const n = Math.floor(r() * 6);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(r() * alphabet.length)];
      return s;
    }
    case 6:
      return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 5);
      for (let i = 0; i < n; i++)
        o[String(randomValue(r, 9)).slice(0, 5) || 'k'] = randomValue(r, depth + 1);
      return o;
    }
  }
}

function randomEvent(r: () => number): string {
  const o = randomValue(r, 1) as Record<string, unknown>;
  const ev: Record<string, unknown> =
    typeof o === 'object' && o !== null && !Array.isArray(o) ? o : { v: o };
  const idChoice = Math.floor(r() * 8);
  if (idChoice === 0) ev.event_id = `id-${Math.floor(r() * 1000)}`;
  if (idChoice === 1) ev.event_id = Math.floor(r() * 1e9);
  if (idChoice === 2) ev.event_id = randomValue(r, 4);
  if (idChoice === 3) ev.event_id = 'é\u0000"x';
  let text = JSON.stringify(ev);
  if (r() < 0.2) text = ' \t' + text.replace(/,/g, ' , ').replace(/:/g, ' :\t') + ' \r';
  return text;
}

function mutate(r: () => number, bytes: Uint8Array): Uint8Array {
  const out = Array.from(bytes);
  const edits = 1 + Math.floor(r() * 3);
  const pool = [
    0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a, 0x30, 0x31, 0x2d, 0x2e, 0x65, 0x2b, 0x75, 0x0a,
    0x0d, 0x20, 0x01, 0x6e, 0x74, 0x66,
  ];
  for (let e = 0; e < edits && out.length > 0; e++) {
    const at = Math.floor(r() * out.length);
    const what = r();
    if (what < 0.33) out.splice(at, 1);
    else if (what < 0.66) out.splice(at, 0, pool[Math.floor(r() * pool.length)]);
    else out[at] = pool[Math.floor(r() * pool.length)];
  }
  return Uint8Array.from(out);
}

describe('NDJSON fast path agrees with JSON.parse', () => {
  const cases: [string, string][] = [
    ['leading zero', '{"a":01}'],
    ['bare fraction dot', '{"a":1.}'],
    ['lone minus', '{"a":-}'],
    ['empty exponent', '{"a":1e}'],
    ['exponent sign only', '{"a":1e+}'],
    ['good numbers', '{"a":-0.5e-7,"b":0,"c":10E+2,"d":-0}'],
    ['raw control char', '{"a":"x\u0001"}'],
    ['bad \\u escape', '{"a":"\\u12G4"}'],
    ['bad escape', '{"a":"\\x"}'],
    ['good escapes', '{"a":"\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud800"}'],
    ['truncated literal', '{"a":tru}'],
    ['trailing comma', '{"a":1,}'],
    ['comma only', '{,}'],
    ['missing colon', '{"a" 1}'],
    ['array trailing comma', '{"a":[1,]}'],
    ['array leading comma', '{"a":[,1]}'],
    ['extra close', '{"a":{}}}'],
    ['two objects on a line', '{} {}'],
    ['CR between objects', '{}\r{}'],
    ['not an object', '[1,2]'],
    ['string id', '{"event_id":"x-1","a":1}'],
    ['integer id', '{"event_id":42}'],
    ['integral float id', '{"event_id":1.0}'],
    ['exponent id', '{"event_id":1e3}'],
    ['unsafe integer id', '{"event_id":12345678901234567890}'],
    ['empty id', '{"event_id":""}'],
    ['escaped id', '{"event_id":"\\u0041b"}'],
    ['escaped key', '{"event\\u005fid":"k"}'],
    ['non-ASCII id', '{"event_id":"é€"}'],
    ['null id', '{"event_id":null,"a":1}'],
    ['bool id', '{"event_id":true}'],
    ['object id', '{"event_id":{"x":1}}'],
    ['duplicate id (last wins)', '{"event_id":"a","event_id":"b"}'],
    ['nested event_id is not the id', '{"x":{"event_id":"inner"}}'],
    ['long id', `{"event_id":"${'x'.repeat(300)}"}`],
    ['BOM', '\ufeff{"a":1}\n{"b":2}'],
    ['blank lines and CRLF', '\r\n{"a":1}\r\n\r\n  \t\n{"b":2}\r\n'],
    ['deep nesting', '{"a":' + '['.repeat(2000) + ']'.repeat(2000) + '}'],
    ['unterminated', '{"a":"x'],
    ['whitespace only', ' \n\t\n'],
  ];
  for (const [name, text] of cases) {
    it(name, () => agree(enc.encode(text), name));
  }

  it('takes the fast path for ordinary events (and gets the same answer)', () => {
    const body = enc.encode(
      '{"a":1,"b":"x"}\n{"event_id":"e-2","c":[1,2,{"d":null}]}\n{"event_id":7}\n',
    );
    const fast = scanNdjson(body);
    expect(fast).toBeDefined();
    expect(summary(fast!)).toEqual(summary(parseNdjson(body)));
  });

  it('invalid UTF-8 is left to the slow path, which names the line', () => {
    const body = Uint8Array.from([...enc.encode('{"a":1}\n{"b":"'), 0xff, ...enc.encode('"}\n')]);
    expect(scanNdjson(body)).toBeUndefined();
    expect(parseBody(BodyFormat.Ndjson, body)).toMatchObject({ ok: false, line: 2 });
  });

  // FERRY_FUZZ_BODIES / FERRY_FUZZ_SEED run it longer or differently by hand.
  const bodies = Number(process.env.FERRY_FUZZ_BODIES ?? 3000);
  it(`agrees on ${bodies} generated bodies and ${2 * bodies} mutations of them`, () => {
    const r = rng(Number(process.env.FERRY_FUZZ_SEED ?? 0x5eed));
    let fastTaken = 0;
    for (let n = 0; n < bodies; n++) {
      const lines = Array.from({ length: 1 + Math.floor(r() * 4) }, () => randomEvent(r));
      const body = enc.encode(lines.join(r() < 0.5 ? '\n' : '\r\n') + (r() < 0.5 ? '\n' : ''));
      if (scanNdjson(body) !== undefined) fastTaken++;
      agree(body, `generated #${n}: ${new TextDecoder().decode(body)}`);
      for (let m = 0; m < 2; m++) {
        const bad = mutate(r, body);
        agree(bad, `mutation of #${n}: ${JSON.stringify(new TextDecoder().decode(bad))}`);
      }
    }
    // The fast path must actually carry ordinary traffic, or it is no fast path.
    expect(fastTaken).toBeGreaterThan(bodies / 2);
  });
});
