import { describe, it, expect } from 'vitest';
import { parseBulk, indexNameError } from '../../workers/bulk-parse.js';
import { sha256Hex } from '../../workers/event-id.js';
import { eventText } from '../../workers/parse.js';
import { decodeBulkPrefix, encodeBulkPrefix } from '../../src/sources/bulk/prefix.js';
import { parseFilterPath, filterValue } from '../../src/sources/bulk/filter-path.js';
import { bearerCandidates } from '../../src/sources/bulk/credentials.js';
import { renderBulkAnswer, wrapBulkAnswer } from '../../workers/bulk-answer.js';

const enc = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | string) => (typeof b === 'string' ? b : new TextDecoder().decode(b));
const nd = (...lines: unknown[]) =>
  enc(`${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`);

describe('parseBulk (the worker side of the _bulk door)', () => {
  it('each document is judged by its own action line and index, when lines repeat and when they change', () => {
    const same = '{"index":{"_index":"ok"}}';
    const r = parseBulk(
      nd(
        same,
        { m: 1 },
        same,
        { m: 2 },
        '{"index":{"_index":"Bad"}}',
        { m: 3 },
        same,
        { m: 4 },
        '{"index":{"_index":"Bad","_id":"b2"}}',
        { m: 5 },
        '{"index":{"_index":"ok","_id":"o"}}',
        { m: 6 },
        '{"index":{"_index":"ok"}} ',
        { m: 7 },
        '{"create":{"_index":"ok"}}',
        { m: 8 },
      ),
      undefined,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items.map((i) => [i.op, i.index, i.status])).toEqual([
      ['index', 'ok', 201],
      ['index', 'ok', 201],
      ['index', 'Bad', 400],
      ['index', 'ok', 201],
      ['index', 'Bad', 400],
      ['index', 'ok', 201],
      ['index', 'ok', 201],
      ['create', 'ok', 201],
    ]);
    expect(r.items[2].type).toBe('invalid_index_name_exception');
    expect(r.events.map((e) => eventText(e))).toEqual(
      [1, 2, 4, 6, 7, 8].map((m) => JSON.stringify({ m })),
    );
    expect(r.events[3].id).toBe('o');
  });

  it('index/create become events: _id → event_id, else the payload event_id, else the sha256 of the bytes', () => {
    const r = parseBulk(
      nd(
        { index: { _index: 'a', _id: 'x1' } },
        { m: 1, event_id: 'ignored-when-_id' },
        { create: {} },
        { m: 2, event_id: 'own' },
        { index: { _id: 42 } },
        '  {"m":3}  \r',
      ),
      'dflt',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events.map((e) => [e.id, e.index, eventText(e)])).toEqual([
      ['x1', 'a', '{"m":1,"event_id":"ignored-when-_id"}'],
      ['own', 'dflt', '{"m":2,"event_id":"own"}'],
      ['42', 'dflt', '{"m":3}'],
    ]);
    expect(r.items.map((i) => [i.op, i.index, i.id, i.status])).toEqual([
      ['index', 'a', 'x1', 201],
      ['create', 'dflt', 'own', 201],
      ['index', 'dflt', '42', 201],
    ]);
    const auto = parseBulk(nd({ index: {} }, { m: 4 }), 'd');
    expect(auto.ok && auto.events[0].id).toBe(sha256Hex('{"m":4}'));
  });

  it('update and delete are failed items (the update source line is consumed), never dropped', () => {
    const r = parseBulk(
      nd({ update: { _id: '1' } }, { doc: {} }, { delete: { _id: '2' } }, { index: {} }, { ok: 1 }),
      'i',
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items.map((i) => [i.op, i.status, i.type])).toEqual([
      ['update', 400, 'illegal_argument_exception'],
      ['delete', 400, 'illegal_argument_exception'],
      ['index', 201, undefined],
    ]);
    expect(r.events).toHaveLength(1);
  });

  it('per-item failures: bad JSON, not an object, too deep, bad index names, bad _id, bad UTF-8', () => {
    const deep = `${'{"a":'.repeat(600)}1${'}'.repeat(600)}`;
    const body = new Uint8Array([
      ...nd(
        { index: {} },
        '{bad',
        { index: {} },
        '"str"',
        { index: {} },
        deep,
        { index: { _index: 'UP' } },
        {},
        { index: { _index: '_x' } },
        {},
        { index: { _id: '' } },
        {},
        { index: { _id: 'x'.repeat(300) } },
        {},
        { index: {} },
      ),
      ...enc('{"s":"'),
      0xff,
      ...enc('"}\n'),
    ]);
    const r = parseBulk(body, 'i');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.events).toHaveLength(0);
    expect(r.items.map((i) => [i.status, i.type])).toEqual([
      [400, 'document_parsing_exception'],
      [400, 'document_parsing_exception'],
      [400, 'document_parsing_exception'],
      [400, 'invalid_index_name_exception'],
      [400, 'invalid_index_name_exception'],
      [400, 'illegal_argument_exception'],
      [400, 'illegal_argument_exception'],
      [400, 'document_parsing_exception'],
    ]);
    expect(r.items[2].reason).toMatch(/deeper than 512/);
    expect(r.items[7].reason).toMatch(/invalid UTF-8/);
  });

  it('whole-request refusals, worded as Elasticsearch words them', () => {
    const cases: [Uint8Array, string | undefined, string, RegExp][] = [
      [enc(''), 'i', 'action_request_validation_exception', /no requests added/],
      [enc('{"index":{}}\n{}'), 'i', 'illegal_argument_exception', /terminated by a newline/],
      [nd('{"index":'), 'i', 'illegal_argument_exception', /Malformed action\/metadata line \[1\]/],
      [nd('[]'), 'i', 'illegal_argument_exception', /expected START_OBJECT/],
      [nd({ index: {}, create: {} }), 'i', 'illegal_argument_exception', /expected END_OBJECT/],
      [nd({ index: 1 }), 'i', 'illegal_argument_exception', /expected START_OBJECT/],
      [nd({ frob: {} }), 'i', 'illegal_argument_exception', /but found \[frob\]/],
      [nd({ index: {} }, {}), undefined, 'action_request_validation_exception', /index is missing/],
      [nd({ index: {} }), 'i', 'illegal_argument_exception', /no source line/],
      [nd('', '  '), 'i', 'action_request_validation_exception', /no requests added/],
    ];
    for (const [body, index, type, reason] of cases) {
      const r = parseBulk(body, index);
      expect(r.ok, new TextDecoder().decode(body)).toBe(false);
      if (r.ok) continue;
      expect(r.type).toBe(type);
      expect(r.reason).toMatch(reason);
    }
    // A malformed line after a missing index: the parse error wins, as in Elasticsearch.
    const both = parseBulk(nd({ index: {} }, {}, 'nope'), undefined);
    expect(!both.ok && both.type).toBe('illegal_argument_exception');
  });

  it('action lines read from the bytes (compact) and by JSON.parse (any other spelling) agree', () => {
    const doc = { m: 1 };
    const forms = [
      [{ index: { _index: 'a', _id: 'x' } }, '{ "index" : { "_index" : "a", "_id" : "x" } }'],
      [{ create: { _id: 'x', _index: 'a' } }, '{"create":{"_id":"x","_index":"a","pipeline":"p"}}'],
      [{ index: { _index: 'ü' } }, '{"index":{"_index":"\\u00fc"}}'],
      [{ index: {} }, '{"index":{ }}'],
      [{ index: { _id: '' } }, '{"index":{"_id":"", "x":1}}'],
      // A repeated key is left to JSON.parse (the last one wins).
      [
        { index: { _index: 'b', _id: 'ключ/é' } },
        '{"index":{"_index":"a","_index":"b","_id":"ключ/é"}}',
      ],
    ] as const;
    for (const [compact, spelled] of forms) {
      const a = parseBulk(nd(compact, doc), 'd');
      const b = parseBulk(nd(spelled, doc), 'd');
      expect(
        a.ok && a.items.map(({ op, index, id, status, type }) => [op, index, id, status, type]),
      ).toEqual(
        b.ok && b.items.map(({ op, index, id, status, type }) => [op, index, id, status, type]),
      );
    }
  });

  it('an _id read from the bytes is answered as it came; index changes between lines are followed', () => {
    const ids = ['plain', 'ключ-é', "a/b'<c>", 'del\x7f', 'ls\u2028ps\u2029', '☃'.repeat(40)];
    const index = (k: number) => ['a', 'b', 'a'][k % 3];
    const lines = ids.flatMap((id, k) => [{ index: { _index: index(k), _id: id } }, { k }]);
    const r = parseBulk(nd(...lines), undefined);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.items.map((i) => [i.index, i.id, i.plainId])).toEqual(
      ids.map((id, k) => [index(k), id, true]),
    );
    expect(r.events.map((e) => e.id)).toEqual(ids);
    const answer = JSON.parse(text(wrapBulkAnswer(renderBulkAnswer(r.items), 1)));
    expect(answer.items.map((i: { index: { _id: string; _index: string } }) => i.index)).toEqual(
      ids.map((id, k) => expect.objectContaining({ _id: id, _index: index(k) })),
    );
    // An id JSON.parse had to unescape is escaped again in the answer.
    const esc = parseBulk(nd('{"index":{"_index":"a","_id":"q\\"x"}}', { k: 1 }), undefined);
    expect(esc.ok && esc.items[0].plainId).toBe(false);
    const a2 = JSON.parse(text(wrapBulkAnswer(renderBulkAnswer(esc.ok ? esc.items : []), 1)));
    expect(a2.items[0].index._id).toBe('q"x');
  });

  it('index names by Elasticsearch rules', () => {
    expect(indexNameError('logs-2024.01.01')).toBeUndefined();
    expect(indexNameError('.hidden')).toBeUndefined();
    expect(indexNameError('A')).toMatch(/lowercase/);
    for (const bad of ['a b', 'a,b', 'a#b', 'a:b', 'a*', 'a/b', '-a', '+a', '_a', '.', '..', ''])
      expect(indexNameError(bad), bad).toBeDefined();
    expect(indexNameError('a'.repeat(256))).toMatch(/too long/);
  });
});

describe('the _bulk record prefix', () => {
  it('carries the URL index and filter_path outside the (possibly compressed) body', () => {
    for (const o of [
      {},
      { index: 'logs' },
      { index: 'ü-idx', filterPath: 'items.*.status' },
      { filterPath: 'x'.repeat(300) },
    ]) {
      const p = encodeBulkPrefix(o);
      const rec = new Uint8Array([...p, 1, 2, 3]);
      const d = decodeBulkPrefix(rec);
      expect(d.options).toEqual(o);
      expect([...d.rest]).toEqual([1, 2, 3]);
    }
    expect(() => encodeBulkPrefix({ index: 'a'.repeat(256) })).toThrow(RangeError);
    expect(() => encodeBulkPrefix({ filterPath: 'a'.repeat(5000) })).toThrow(RangeError);
  });
});

describe('filter_path', () => {
  const answer = {
    took: 3,
    errors: true,
    items: [
      { index: { _index: 'a', _id: '1', status: 201, result: 'created' } },
      { delete: { _index: 'a', _id: '2', status: 400, error: { type: 't', reason: 'r' } } },
    ],
  };
  it('selects as Elasticsearch does (arrays transparent, * and **)', () => {
    const f = (s: string) => filterValue(answer, parseFilterPath(s)!);
    expect(f('errors,items.*.error,items.*.status')).toEqual({
      errors: true,
      items: [
        { index: { status: 201 } },
        { delete: { status: 400, error: { type: 't', reason: 'r' } } },
      ],
    });
    expect(f('items.*._id')).toEqual({
      items: [{ index: { _id: '1' } }, { delete: { _id: '2' } }],
    });
    expect(f('**.type')).toEqual({ items: [{ delete: { error: { type: 't' } } }] });
    expect(f('took')).toEqual({ took: 3 });
    expect(f('nothing')).toBeUndefined();
    expect(f('items.*.res*')).toEqual({ items: [{ index: { result: 'created' } }] });
  });
  it('renders the answer with and without it (took added last, by the main thread)', () => {
    const items = [
      { op: 'index' as const, index: 'a', id: '1', status: 201 },
      { op: 'delete' as const, index: 'a', id: '2', status: 400, type: 't', reason: 'r' },
    ];
    const a = renderBulkAnswer(items);
    expect(a.counts).toEqual({ 'index 201': 1, 'delete 400': 1 });
    const full = JSON.parse(text(wrapBulkAnswer(a, 5)));
    expect(full.took).toBe(5);
    expect(full.errors).toBe(true);
    expect(full.items[0].index).toMatchObject({
      _index: 'a',
      _id: '1',
      status: 201,
      result: 'created',
      _version: 1,
    });
    expect(full.items[1].delete).toEqual({
      _index: 'a',
      _id: '2',
      status: 400,
      error: { type: 't', reason: 'r' },
    });
    expect(JSON.parse(text(wrapBulkAnswer(renderBulkAnswer(items, 'errors'), 5)))).toEqual({
      errors: true,
    });
    expect(
      JSON.parse(text(wrapBulkAnswer(renderBulkAnswer(items, 'took,items.*.status'), 7))),
    ).toEqual({
      took: 7,
      items: [{ index: { status: 201 } }, { delete: { status: 400 } }],
    });
    expect(JSON.parse(text(wrapBulkAnswer(renderBulkAnswer(items, 'nothing'), 7)))).toEqual({});
    expect(JSON.parse(text(wrapBulkAnswer(renderBulkAnswer([items[0]]), 1))).errors).toBe(false);
    expect(text(wrapBulkAnswer(renderBulkAnswer([items[0]]), 1, true))).toContain('\n  "took": 1');
  });
  it('writes the answer as UTF-8 bytes: a multi-byte index name or reason comes out whole', () => {
    const items = [
      { op: 'index' as const, index: 'журнал-☃', id: 'é1', status: 201 },
      {
        op: 'update' as const,
        index: 'журнал-☃',
        id: '2',
        status: 400,
        type: 't',
        reason: 'ünïcödé "quoted"',
      },
    ];
    const bytes = wrapBulkAnswer(renderBulkAnswer(items), 12);
    const answer = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
    expect(answer.took).toBe(12);
    expect(answer.items[0].index).toMatchObject({ _index: 'журнал-☃', _id: 'é1' });
    expect(answer.items[1].update.error.reason).toBe('ünïcödé "quoted"');
    expect(bytes[bytes.length - 1]).toBe(0x7d);
    // Nothing kept but took: no dangling comma.
    expect(text(wrapBulkAnswer(renderBulkAnswer(items, 'took'), 3))).toBe('{"took":3}');
  });
});

describe('Elasticsearch credentials → ferry bearer tokens', () => {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  it('Bearer, ApiKey (as sent, then the key of base64 id:key), Basic (the password)', () => {
    expect(bearerCandidates('Bearer fry_abc')).toEqual(['Bearer fry_abc']);
    expect(bearerCandidates('ApiKey fry_abc')).toEqual(['Bearer fry_abc']);
    expect(bearerCandidates(`ApiKey ${b64('id1:fry_abc')}`)).toEqual([
      `Bearer ${b64('id1:fry_abc')}`,
      'Bearer fry_abc',
    ]);
    expect(bearerCandidates(`Basic ${b64('elastic:fry_abc')}`)).toEqual(['Bearer fry_abc']);
    expect(bearerCandidates(`Basic ${b64('elastic:pa:ss')}`)).toEqual(['Bearer pa:ss']);
    expect(bearerCandidates(undefined)).toEqual([]);
    expect(bearerCandidates('Digest x')).toEqual([]);
    expect(bearerCandidates(`Basic ${b64('nopassword')}`)).toEqual([]);
  });
});
