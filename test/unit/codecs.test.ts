import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { compress, decompress, codecAvailable, fileExtension, contentEncoding, CodecError } from '../../src/codecs/index.js';
import type { Codec } from '../../src/pipeline/batch.js';

const data = Buffer.from('{"event_id":"x","payload":"hello"}\n'.repeat(500));
const codecs: Codec[] = (['gzip', 'lz4', 'zstd', 'none'] as Codec[]).filter(codecAvailable);

describe('codecs', () => {
  it.each(codecs)('%s round-trips', (codec) => {
    const c = compress(codec, data);
    if (codec !== 'none') expect(c.byteLength).toBeLessThan(data.byteLength / 5);
    expect(Buffer.compare(Buffer.from(decompress(codec, c, 1 << 20)), data)).toBe(0);
  });

  it('lz4 is the frame format (lz4 CLI compatible)', () => {
    expect(Buffer.from(compress('lz4', data).subarray(0, 4)).readUInt32LE(0)).toBe(0x184d2204);
  });

  it('a gzip bomb stops at the limit without inflating it all', () => {
    const bomb = gzipSync(Buffer.alloc(100 * 1024 * 1024));
    const rss0 = process.memoryUsage().rss;
    expect(() => decompress('gzip', bomb, 1024 * 1024)).toThrow(expect.objectContaining({ code: 'too_large' }));
    expect(process.memoryUsage().rss - rss0).toBeLessThan(50 * 1024 * 1024);
  });

  it('lz4 output over the limit is refused', () => {
    expect(() => decompress('lz4', compress('lz4', data), 100)).toThrow(CodecError);
  });

  it('corrupt input is a clear error', () => {
    for (const codec of codecs.filter((c) => c !== 'none')) {
      expect(() => decompress(codec, Buffer.from('definitely not compressed'), 1 << 20)).toThrow(expect.objectContaining({ code: 'corrupt' }));
    }
  });

  it('names extensions and content encodings', () => {
    expect(['gzip', 'lz4', 'zstd', 'none'].map((c) => fileExtension(c as Codec))).toEqual(['.gz', '.lz4', '.zst', '']);
    expect(contentEncoding('gzip')).toBe('gzip');
    expect(contentEncoding('lz4')).toBeUndefined();
  });

  it('loads and round-trips gzip and lz4 under Bun and Deno (zstd there too)', () => {
    const root = join(import.meta.dirname, '..', '..');
    const script = `import { compress, decompress, codecAvailable } from './dist/src/codecs/index.js';
      const d = new TextEncoder().encode('abc'.repeat(1000)); const out = [];
      for (const c of ['gzip','lz4','zstd']) { if (!codecAvailable(c)) { out.push(c+':unavailable'); continue; }
        const r = decompress(c, compress(c, d), 1e6); out.push(c + ':' + (r.length === d.length)); }
      console.log(out.join(','));`;
    for (const [bin, args] of [['bun', ['-e', script]], ['deno', ['eval', script]]] as const) {
      const r = spawnSync(join(root, 'node_modules', '.bin', bin), [...args], { cwd: root, encoding: 'utf8' });
      expect(r.stdout.trim(), `${bin}: ${r.stderr}`).toBe('gzip:true,lz4:true,zstd:true');
    }
  });
});
