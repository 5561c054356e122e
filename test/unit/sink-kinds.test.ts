import { describe, expect, it } from 'vitest';
import type { BatchLimits } from '../../src/contracts/batch.js';
import type { SinkConfig } from '../../src/config/types.js';
import { partsFor, SINK_KINDS } from '../../src/sinks/kinds.js';
import { Batcher, type SealedBatch } from '../../workers/batcher.js';
import { parseBody } from '../../workers/parse.js';
import { BodyFormat } from '../../src/rings/record.js';

const dir: SinkConfig = {
  type: 'directory',
  name: 'd',
  path: '/tmp/x',
  key_template: '{batch_id}{ext}',
};
const ch = (compress: boolean): SinkConfig =>
  ({
    type: 'clickhouse',
    name: `c${compress}`,
    url: 'http://127.0.0.1:1',
    database: 'db',
    table: 't',
    compress,
  }) as SinkConfig;

describe('sink kinds: which parts the workers build', () => {
  it('a sink kind declares the part it takes', () => {
    expect(SINK_KINDS.directory.part(dir as never)).toEqual({ takes: 'archive' });
    expect(SINK_KINDS.clickhouse.part(ch(true) as never)).toEqual({ takes: 'rows', codec: 'gzip' });
    expect(SINK_KINDS.clickhouse.part(ch(false) as never)).toEqual({
      takes: 'rows',
      codec: 'none',
    });
  });

  it('parts follow the configured sinks', () => {
    expect(partsFor([dir])).toEqual({ archive: true, rows: false, compressRows: false });
    expect(partsFor([ch(false)])).toEqual({ archive: false, rows: true, compressRows: false });
    expect(partsFor([dir, ch(true)])).toEqual({ archive: true, rows: true, compressRows: true });
  });

  it('a key template the directory sink cannot render is a problem at its key', () => {
    expect(SINK_KINDS.directory.check({ ...dir, key_template: '{nope}' } as never)).toEqual([
      { key: 'key_template', message: expect.stringMatching(/nope/) },
    ]);
    expect(SINK_KINDS.directory.check(dir as never)).toEqual([]);
  });

  it('a ClickHouse-only node builds rows and no archive, and seals by the rows it built', () => {
    const limits: BatchLimits = {
      maxEvents: 1_000_000,
      maxBytes: 200,
      maxAgeMs: 60_000,
      codec: 'none',
      level: 0,
      archive: false,
      rows: true,
      compressRows: false,
    };
    const sealed: SealedBatch[] = [];
    const b = new Batcher(limits, (s) => sealed.push(s));
    const body = Array.from(
      { length: 10 },
      (_, i) => `{"event_id":"e${i}","msg":"${'x'.repeat(40)}"}`,
    ).join('\n');
    const parsed = parseBody(BodyFormat.Ndjson, new TextEncoder().encode(body));
    if (!parsed.ok) throw new Error(parsed.message);
    b.appendRequest(1, parsed.events, Date.now(), 'http');
    b.sealIfDue(Date.now(), true);
    expect(sealed.length).toBeGreaterThan(1); // 10 rows of ~110 B each over a 200 B limit
    expect(sealed.every((s) => s.batch.archive === undefined && s.batch.rows !== undefined)).toBe(
      true,
    );
    expect(sealed.reduce((n, s) => n + s.batch.events, 0)).toBe(10);
  });
});
