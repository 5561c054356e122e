/**
 * LZ4 frame format (the `lz4` CLI's format, magic 0x184D2204) through lz4-napi.
 *
 * Compression frames the output of lz4-napi's block compressor (see lz4Compress).
 * Decompression is NOT lz4-napi's decompressFrameSync: that one inflates the whole
 * frame before anyone can look at its size, and LZ4 expands up to ~255×, so a 4 MB
 * request body could allocate a gigabyte. Instead the frame is walked here (header, block sizes, checksums) and each block is inflated by the
 * native block decoder (uncompressSync, with the previous 64 KiB as the dictionary
 * for linked blocks) into at most the frame's block size — so decoding stops one
 * block (≤ 4 MiB) past the limit at worst. Concatenated and skippable frames are
 * accepted, as the CLI does; dictionary-id frames and the legacy format are not.
 */
import { createRequire } from 'node:module';
import { CodecError, corrupt, tooLarge } from './errors.js';
import { xxh32 } from './xxh32.js';
import { errorMessage } from '../util/errors.js';

interface Lz4Napi {
  /** One LZ4 block, prefixed with its uncompressed size (u32 LE). */
  compressSync(data: Buffer): Buffer;
  uncompressSync(data: Uint8Array, dict?: Uint8Array): Buffer;
}

/** lz4-napi, or why it did not load on this runtime. */
const loaded: { lib: Lz4Napi } | { error: string } = (() => {
  try {
    const lib = createRequire(import.meta.url)('lz4-napi') as Lz4Napi;
    if (typeof lib.compressSync !== 'function' || typeof lib.uncompressSync !== 'function') {
      return { error: 'lz4-napi lacks compressSync/uncompressSync' };
    }
    return { lib };
  } catch (err) {
    return { error: errorMessage(err) };
  }
})();

export const lz4Available = 'lib' in loaded;
/** Why lz4 is unavailable (for `ferry config check`), or undefined. */
export const lz4LoadError = 'error' in loaded ? loaded.error : undefined;

function lib(): Lz4Napi {
  if ('lib' in loaded) return loaded.lib;
  throw new CodecError('unavailable', `lz4 is not available on this runtime: ${loaded.error}`);
}

const asBuffer = (d: Uint8Array) =>
  Buffer.isBuffer(d) ? d : Buffer.from(d.buffer, d.byteOffset, d.byteLength);

/** Blocks of up to 4 MiB (BD code 7), independent of each other. */
const WRITE_BLOCK = 4 << 20;
/** Magic, FLG (version 01, independent blocks, nothing else), BD (4 MiB), header checksum. */
const FRAME_HEADER = (() => {
  const h = new Uint8Array([0x04, 0x22, 0x4d, 0x18, 0x60, 0x70, 0]);
  h[6] = (xxh32(h.subarray(4, 6)) >>> 8) & 0xff;
  return h;
})();

/**
 * A frame of independent 4 MiB blocks, each compressed by lz4-napi's block compressor.
 * Not its compressFrameSync: that frame encoder runs at half the speed of the block one
 * (bench: 7.3 vs 3.4 ms for a 2.6 MB batch), and its content checksum, computed here in JS,
 * would cost most of the gain again — so frames carry none (a flag the format leaves
 * optional). What guards the bytes instead: DLQ records have their own CRC32C, S3 checks each
 * upload's signed SHA-256; choose gzip or zstd where objects at rest must check themselves. Any LZ4
 * frame reader (the lz4 CLI, lz4-napi, ClickHouse) reads them.
 */
export function lz4Compress(data: Uint8Array): Uint8Array {
  const native = lib();
  const src = asBuffer(data);
  const blocks: { bytes: Uint8Array; stored: boolean }[] = [];
  let size = FRAME_HEADER.length + 4;
  for (let at = 0; at < src.length; at += WRITE_BLOCK) {
    const raw = src.subarray(at, Math.min(src.length, at + WRITE_BLOCK));
    const packed = native.compressSync(raw).subarray(4);
    // Incompressible: the block goes in as it is, flagged by the high bit of its size.
    const stored = packed.length >= raw.length;
    const bytes = stored ? raw : packed;
    blocks.push({ bytes, stored });
    size += 4 + bytes.length;
  }
  const out = Buffer.allocUnsafe(size);
  out.set(FRAME_HEADER, 0);
  let pos = FRAME_HEADER.length;
  for (const { bytes, stored } of blocks) {
    out.writeUInt32LE((bytes.length | (stored ? 0x80000000 : 0)) >>> 0, pos);
    out.set(bytes, pos + 4);
    pos += 4 + bytes.length;
  }
  out.writeUInt32LE(0, pos); // end mark
  return out;
}

const FRAME_MAGIC = 0x184d2204;
const LEGACY_MAGIC = 0x184c2102;
const BLOCK_MAX = [0, 0, 0, 0, 64 << 10, 256 << 10, 1 << 20, 4 << 20];
const WINDOW = 64 << 10;

const u32 = (b: Uint8Array, i: number) =>
  (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;

export function lz4Decompress(input: Uint8Array, maxOutputBytes: number): Uint8Array {
  const native = lib();
  const n = input.byteLength;
  if (n === 0) throw corrupt('lz4', 'empty input');
  const frames: Uint8Array[] = [];
  let total = 0;
  let pos = 0;
  const need = (bytes: number) => {
    if (pos + bytes > n) throw corrupt('lz4', `truncated at byte ${n}`);
  };

  while (pos < n) {
    need(4);
    const magic = u32(input, pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(8);
      pos += 8 + u32(input, pos + 4); // skippable frame
      if (pos > n) throw corrupt('lz4', 'truncated skippable frame');
      continue;
    }
    if (magic === LEGACY_MAGIC)
      throw corrupt('lz4', 'legacy lz4 format is not supported (use the frame format)');
    if (magic !== FRAME_MAGIC)
      throw corrupt('lz4', `bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
    need(7);
    const descStart = pos + 4;
    const flg = input[descStart];
    const bd = input[descStart + 1];
    if (flg >> 6 !== 1) throw corrupt('lz4', `unsupported frame version ${flg >> 6}`);
    if (flg & 0x02 || bd & 0x8f) throw corrupt('lz4', 'reserved header bits set');
    const independent = (flg & 0x20) !== 0;
    const blockChecksum = (flg & 0x10) !== 0;
    const hasContentSize = (flg & 0x08) !== 0;
    const contentChecksum = (flg & 0x04) !== 0;
    if (flg & 0x01) throw corrupt('lz4', 'frames that need a dictionary are not supported');
    const blockMax = BLOCK_MAX[(bd >> 4) & 7];
    if (!blockMax) throw corrupt('lz4', `bad block size code ${(bd >> 4) & 7}`);
    pos = descStart + 2;
    let contentSize: number | undefined;
    if (hasContentSize) {
      need(8);
      contentSize = u32(input, pos) + u32(input, pos + 4) * 2 ** 32;
      pos += 8;
      if (contentSize > maxOutputBytes - total) throw tooLarge(maxOutputBytes);
    }
    need(1);
    if (((xxh32(input.subarray(descStart, pos)) >>> 8) & 0xff) !== input[pos])
      throw corrupt('lz4', 'header checksum mismatch');
    pos++;

    const chunks: Uint8Array[] = [];
    let produced = 0;
    for (;;) {
      need(4);
      const word = u32(input, pos);
      pos += 4;
      if (word === 0) break; // end mark
      const stored = (word & 0x80000000) !== 0;
      const size = word & 0x7fffffff;
      if (size > blockMax)
        throw corrupt('lz4', `block of ${size} bytes exceeds the frame's ${blockMax}`);
      need(size + (blockChecksum ? 4 : 0));
      const block = input.subarray(pos, pos + size);
      pos += size;
      if (blockChecksum) {
        if (xxh32(block) !== u32(input, pos)) throw corrupt('lz4', 'block checksum mismatch');
        pos += 4;
      }
      let out: Uint8Array;
      if (stored) {
        out = new Uint8Array(block);
      } else {
        // The native block decoder takes "u32 size + block" and allocates that size up front;
        // any upper bound will do. One input byte yields at most 255 output bytes, so tiny
        // blocks in a frame announcing 4 MiB blocks do not each reserve 4 MiB.
        const bound = Math.min(blockMax, size * 255 + 64);
        const framed = Buffer.allocUnsafe(4 + size);
        framed.writeUInt32LE(bound, 0);
        framed.set(block, 4);
        try {
          out =
            independent || produced === 0
              ? native.uncompressSync(framed)
              : native.uncompressSync(framed, lastWindow(chunks, produced));
        } catch (err) {
          throw corrupt('lz4', errorMessage(err));
        }
        // The result keeps the allocation of `bound` bytes: release the slack of a big one.
        if (bound >= 256 << 10 && out.byteLength < bound >>> 2) out = new Uint8Array(out);
      }
      produced += out.byteLength;
      if (total + produced > maxOutputBytes) throw tooLarge(maxOutputBytes);
      chunks.push(out);
    }
    const frame = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, produced);
    if (contentChecksum) {
      need(4);
      if (xxh32(frame) !== u32(input, pos)) throw corrupt('lz4', 'content checksum mismatch');
      pos += 4;
    }
    if (contentSize !== undefined && contentSize !== produced) {
      throw corrupt('lz4', `frame declares ${contentSize} bytes but holds ${produced}`);
    }
    frames.push(frame);
    total += produced;
  }
  if (frames.length === 1) return frames[0];
  return Buffer.concat(frames, total);
}

/** The last 64 KiB of a frame's output so far: the dictionary of a linked block. */
function lastWindow(chunks: Uint8Array[], produced: number): Uint8Array {
  const want = Math.min(WINDOW, produced);
  const last = chunks[chunks.length - 1];
  if (last.byteLength >= want) return last.subarray(last.byteLength - want);
  const out = new Uint8Array(want);
  let p = want;
  for (let i = chunks.length - 1; p > 0; i--) {
    const c = chunks[i];
    const take = Math.min(c.byteLength, p);
    out.set(c.subarray(c.byteLength - take), p - take);
    p -= take;
  }
  return out;
}
