import { describe, it, expect } from 'vitest';
import {
  renderKey,
  compileKeyTemplate,
  validateKeyTemplate,
  keyMatcher,
  DEFAULT_KEY_TEMPLATE,
  KEY_VARIABLES,
} from '../../src/sinks/keys.js';
import { archiveToRows, ArchiveFormatError } from '../../src/replay/convert.js';
import type { Codec, EncodedBatch } from '../../src/contracts/batch.js';

const batch = (over: Partial<EncodedBatch> = {}, codec: Codec = 'gzip'): EncodedBatch => ({
  id: 'b0c1d2e3',
  createdAt: Date.UTC(2026, 0, 5, 7, 59, 59, 999),
  events: 3,
  archive: { body: new Uint8Array([1]), codec, rawBytes: 1 },
  ...over,
});

describe('key templates', () => {
  it('renders the default template from the batch (UTC), host and codec', () => {
    expect(DEFAULT_KEY_TEMPLATE).toBe('events/dt={date}/hour={hour}/{host}-{batch_id}{ext}');
    expect(renderKey(DEFAULT_KEY_TEMPLATE, batch(), 'edge-1', 'arch')).toBe(
      'events/dt=2026-01-05/hour=07/edge-1-b0c1d2e3.ndjson.gz',
    );
  });

  it('renders every variable', () => {
    const t = KEY_VARIABLES.map((v) => `${v}={${v}}`).join('/');
    expect(renderKey(t, batch(), 'h1', 'arch')).toBe(
      'date=2026-01-05/hour=07/year=2026/month=01/day=05/host=h1/batch_id=b0c1d2e3/ext=.ndjson.gz/sink=arch',
    );
  });

  it('maps each codec to its extension', () => {
    const ext = (c: Codec) => renderKey('{batch_id}{ext}', batch({}, c), 'h', 's');
    expect(['gzip', 'lz4', 'zstd', 'none'].map((c) => ext(c as Codec))).toEqual([
      'b0c1d2e3.ndjson.gz',
      'b0c1d2e3.ndjson.lz4',
      'b0c1d2e3.ndjson.zst',
      'b0c1d2e3.ndjson',
    ]);
  });

  it('uses UTC whatever the local timezone, at the edges of an hour and a year', () => {
    const r = compileKeyTemplate('{date}T{hour}/{batch_id}', 'h', 's');
    expect(r(batch({ createdAt: Date.UTC(2025, 11, 31, 23, 59, 59, 999) }))).toBe(
      '2025-12-31T23/b0c1d2e3',
    );
    expect(r(batch({ createdAt: Date.UTC(2026, 0, 1, 0, 0, 0, 0) }))).toBe(
      '2026-01-01T00/b0c1d2e3',
    );
  });

  it('is deterministic: the same batch always gets the same key, whenever it is rendered', () => {
    const b = batch();
    const keys = new Set(
      Array.from({ length: 50 }, () =>
        renderKey(DEFAULT_KEY_TEMPLATE, structuredClone(b), 'h', 's'),
      ),
    );
    expect(keys.size).toBe(1);
    expect(renderKey(DEFAULT_KEY_TEMPLATE, batch({ id: 'other' }), 'h', 's')).not.toBe(
      [...keys][0],
    );
  });

  it('makes outside values path-safe (a host_id cannot add segments or climb out)', () => {
    const k = renderKey('{host}/{batch_id}', batch(), '../../etc', 's');
    expect(k).toBe('___.._etc/b0c1d2e3');
    expect(k.split('/')).toHaveLength(2);
    expect(renderKey('{host}/{batch_id}', batch(), '..', 's')).toBe('__/b0c1d2e3');
    expect(renderKey('{host}/{batch_id}', batch(), 'a/b c', 's')).toBe('a_b_c/b0c1d2e3');
    expect(renderKey('{sink}/{batch_id}', batch(), 'h', '')).toBe('_/b0c1d2e3');
  });

  it('rejects unknown variables, naming them and listing the known ones', () => {
    expect(() => validateKeyTemplate('x/{dat}/{batch_id}')).toThrow(
      /unknown variable \{dat\}.*\{date\}/,
    );
    expect(() => validateKeyTemplate('{Date}/{batch_id}')).toThrow(/unknown variable \{Date\}/);
    expect(() => validateKeyTemplate('{}/{batch_id}')).toThrow(/unknown variable \{\}/);
  });

  it('rejects unbalanced braces, a missing {batch_id} and non-relative paths', () => {
    expect(() => validateKeyTemplate('x/{date/{batch_id}')).toThrow(/unknown variable|unmatched/);
    expect(() => validateKeyTemplate('x/{batch_id')).toThrow(/unmatched "\{"/);
    expect(() => validateKeyTemplate('x}/{batch_id}')).toThrow(/unmatched "\}"/);
    expect(() => validateKeyTemplate('events/{date}{ext}')).toThrow(/batch_id/);
    expect(() => validateKeyTemplate('/abs/{batch_id}')).toThrow(/relative/);
    expect(() => validateKeyTemplate('a//{batch_id}')).toThrow(/relative/);
    expect(() => validateKeyTemplate('a/../{batch_id}')).toThrow(/relative/);
    expect(() => validateKeyTemplate('a/./{batch_id}')).toThrow(/relative/);
    expect(() => validateKeyTemplate('{batch_id}/')).toThrow(/relative/);
    expect(() => validateKeyTemplate('')).toThrow(/empty/);
  });

  it('accepts sensible templates', () => {
    for (const t of [
      DEFAULT_KEY_TEMPLATE,
      '{batch_id}',
      '{sink}/{year}/{month}/{day}/{hour}/{host}.{batch_id}{ext}',
      'x.y/{batch_id}.ndjson',
    ]) {
      expect(() => validateKeyTemplate(t)).not.toThrow();
    }
  });
});

describe('keyMatcher (replay reads keys back)', () => {
  const batch = (codec: Codec, createdAt: number): EncodedBatch => ({
    id: 'abc123',
    createdAt,
    events: 1,
    archive: { body: new Uint8Array(0), codec, rawBytes: 0 },
  });
  it('reads date, hour, codec and batch id back from what the template rendered', () => {
    const t = Date.UTC(2026, 10, 23, 7, 42);
    for (const template of [
      DEFAULT_KEY_TEMPLATE,
      '{sink}/{year}/{month}/{day}/{hour}/{host}.{batch_id}{ext}',
    ]) {
      for (const codec of ['gzip', 'lz4', 'zstd', 'none'] as Codec[]) {
        const key = renderKey(template, batch(codec, t), 'edge-1', 'archive');
        expect(keyMatcher(template)(key), key).toEqual({
          periodStart: Date.UTC(2026, 10, 23, 7),
          granularity: 'hour',
          codec,
          batchId: 'abc123',
        });
      }
    }
  });
  it('day granularity without {hour}; undefined for keys the template did not make', () => {
    const m = keyMatcher('x/{date}/{batch_id}{ext}');
    expect(m('x/2026-11-23/b1.ndjson.gz')).toMatchObject({
      periodStart: Date.UTC(2026, 10, 23),
      granularity: 'day',
      codec: 'gzip',
    });
    expect(m('y/2026-11-23/b1.ndjson.gz')).toBeUndefined();
    expect(m('x/2026-11-23/b1.txt')).toBeUndefined();
  });
});

describe('archiveToRows', () => {
  it('cuts the payload out as archived and builds the live row shape', () => {
    const line =
      '{"event_id":"e1","received_at":"2026-11-23T07:42:01.999Z","source":"http","payload":{"a": 1.0,"s":"x\\"y"}}';
    const r = archiveToRows(line + '\n', { keepIds: true });
    expect(r.events).toBe(1);
    expect(r.rows).toBe(
      `{"event_id":"e1","received_at":${Math.floor(Date.UTC(2026, 10, 23, 7, 42, 1) / 1000)},"source":"http","payload":${JSON.stringify('{"a": 1.0,"s":"x\\"y"}')}}\n`,
    );
    expect(r.ids).toEqual([{ id: 'e1', receivedAt: Date.UTC(2026, 10, 23, 7, 42, 1, 999) }]);
  });
  it('refuses lines that are not ferry envelopes', () => {
    expect(() => archiveToRows('{"a":1}\n')).toThrow(ArchiveFormatError);
    expect(() => archiveToRows('{"event_id":"e","payload":{}}\n')).toThrow(/received_at/);
  });
});
