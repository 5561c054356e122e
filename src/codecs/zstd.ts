/**
 * Zstandard. Where node:zlib has zstd (Node ≥ 22.15, Bun, Deno) that is used, bounded by
 * zlib's maxOutputLength. Elsewhere (Node 20 and Node 22 < 22.15) @bokuweb/zstd-wasm: a
 * WebAssembly build of the reference libzstd with a synchronous API once initialised (done
 * here with a top-level await), no native build, runs on all three runtimes. Its one-shot
 * decoder trusts the frame header's content size for its output buffer, so frames are
 * walked here first: the declared size (or, without one, the sum of the block size limits)
 * is checked against the limit before any output is allocated, and each frame is decoded
 * into at most what is left of the limit.
 *
 * Why not the others (npm, checked for this project): @mongodb-js/zstd is async-only;
 * zstd-napi needs a node-gyp build (its prebuilt binaries are downloaded at install time,
 * which a registry-only machine cannot do); zstd-codec is unmaintained since 2018; fzstd
 * only decompresses.
 */
import * as zlib from 'node:zlib';
import { CodecError, corrupt, tooLarge } from './errors.js';
import { errorMessage } from '../util/errors.js';

type ZlibWithZstd = {
  zstdCompressSync?: (b: Uint8Array, o?: { params?: Record<number, number> }) => Buffer;
  zstdDecompressSync?: (b: Uint8Array, o?: { maxOutputLength?: number }) => Buffer;
  constants: Record<string, number | undefined>;
};
interface ZstdWasm {
  init(): Promise<void>;
  compress(buf: Uint8Array, level?: number): Uint8Array;
  decompress(buf: Uint8Array, opts?: { defaultHeapSize?: number }): Uint8Array;
}

const z = zlib as unknown as ZlibWithZstd;
/** FERRY_ZSTD_IMPL=wasm forces the wasm build even where node:zlib has zstd (tests of that path on any runtime). */
const forceWasm = (() => {
  try {
    return (
      (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env
        ?.FERRY_ZSTD_IMPL === 'wasm'
    );
  } catch {
    return false; // Deno without --allow-env
  }
})();
const nativeZstd =
  !forceWasm &&
  typeof z.zstdCompressSync === 'function' &&
  typeof z.zstdDecompressSync === 'function';

let wasm: ZstdWasm | undefined;
let wasmError: string | undefined;
if (!nativeZstd) {
  try {
    const m = (await import('@bokuweb/zstd-wasm')) as unknown as ZstdWasm & { default?: ZstdWasm };
    const lib = typeof m.compress === 'function' ? m : m.default!;
    await lib.init();
    wasm = lib;
  } catch (err) {
    wasmError = errorMessage(err);
  }
}

export const zstdAvailable = nativeZstd || wasm !== undefined;
/** Which implementation this runtime uses. */
export const zstdImplementation: 'node:zlib' | '@bokuweb/zstd-wasm' | undefined = nativeZstd
  ? 'node:zlib'
  : wasm
    ? '@bokuweb/zstd-wasm'
    : undefined;
export const zstdLoadError = zstdAvailable
  ? undefined
  : `no zstd in node:zlib and @bokuweb/zstd-wasm did not load: ${wasmError}`;

/** The wasm heap is 32-bit and capped at 2 GiB: refuse work that could not fit in it. */
const WASM_MAX_BYTES = 1 << 30;

export function zstdCompress(data: Uint8Array, level = 3): Uint8Array {
  if (nativeZstd) {
    const params: Record<number, number> = {};
    const c = z.constants;
    if (c.ZSTD_c_compressionLevel !== undefined) params[c.ZSTD_c_compressionLevel] = level;
    if (c.ZSTD_c_checksumFlag !== undefined) params[c.ZSTD_c_checksumFlag] = 1;
    return z.zstdCompressSync!(data, { params });
  }
  if (!wasm) throw new CodecError('unavailable', zstdLoadError!);
  if (data.byteLength > WASM_MAX_BYTES / 2)
    throw new RangeError(`zstd (wasm) compresses at most ${WASM_MAX_BYTES / 2} bytes at once`);
  return wasm.compress(data, level);
}

export function zstdDecompress(input: Uint8Array, maxOutputBytes: number): Uint8Array {
  if (input.byteLength === 0) throw corrupt('zstd', 'empty input');
  // Structure first, on every path: Bun's and Deno's zlib return a truncated frame's partial
  // output without an error, and declared sizes let a bomb be refused before any work.
  const frames = zstdFrames(input);
  if (nativeZstd) {
    let declared = 0;
    for (const f of frames)
      declared = f.contentSize === undefined || declared < 0 ? -1 : declared + f.contentSize;
    if (declared > maxOutputBytes) throw tooLarge(maxOutputBytes);
    let out: Uint8Array;
    try {
      out = z.zstdDecompressSync!(input, { maxOutputLength: Math.max(1, maxOutputBytes) });
    } catch (err) {
      if (isBufferTooLarge(err)) throw tooLarge(maxOutputBytes);
      throw corrupt('zstd', errorMessage(err));
    }
    if (declared >= 0 && out.byteLength !== declared)
      throw corrupt('zstd', `frames declare ${declared} bytes but hold ${out.byteLength}`);
    return out;
  }
  if (!wasm) throw new CodecError('unavailable', zstdLoadError!);
  const out: Uint8Array[] = [];
  let total = 0;
  for (const f of frames) {
    const left = maxOutputBytes - total;
    if (f.contentSize !== undefined && f.contentSize > left) throw tooLarge(maxOutputBytes);
    const cap = f.contentSize ?? Math.min(f.bound, left);
    if (cap + (f.end - f.start) > WASM_MAX_BYTES)
      throw tooLarge(Math.min(maxOutputBytes, WASM_MAX_BYTES));
    let r: Uint8Array;
    try {
      r = wasm.decompress(input.subarray(f.start, f.end), { defaultHeapSize: Math.max(cap, 1) });
    } catch (err) {
      // ZSTD_error_dstSize_tooSmall = 70: more output than the room we gave it
      const code = /code (-?\d+)/.exec(errorMessage(err))?.[1];
      if (code === '-70' && f.contentSize === undefined && cap < f.bound)
        throw tooLarge(maxOutputBytes);
      throw corrupt('zstd', `libzstd error ${code ?? errorMessage(err)}`);
    }
    if (f.contentSize !== undefined && r.byteLength !== f.contentSize) {
      throw corrupt('zstd', `frame declares ${f.contentSize} bytes but holds ${r.byteLength}`);
    }
    total += r.byteLength;
    if (total > maxOutputBytes) throw tooLarge(maxOutputBytes);
    out.push(r);
  }
  return out.length === 1 ? out[0] : Buffer.concat(out, total);
}

interface ZstdFrame {
  start: number;
  end: number;
  /** Frame_Content_Size when the header has it. */
  contentSize: number | undefined;
  /** Most the frame can decode to: raw and RLE block sizes plus Block_Maximum_Size per compressed block. */
  bound: number;
}

const u32 = (b: Uint8Array, i: number) =>
  (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
const DICT_ID_BYTES = [0, 1, 2, 4];
const FCS_BYTES = [0, 2, 4, 8];

/** Splits input into zstd frames (RFC 8878 §3.1), skipping skippable frames; throws `corrupt` on a malformed one. */
export function zstdFrames(src: Uint8Array): ZstdFrame[] {
  const n = src.byteLength;
  const frames: ZstdFrame[] = [];
  let pos = 0;
  const need = (p: number, bytes: number) => {
    if (p + bytes > n) throw corrupt('zstd', `truncated at byte ${n}`);
  };
  while (pos < n) {
    need(pos, 4);
    const magic = u32(src, pos);
    if ((magic & 0xfffffff0) >>> 0 === 0x184d2a50) {
      need(pos, 8);
      pos += 8 + u32(src, pos + 4);
      if (pos > n) throw corrupt('zstd', 'truncated skippable frame');
      continue;
    }
    if (magic !== 0xfd2fb528)
      throw corrupt('zstd', `bad frame magic 0x${magic.toString(16)} at byte ${pos}`);
    let p = pos + 4;
    need(p, 1);
    const fhd = src[p++];
    const fcsFlag = fhd >> 6;
    const singleSegment = (fhd & 0x20) !== 0;
    if (fhd & 0x08) throw corrupt('zstd', 'reserved header bit set');
    const checksum = (fhd & 0x04) !== 0;
    let window = 0;
    if (!singleSegment) {
      need(p, 1);
      const wd = src[p++];
      const base = 2 ** (10 + (wd >> 3));
      window = base + (base / 8) * (wd & 7);
    }
    p += DICT_ID_BYTES[fhd & 3];
    const fcsBytes = fcsFlag === 0 ? (singleSegment ? 1 : 0) : FCS_BYTES[fcsFlag];
    need(p, fcsBytes);
    let contentSize: number | undefined;
    if (fcsBytes === 1) contentSize = src[p];
    else if (fcsBytes === 2) contentSize = (src[p] | (src[p + 1] << 8)) + 256;
    else if (fcsBytes === 4) contentSize = u32(src, p);
    else if (fcsBytes === 8) contentSize = u32(src, p) + u32(src, p + 4) * 2 ** 32;
    p += fcsBytes;
    if (singleSegment) window = contentSize!;
    const blockMax = Math.min(window, 128 << 10);
    let bound = 0;
    for (;;) {
      need(p, 3);
      const bh = src[p] | (src[p + 1] << 8) | (src[p + 2] << 16);
      p += 3;
      const type = (bh >> 1) & 3;
      const size = bh >>> 3;
      if (type === 0) {
        bound += size;
        p += size;
      } else if (type === 1) {
        bound += size;
        p += 1;
      } else if (type === 2) {
        bound += blockMax;
        p += size;
      } else {
        throw corrupt('zstd', 'reserved block type');
      }
      if (p > n) throw corrupt('zstd', `truncated at byte ${n}`);
      if (bh & 1) break; // last block
    }
    if (checksum) {
      need(p, 4);
      p += 4;
    }
    frames.push({ start: pos, end: p, contentSize, bound });
    pos = p;
  }
  return frames;
}

export function isBufferTooLarge(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    e?.code === 'ERR_BUFFER_TOO_LARGE' ||
    /larger than|too large|maxOutputLength/i.test(e?.message ?? '')
  );
}
