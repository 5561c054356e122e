import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { compressSync as lz4BlockCompress } from 'lz4-napi';
import {
  compress,
  decompress,
  codecAvailable,
  codecUnavailableReason,
  fileExtension,
  contentEncoding,
  codecFromContentEncoding,
  CodecError,
  zstdImplementation,
  CODECS,
} from '../../src/codecs/index.js';
import { xxh32 } from '../../src/codecs/xxh32.js';
import type { Codec } from '../../src/contracts/batch.js';

const ROOT = join(import.meta.dirname, '..', '..');
const XRT = join(import.meta.dirname, 'fixtures', 'codecs-xrt.mjs');
const MB = 1 << 20;

const ndjson = Buffer.from('{"event_id":"x","payload":"hello"}\n'.repeat(500));
/** ~1.5 MB of text that repeats across 64 KiB blocks, with some noise so blocks differ. */
const textual = Buffer.from(
  Array.from(
    { length: 20000 },
    (_, i) =>
      `{"i":${i},"user":"u${i % 97}","path":"/api/v1/items/${(i * 7919) % 1000}","ok":${i % 3 === 0}}\n`,
  ).join(''),
);
const available = CODECS.filter(codecAvailable);
const packed = available.filter((c) => c !== 'none');

function hasCli(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}
function cli(cmd: string, args: string[], input: Uint8Array): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 512 * MB });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}
const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  ) === 0;
const errorCode = (fn: () => unknown): string => {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return (err as CodecError).code ?? `not a CodecError: ${(err as Error).message}`;
  }
};

/** An LZ4 frame put together by hand from native blocks, to reach what compressFrameSync never writes. */
function lz4Frame(
  blocks: Uint8Array[],
  o: {
    bd?: number;
    blockChecksums?: boolean;
    contentChecksum?: boolean;
    contentSize?: number;
    stored?: boolean;
    badHc?: boolean;
  } = {},
): Buffer {
  const flg =
    0x40 |
    0x20 |
    (o.blockChecksums ? 0x10 : 0) |
    (o.contentSize !== undefined ? 0x08 : 0) |
    (o.contentChecksum ? 0x04 : 0);
  const desc = [flg, o.bd ?? 0x40];
  if (o.contentSize !== undefined) {
    const cs = Buffer.alloc(8);
    cs.writeBigUInt64LE(BigInt(o.contentSize));
    desc.push(...cs);
  }
  const hc = (xxh32(Uint8Array.from(desc)) >>> 8) & 0xff;
  const out: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18, ...desc, o.badHc ? hc ^ 1 : hc])];
  for (const b of blocks) {
    const data = o.stored ? Buffer.from(b) : lz4BlockCompress(Buffer.from(b)).subarray(4);
    const size = Buffer.alloc(4);
    size.writeUInt32LE((data.length | (o.stored ? 0x80000000 : 0)) >>> 0);
    out.push(size, data);
    if (o.blockChecksums) {
      const ck = Buffer.alloc(4);
      ck.writeUInt32LE(xxh32(data));
      out.push(ck);
    }
  }
  out.push(Buffer.alloc(4));
  if (o.contentChecksum) {
    const ck = Buffer.alloc(4);
    ck.writeUInt32LE(xxh32(Buffer.concat(blocks)));
    out.push(ck);
  }
  return Buffer.concat(out);
}

describe('codecs: availability and names', () => {
  it('every codec is available on this Node (zstd through node:zlib or the wasm build)', () => {
    for (const c of CODECS)
      expect(codecAvailable(c), `${c}: ${codecUnavailableReason(c)}`).toBe(true);
    expect(['node:zlib', '@bokuweb/zstd-wasm']).toContain(zstdImplementation);
    expect(codecUnavailableReason('gzip')).toBeUndefined();
    expect(codecAvailable('brotli' as Codec)).toBe(false);
  });

  it('names extensions and content encodings', () => {
    expect(CODECS.map(fileExtension)).toEqual(['.gz', '.lz4', '.zst', '']);
    expect(CODECS.map(contentEncoding)).toEqual(['gzip', undefined, 'zstd', undefined]);
  });

  it('maps Content-Encoding headers to codecs', () => {
    const cases: [string | undefined | null, Codec | 'unsupported'][] = [
      [undefined, 'none'],
      [null, 'none'],
      ['', 'none'],
      ['identity', 'none'],
      [' Identity ', 'none'],
      ['gzip', 'gzip'],
      ['GZIP', 'gzip'],
      ['x-gzip', 'gzip'],
      ['gzip, identity', 'gzip'],
      ['zstd', 'zstd'],
      ['lz4', 'lz4'],
      ['br', 'unsupported'],
      ['deflate', 'unsupported'],
      ['gzip, zstd', 'unsupported'],
      ['gzip, gzip', 'unsupported'],
      ['gzip;q=1', 'unsupported'],
    ];
    for (const [h, want] of cases) expect(codecFromContentEncoding(h), String(h)).toBe(want);
  });
});

describe('codecs: round trips', () => {
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one byte', Uint8Array.of(42)],
    ['ndjson', ndjson],
    ['1.5 MB of text', textual],
    ['300 KB random', randomBytes(300 * 1024)],
    ['a view into a larger buffer', textual.subarray(12345, 200000)],
    [
      'a view into a SharedArrayBuffer',
      (() => {
        const v = new Uint8Array(new SharedArrayBuffer(ndjson.length + 64), 32, ndjson.length);
        v.set(ndjson);
        return v;
      })(),
    ],
  ];
  for (const codec of available) {
    it(`${codec}`, () => {
      for (const [name, data] of inputs) {
        const c = compress(codec, data);
        expect(same(decompress(codec, c, 4 * MB), data), `${codec} ${name}`).toBe(true);
      }
      if (codec !== 'none')
        expect(compress(codec, ndjson).byteLength).toBeLessThan(ndjson.byteLength / 5);
    });
  }

  it('random inputs round-trip in every codec (property)', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.constantFrom(...available),
        (data, codec) => {
          expect(same(decompress(codec, compress(codec, data), data.length), data)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('levels: higher compresses smaller; bad levels are refused', () => {
    expect(compress('gzip', textual, 9).byteLength).toBeLessThan(
      compress('gzip', textual, 1).byteLength,
    );
    const part = textual.subarray(0, 200_000);
    expect(compress('zstd', part, 19).byteLength).toBeLessThan(
      compress('zstd', part, 1).byteLength,
    );
    expect(same(decompress('zstd', compress('zstd', part, 19), MB), part)).toBe(true);
    expect(() => compress('gzip', textual, 0)).toThrow(RangeError);
    expect(() => compress('gzip', textual, 10)).toThrow(RangeError);
    expect(() => compress('zstd', textual, 23)).toThrow(RangeError);
    expect(() => compress('zstd', textual, 2.5)).toThrow(RangeError);
  });

  it('none passes bytes through, within the limit', () => {
    expect(compress('none', ndjson)).toBe(ndjson);
    expect(decompress('none', ndjson, ndjson.length)).toBe(ndjson);
    expect(errorCode(() => decompress('none', ndjson, ndjson.length - 1))).toBe('too_large');
  });
});

describe('codecs: lz4 frame format', () => {
  it('writes the frame format: magic 0x184D2204, version 01, independent 4 MiB blocks, no content checksum', () => {
    const c = Buffer.from(compress('lz4', ndjson));
    expect(c.readUInt32LE(0)).toBe(0x184d2204);
    expect(c[4]).toBe(0x60);
    expect(c[5]).toBe(0x70);
    expect(c.readUInt32LE(c.length - 4)).toBe(0); // ends with the end mark
  });

  it('splits input over 4 MiB into blocks and stores incompressible blocks as they are', () => {
    const noise = randomBytes(5 * MB);
    const mixed = Buffer.concat([noise, Buffer.from(textual), Buffer.alloc(4 * MB, 'x')]);
    const c = Buffer.from(compress('lz4', mixed));
    // First block: 4 MiB of noise, stored (high bit set), then the rest compressed.
    expect(c.readUInt32LE(7)).toBe((0x80000000 | (4 << 20)) >>> 0);
    expect(same(decompress('lz4', c, 16 * MB), mixed)).toBe(true);
    expect(same(decompress('lz4', compress('lz4', new Uint8Array(0)), 1), new Uint8Array(0))).toBe(
      true,
    );
  });

  it('XXH32 matches the reference vectors', () => {
    expect(xxh32(new Uint8Array(0))).toBe(0x02cc5d05);
    expect(xxh32(Buffer.from('a'))).toBe(0x550d7456);
    expect(xxh32(Buffer.from('abc'))).toBe(0x32d153ff);
    // longer inputs (the 16-byte stripe loop) are checked against the lz4 CLI's checksums below
  });

  it('reads hand-made frames: stored blocks, block and content checksums, content size, linked-free 4 MiB blocks', () => {
    const blocks = [
      textual.subarray(0, 60000),
      textual.subarray(60000, 120000),
      textual.subarray(120000, 130000),
    ];
    const whole = Buffer.concat(blocks);
    for (const o of [
      {},
      { stored: true },
      { blockChecksums: true },
      { contentChecksum: true },
      { contentSize: whole.length },
      { bd: 0x70, blockChecksums: true, contentChecksum: true, contentSize: whole.length },
    ]) {
      expect(same(decompress('lz4', lz4Frame(blocks, o), MB), whole), JSON.stringify(o)).toBe(true);
    }
    expect(decompress('lz4', lz4Frame([]), 10).byteLength).toBe(0);
  });

  it('reads concatenated frames and skips skippable frames, as the CLI does', () => {
    const a = compress('lz4', textual.subarray(0, 1000));
    const b = compress('lz4', textual.subarray(1000, 5000));
    const skippable = Buffer.concat([
      Buffer.from([0x5a, 0x2a, 0x4d, 0x18, 3, 0, 0, 0]),
      Buffer.from('abc'),
    ]);
    expect(
      same(
        decompress('lz4', Buffer.concat([skippable, a, skippable, b]), MB),
        textual.subarray(0, 5000),
      ),
    ).toBe(true);
  });

  it('many tiny blocks in a frame announcing 4 MiB blocks decode without reserving 4 MiB each', () => {
    const blocks = Array.from({ length: 5000 }, (_, i) => Buffer.from(`block ${i} `.repeat(3)));
    const frame = lz4Frame(blocks, { bd: 0x70 });
    const rss0 = process.memoryUsage().rss;
    const t0 = performance.now();
    expect(same(decompress('lz4', frame, 10 * MB), Buffer.concat(blocks))).toBe(true);
    expect(performance.now() - t0).toBeLessThan(5000);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(500 * MB);
  });

  describe.skipIf(!hasCli('lz4'))('with the lz4 CLI', () => {
    it('the CLI reads what we write', () => {
      const multiBlock = Buffer.concat([
        randomBytes(5 * MB),
        Buffer.from(textual),
        Buffer.alloc(4 * MB, 'x'),
      ]);
      for (const data of [textual, ndjson, new Uint8Array(0), multiBlock])
        expect(same(cli('lz4', ['-d', '-c'], compress('lz4', data)), data)).toBe(true);
    });

    it('we read what the CLI writes: default, linked blocks, block checksums, content size, small blocks, no checksum, -9', () => {
      const variants = [
        [],
        ['-BD'],
        ['-BX'],
        ['--content-size'],
        ['-B4'],
        ['-B5', '-BD', '-BX'],
        ['--no-frame-crc'],
        ['-9', '-BD'],
        ['-1', '-B6'],
      ];
      for (const flags of variants) {
        const framed = cli('lz4', ['-c', ...flags], textual);
        expect(framed.readUInt32LE(0)).toBe(0x184d2204);
        expect(same(decompress('lz4', framed, 4 * MB), textual), flags.join(' ')).toBe(true);
      }
    });

    it('a CLI-made bomb (100 MB of zeros, linked 4 MiB blocks) stops at the limit', () => {
      const bomb = cli(
        'sh',
        ['-c', 'head -c 104857600 /dev/zero | lz4 -c -B7 -BD'],
        new Uint8Array(0),
      );
      expect(bomb.length).toBeLessThan(MB);
      const t0 = performance.now();
      expect(errorCode(() => decompress('lz4', bomb, MB))).toBe('too_large');
      expect(performance.now() - t0).toBeLessThan(2000);
      expect(same(decompress('lz4', bomb, 100 * MB), new Uint8Array(100 * MB))).toBe(true); // and it is valid
    });
  });
});

describe('codecs: decompression limits (zip bombs)', () => {
  const zeros = new Uint8Array(100 * MB);
  const bombs: Record<string, () => Uint8Array> = {
    gzip: () => gzipSync(zeros),
    lz4: () => compress('lz4', zeros),
    zstd: () => compress('zstd', zeros),
  };

  for (const codec of packed) {
    it(`${codec}: 100 MB of zeros, limit 1 MB → too_large, without inflating it all`, () => {
      const bomb = bombs[codec]();
      expect(bomb.byteLength).toBeLessThan(MB);
      const before = process.memoryUsage();
      const t0 = performance.now();
      expect(errorCode(() => decompress(codec, bomb, MB))).toBe('too_large');
      const after = process.memoryUsage();
      expect(performance.now() - t0).toBeLessThan(1000);
      expect(after.rss - before.rss).toBeLessThan(40 * MB);
      expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(40 * MB);
    });
  }

  it('gzip: a multi-member bomb (100 × 1 MB of zeros) stops at the limit too', () => {
    const member = gzipSync(new Uint8Array(MB));
    const bomb = Buffer.concat(Array(100).fill(member));
    expect(errorCode(() => decompress('gzip', bomb, 10 * MB))).toBe('too_large');
    expect(decompress('gzip', Buffer.concat([member, member]), 2 * MB).byteLength).toBe(2 * MB);
  });

  it('lz4: a declared content size over the limit is refused before any block is decoded', () => {
    const frame = lz4Frame([Buffer.from('tiny')], { contentSize: 2 ** 40 });
    expect(errorCode(() => decompress('lz4', frame, MB))).toBe('too_large');
  });

  it('the limit is exact: output of exactly the limit passes, one byte less fails', () => {
    for (const codec of available) {
      const c = compress(codec, textual);
      expect(decompress(codec, c, textual.length).byteLength).toBe(textual.length);
      expect(
        errorCode(() => decompress(codec, c, textual.length - 1)),
        codec,
      ).toBe('too_large');
    }
  });

  it.skipIf(!hasCli('zstd'))('zstd: a streamed frame (no content size) stops at the limit', () => {
    const bomb = cli('sh', ['-c', 'head -c 104857600 /dev/zero | zstd -c -q'], new Uint8Array(0));
    expect(bomb[4] >> 6).toBe(0); // no Frame_Content_Size
    expect(errorCode(() => decompress('zstd', bomb, MB))).toBe('too_large');
    expect(decompress('zstd', bomb, 100 * MB).byteLength).toBe(100 * MB);
  });
});

describe('codecs: corrupt input', () => {
  for (const codec of packed) {
    it(`${codec}: garbage, truncation and empty input are corrupt (CodecError)`, () => {
      const good = compress(codec, textual);
      const cases: [string, Uint8Array][] = [
        ['garbage', Buffer.from('definitely not compressed, not at all')],
        ['truncated', good.subarray(0, good.length >> 1)],
        ['cut short by one byte', good.subarray(0, good.length - 1)],
        ['empty', new Uint8Array(0)],
        [
          'plain text with the right magic',
          Buffer.concat([good.subarray(0, 4), Buffer.from('x'.repeat(100))]),
        ],
      ];
      for (const [name, data] of cases) {
        let err: unknown;
        try {
          decompress(codec, data, 4 * MB);
        } catch (e) {
          err = e;
        }
        expect(err, `${codec} ${name}`).toBeInstanceOf(CodecError);
        expect((err as CodecError).code, `${codec} ${name}`).toBe('corrupt');
        expect((err as CodecError).message).toContain(codec);
      }
    });
  }

  it('gzip: a flipped CRC is caught', () => {
    const c = Buffer.from(compress('gzip', textual));
    c[c.length - 6] ^= 0xff;
    expect(errorCode(() => decompress('gzip', c, 4 * MB))).toBe('corrupt');
  });

  it('lz4: flipped content bytes fail the content checksum; a bad header checksum or block size is caught', () => {
    const c = lz4Frame([textual], { bd: 0x70, contentChecksum: true });
    c[c.length >> 1] ^= 0x01;
    expect(errorCode(() => decompress('lz4', c, 4 * MB))).toBe('corrupt');
    expect(errorCode(() => decompress('lz4', lz4Frame([ndjson], { badHc: true }), MB))).toBe(
      'corrupt',
    );
    const blk = lz4Frame([ndjson], { blockChecksums: true });
    blk[12] ^= 0x01;
    expect(errorCode(() => decompress('lz4', blk, MB))).toBe('corrupt');
    expect(
      errorCode(() =>
        decompress('lz4', lz4Frame([ndjson], { contentSize: ndjson.length + 1 }), MB),
      ),
    ).toBe('corrupt');
    expect(
      errorCode(() => decompress('lz4', Buffer.from([0x02, 0x21, 0x4c, 0x18, 0, 0, 0, 0]), MB)),
    ).toBe('corrupt'); // legacy format
  });

  it('zstd: flipped content bytes are caught by the frame checksum', () => {
    const c = Buffer.from(compress('zstd', textual));
    c[c.length >> 1] ^= 0x01;
    expect(errorCode(() => decompress('zstd', c, 4 * MB))).toBe('corrupt');
  });
});

describe.skipIf(!hasCli('zstd'))('codecs: zstd interoperability with the zstd CLI', () => {
  it('the CLI reads what we write', () => {
    for (const data of [textual, ndjson, new Uint8Array(0)])
      expect(same(cli('zstd', ['-d', '-c', '-q'], compress('zstd', data)), data)).toBe(true);
  });

  it('we read what the CLI writes: with and without content size, no checksum, long window, several frames', () => {
    const variants: [string, Buffer][] = [
      ['default', cli('zstd', ['-c', '-q'], textual)],
      ['streamed', cli('sh', ['-c', 'cat | zstd -c -q'], textual)],
      ['no checksum', cli('zstd', ['-c', '-q', '--no-check'], textual)],
      ['level 19 long', cli('zstd', ['-c', '-q', '-19', '--long=27'], textual)],
    ];
    for (const [name, data] of variants)
      expect(same(decompress('zstd', data, 4 * MB), textual), name).toBe(true);
    const two = Buffer.concat([
      cli('zstd', ['-c', '-q'], textual.subarray(0, 1000)),
      cli('sh', ['-c', 'cat | zstd -c -q'], textual.subarray(1000)),
    ]);
    expect(same(decompress('zstd', two, 4 * MB), textual)).toBe(true);
    const skippable = Buffer.concat([Buffer.from([0x50, 0x2a, 0x4d, 0x18, 2, 0, 0, 0, 1, 2]), two]);
    expect(same(decompress('zstd', skippable, 4 * MB), textual)).toBe(true);
  });
});

describe.skipIf(!hasCli('gzip'))('codecs: gzip interoperability', () => {
  it('gzip -d reads what we write, and we read gzip -9 output', () => {
    expect(same(cli('gzip', ['-d', '-c'], compress('gzip', textual)), textual)).toBe(true);
    expect(same(decompress('gzip', cli('gzip', ['-9', '-c'], textual), 4 * MB), textual)).toBe(
      true,
    );
  });
});

describe('codecs: other runtimes', () => {
  const runs: [string, string, string[], Record<string, string>][] = [];
  for (const [bin, args] of [
    ['bun', []],
    ['deno', ['run', '-A']],
  ] as const) {
    runs.push([bin, join(ROOT, 'node_modules', '.bin', bin), [...args], {}]);
    runs.push([
      `${bin} (forced wasm zstd)`,
      join(ROOT, 'node_modules', '.bin', bin),
      [...args],
      { FERRY_ZSTD_IMPL: 'wasm' },
    ]);
  }
  runs.push(['node (forced wasm zstd)', process.execPath, [], { FERRY_ZSTD_IMPL: 'wasm' }]);

  for (const [name, exe, args, env] of runs) {
    it.skipIf(!existsSync(exe))(
      `${name}: the compiled module loads; gzip, lz4 and zstd round-trip and enforce limits`,
      () => {
        const r = spawnSync(exe, [...args, XRT], {
          cwd: ROOT,
          encoding: 'utf8',
          timeout: 60_000,
          env: { ...process.env, ...env },
        });
        expect(r.status, `${name}: ${r.stderr}`).toBe(0);
        const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
        if (env.FERRY_ZSTD_IMPL === 'wasm') expect(out.zstd).toBe('@bokuweb/zstd-wasm');
        expect(out.lz4Magic).toBe(true);
        for (const codec of ['gzip', 'lz4', 'zstd']) {
          expect(out.codecs[codec], `${name} ${codec}`).toEqual({
            roundTrip: true,
            fromShared: true,
            sharedInput: true,
            smaller: true,
            tooLarge: 'too_large',
            corrupt: 'corrupt',
            truncated: 'corrupt',
          });
        }
      },
      90_000,
    );
  }
});
