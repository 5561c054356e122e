import { describe, it, expect } from 'vitest';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deliver, backoffDelay } from '../../src/sinks/retry.js';
import { renderKey, validateKeyTemplate } from '../../src/sinks/keys.js';
import { DirectorySink } from '../../src/sinks/directory.js';
import { SinkError, type Sink } from '../../src/sinks/sink.js';
import type { EncodedBatch } from '../../src/pipeline/batch.js';
import type { RetryConfig } from '../../src/config/types.js';

const batch = (id = 'abc123', body = 'x\n'): EncodedBatch => ({
  id,
  createdAt: Date.UTC(2026, 10, 23, 7, 5, 0),
  events: 1,
  archive: { body: Buffer.from(body), codec: 'gzip', rawBytes: body.length },
  rows: { body: Buffer.from(body), codec: 'none', rawBytes: body.length },
});
const policy: RetryConfig = { initial_ms: 1, max_ms: 8, max_elapsed_ms: 2000, attempt_timeout_ms: 1000 };

/** An in-memory sink that fails a scripted number of times (no server needed for retry logic). */
function flaky(failures: SinkError[]): Sink & { calls: number } {
  return {
    name: 'fake', type: 'directory', calls: 0,
    async write() {
      const e = failures[this.calls++];
      if (e) throw e;
      return { location: 'ok' };
    },
    async probe() {}, async close() {},
  };
}
const retryable = () => new SinkError('503', { retryable: true, status: 503, errorClass: 'http_5xx' });

describe('retry', () => {
  it('backoff grows exponentially, is capped, and is fully jittered', () => {
    const p = { ...policy, initial_ms: 100, max_ms: 1000 };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(p, a, () => 1))).toEqual([100, 200, 400, 800, 1000]);
    expect(backoffDelay(p, 3, () => 0)).toBe(0);
    expect(backoffDelay(p, 40, () => 0.5)).toBe(500);
  });

  it('retries retryable errors until success', async () => {
    const s = flaky([retryable(), retryable()]);
    const retries: number[] = [];
    expect(await deliver(s, batch(), policy, { onRetry: (_e, a) => retries.push(a) })).toEqual({ location: 'ok' });
    expect(s.calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('does not retry a permanent error', async () => {
    const s = flaky([new SinkError('400', { retryable: false, status: 400, errorClass: 'http_4xx' })]);
    await expect(deliver(s, batch(), policy)).rejects.toMatchObject({ retryable: false, status: 400 });
    expect(s.calls).toBe(1);
  });

  it('gives up after max_elapsed_ms', async () => {
    const s = flaky(Array.from({ length: 1000 }, retryable));
    const t0 = Date.now();
    await expect(deliver(s, batch(), { ...policy, max_elapsed_ms: 100 })).rejects.toMatchObject({ retryable: true, message: expect.stringContaining('attempts') });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(s.calls).toBeGreaterThan(3);
  });

  it('stops when the outer signal aborts (shutdown)', async () => {
    const s = flaky(Array.from({ length: 1000 }, retryable));
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    await expect(deliver(s, batch(), { ...policy, max_elapsed_ms: 60000, initial_ms: 20, max_ms: 20 }, { signal: ac.signal })).rejects.toBeInstanceOf(SinkError);
    expect(s.calls).toBeLessThan(10);
  });

  it('an attempt that hangs times out and is retried', async () => {
    let calls = 0;
    const s: Sink = {
      name: 'slow', type: 's3',
      write: (_b, signal) => { calls++; return calls === 1 ? new Promise((_r, rej) => signal!.addEventListener('abort', () => rej(new Error('aborted')))) : Promise.resolve({ location: 'ok' }); },
      async probe() {}, async close() {},
    };
    expect(await deliver(s, batch(), { ...policy, attempt_timeout_ms: 100 })).toEqual({ location: 'ok' });
    expect(calls).toBe(2);
  });
});

describe('key templates', () => {
  it('renders UTC date/hour, host, batch id and codec extension deterministically', () => {
    const t = 'events/dt={date}/hour={hour}/{host}-{batch_id}{ext}';
    expect(renderKey(t, batch(), 'edge-1', 's')).toBe('events/dt=2026-11-23/hour=07/edge-1-abc123.ndjson.gz');
    expect(renderKey(t, batch(), 'edge-1', 's')).toBe(renderKey(t, batch(), 'edge-1', 's'));
    expect(renderKey('{sink}/{year}/{month}/{day}/{batch_id}', batch(), 'h', 'arch')).toBe('arch/2026/11/23/abc123');
  });
  it('rejects unknown variables, missing batch id and escaping paths', () => {
    expect(() => validateKeyTemplate('x/{dat}/{batch_id}')).toThrow(/unknown variable \{dat\}/);
    expect(() => validateKeyTemplate('x/{date}')).toThrow(/batch_id/);
    expect(() => validateKeyTemplate('../{batch_id}')).toThrow(/relative/);
  });
});

describe('directory sink', () => {
  const cfg = (path: string) => ({ type: 'directory' as const, name: 'd', path, key_template: '{date}/{batch_id}{ext}' });

  it('writes the object atomically, overwrites on re-write, leaves no temp files', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ferry-dir-'));
    const s = new DirectorySink(cfg(root), 'h');
    const r = await s.write(batch('b1', 'one\n'));
    expect(r.location).toBe(join(root, '2026-11-23', 'b1.ndjson.gz'));
    await s.write(batch('b1', 'two\n'));
    expect(readFileSync(r.location, 'utf8')).toBe('two\n');
    expect(readdirSync(join(root, '2026-11-23'))).toEqual(['b1.ndjson.gz']);
    await s.probe();
  });

  it('a path it can never write is a permanent error', async () => {
    // A regular file where the sink's directory should be: ENOTDIR, whoever runs the test (root ignores modes).
    const root = mkdtempSync(join(tmpdir(), 'ferry-dir-'));
    writeFileSync(join(root, 'blocker'), '');
    await expect(new DirectorySink(cfg(join(root, 'blocker')), 'h').write(batch())).rejects.toMatchObject({ retryable: false, errorClass: 'fs_enotdir' });
  });
});
