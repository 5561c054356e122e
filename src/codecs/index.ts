/**
 * Compression codecs, synchronous because they run on worker threads.
 *
 * - gzip: node:zlib, everywhere.
 * - lz4: lz4-napi, frame format (readable by the `lz4` CLI); loads on Node, Bun and Deno.
 * - zstd: node:zlib's zstd where the runtime has it (Node ≥ 22.15, Bun, Deno). On Node 20 it is
 *   unavailable: the maintained npm bindings are either async-only or need a native build per
 *   runtime, so `ferry config check` refuses `codec: zstd` there instead of failing at run time.
 * - none.
 *
 * Decompression (request bodies) is bounded: gzip and zstd stop at maxOutputBytes (a zip bomb
 * never allocates more); lz4 frames are checked after decoding (lz4 expands at most ~255×, and
 * the compressed body is already bounded by http.max_body_bytes).
 */
import * as zlib from 'node:zlib';
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
import type { Codec } from '../pipeline/batch.js';

export type { Codec };

export class CodecError extends Error {
  constructor(
    readonly code: 'too_large' | 'corrupt' | 'unavailable',
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}

type ZstdZlib = {
  zstdCompressSync?: (b: Uint8Array, o?: { params?: Record<number, number>; maxOutputLength?: number }) => Buffer;
  zstdDecompressSync?: (b: Uint8Array, o?: { maxOutputLength?: number }) => Buffer;
  constants: Record<string, number>;
};
const z = zlib as unknown as ZstdZlib;
const hasZstd = typeof z.zstdCompressSync === 'function' && typeof z.zstdDecompressSync === 'function';

export function codecAvailable(codec: Codec): boolean {
  return codec === 'zstd' ? hasZstd : codec === 'gzip' || codec === 'lz4' || codec === 'none';
}

export function compress(codec: Codec, data: Uint8Array, level?: number): Uint8Array {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      return zlib.gzipSync(data, level ? { level } : undefined);
    case 'lz4':
      return compressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
    case 'zstd':
      if (!hasZstd) throw new CodecError('unavailable', 'zstd is not available on this runtime (needs Node ≥ 22.15, Bun or Deno)');
      return z.zstdCompressSync!(data, level ? { params: { [z.constants.ZSTD_c_compressionLevel]: level } } : undefined);
  }
}

export function decompress(codec: Codec, data: Uint8Array, maxOutputBytes: number): Uint8Array {
  try {
    switch (codec) {
      case 'none':
        if (data.byteLength > maxOutputBytes) throw tooLarge(maxOutputBytes);
        return data;
      case 'gzip':
        return zlib.gunzipSync(data, { maxOutputLength: maxOutputBytes });
      case 'zstd':
        if (!hasZstd) throw new CodecError('unavailable', 'zstd is not available on this runtime');
        return z.zstdDecompressSync!(data, { maxOutputLength: maxOutputBytes });
      case 'lz4': {
        const out = decompressFrameSync(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
        if (out.byteLength > maxOutputBytes) throw tooLarge(maxOutputBytes);
        return out;
      }
    }
  } catch (err) {
    if (err instanceof CodecError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger|buffer.*too large|maxOutputLength/i.test(e.message)) throw tooLarge(maxOutputBytes);
    throw new CodecError('corrupt', e.message);
  }
}

function tooLarge(max: number): CodecError {
  return new CodecError('too_large', `decompressed size exceeds ${max} bytes`);
}

export function fileExtension(codec: Codec): string {
  return { gzip: '.gz', lz4: '.lz4', zstd: '.zst', none: '' }[codec];
}

/** HTTP/S3 Content-Encoding for a codec; lz4 has no registered token, so none. */
export function contentEncoding(codec: Codec): string | undefined {
  return codec === 'gzip' ? 'gzip' : codec === 'zstd' ? 'zstd' : undefined;
}
