import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CompressionCodecs, CompressionTypes } from 'kafkajs';
import {
  registerKafkaCodecs,
  KAFKA_MAX_DECOMPRESSED_BYTES,
} from '../../src/sources/kafka/compression.js';
import { snappyCompress, snappyDecompress } from '../../src/codecs/snappy.js';
import { CodecError } from '../../src/codecs/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const XRT = join(import.meta.dirname, 'fixtures', 'kafka-codecs-xrt.mjs');
const text = Buffer.from('{"event_id":"e1","payload":{"n":1,"s":"hello"}}\n'.repeat(5000));

interface Codec {
  compress(e: { buffer: Buffer }): Promise<Buffer>;
  decompress(b: Buffer): Promise<Buffer>;
}
const codecOf = (t: CompressionTypes) =>
  (CompressionCodecs as unknown as Record<number, () => Codec>)[t]();

/** snappy-java's SnappyOutputStream framing: header, then u32 BE length + raw block, per block. */
function xerial(blocks: Buffer[]): Buffer {
  const header = Buffer.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
  const parts: Buffer[] = [header];
  for (const b of blocks) {
    const raw = Buffer.from(snappyCompress(b));
    const len = Buffer.alloc(4);
    len.writeUInt32BE(raw.length);
    parts.push(len, raw);
  }
  return Buffer.concat(parts);
}

describe('kafka record-batch codecs', () => {
  registerKafkaCodecs();

  it.each([
    ['gzip', CompressionTypes.GZIP],
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ])('%s round-trips through kafkajs’s codec table', async (_name, type) => {
    const codec = codecOf(type);
    const packed = await codec.compress({ buffer: text });
    expect(packed.length).toBeLessThan(text.length);
    expect(Buffer.compare(await codec.decompress(packed), text)).toBe(0);
  });

  it('snappy: reads xerial-framed blocks (Java producers) as well as raw snappy (librdkafka)', async () => {
    const codec = codecOf(CompressionTypes.Snappy);
    const a = text.subarray(0, 100_000);
    const b = text.subarray(100_000);
    expect(Buffer.compare(await codec.decompress(xerial([a, b])), text)).toBe(0);
    expect(Buffer.compare(await codec.decompress(Buffer.from(snappyCompress(text))), text)).toBe(0);
  });

  it('snappy: a block declaring more than the limit is refused before it is inflated', () => {
    const raw = Buffer.from(snappyCompress(text));
    expect(() => snappyDecompress(raw, 1000)).toThrow(CodecError);
    // A varint preamble claiming 2^32-ish bytes: refused, not allocated.
    const bomb = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00]);
    expect(() => snappyDecompress(bomb, KAFKA_MAX_DECOMPRESSED_BYTES)).toThrow(/limit/);
  });

  it.each([
    ['snappy', CompressionTypes.Snappy],
    ['lz4', CompressionTypes.LZ4],
    ['zstd', CompressionTypes.ZSTD],
  ])('%s: a truncated or garbled batch is a CodecError, not a crash', async (_name, type) => {
    const codec = codecOf(type);
    const packed = await codec.compress({ buffer: text });
    // (snappy has no checksum: garbled literals decode to other bytes, which the record
    // batch's CRC catches; a truncated block is what it can tell.)
    const cut = packed.subarray(0, packed.length >> 1);
    await expect(codec.decompress(cut)).rejects.toBeInstanceOf(CodecError);
    await expect(codec.decompress(Buffer.alloc(64, 0xa5))).rejects.toBeInstanceOf(CodecError);
    await expect(codec.decompress(xerial([text]).subarray(0, 30))).rejects.toBeInstanceOf(
      CodecError,
    );
  });

  for (const [bin, args] of [
    ['node', []],
    ['bun', []],
    ['deno', ['run', '-A']],
  ] as const) {
    const exe = bin === 'node' ? process.execPath : join(ROOT, 'node_modules', '.bin', bin);
    it.skipIf(!existsSync(exe) || !existsSync(join(ROOT, 'dist', 'src', 'sources', 'kafka')))(
      `${bin}: every codec round-trips; the fetch decoder is installed into the kafkajs ferry uses`,
      () => {
        const r = spawnSync(exe, [...args, XRT], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
        expect(r.status, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout.trim().split('\n').pop()!)).toEqual({
          GZIP: true,
          Snappy: true,
          LZ4: true,
          ZSTD: true,
          fetchDecoder: true,
        });
      },
      90_000,
    );
  }
});
