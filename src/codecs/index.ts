/**
 * Compression codecs. Synchronous, because they run on the worker threads (batches)
 * and there is nothing else for those threads to do meanwhile.
 *
 * | codec | implementation                                            | Node 20 | Node ≥ 22.15 | Bun | Deno |
 * |-------|-----------------------------------------------------------|---------|--------------|-----|------|
 * | gzip  | node:zlib                                                 | yes     | yes          | yes | yes  |
 * | lz4   | lz4-napi, frame format (the `lz4` CLI reads our objects)  | yes     | yes          | yes | yes  |
 * | zstd  | node:zlib where it has zstd, else @bokuweb/zstd-wasm      | wasm    | zlib         | zlib| zlib |
 * | none  | —                                                         | yes     | yes          | yes | yes  |
 *
 * Decisions:
 * - lz4-napi is a napi-rs module; Bun and Deno load it through their Node-API support
 *   (checked by test/unit/codecs.test.ts). Should it fail to load somewhere, there is no
 *   pure-JS lz4 in the dependencies to fall back on, so codecAvailable('lz4') is false
 *   there and `ferry config check` refuses the codec (see lz4LoadError).
 * - zstd: see ./zstd.ts for why @bokuweb/zstd-wasm (the only zstd dependency) and not
 *   another binding. If neither node:zlib nor the wasm build is usable,
 *   codecAvailable('zstd') is false and the config check refuses it.
 * - decompress() is for untrusted input (Content-Encoding request bodies): it never
 *   produces more than maxOutputBytes (gzip and native zstd stop inside zlib; lz4 and
 *   wasm zstd are walked frame by frame and block by block, see ./lz4.ts, ./zstd.ts)
 *   and reports failures as CodecError with code 'too_large' or 'corrupt'.
 */
import * as zlib from 'node:zlib';
import { CODECS, type Codec } from '../contracts/batch.js';
import { CodecError, corrupt, tooLarge } from './errors.js';
import { lz4Available, lz4Compress, lz4Decompress, lz4LoadError } from './lz4.js';
import {
  isBufferTooLarge,
  zstdAvailable,
  zstdCompress,
  zstdDecompress,
  zstdImplementation,
  zstdLoadError,
} from './zstd.js';
import { errorMessage } from '../util/errors.js';

export { CODECS, type Codec };
export { CodecError, type CodecErrorCode } from './errors.js';
export { zstdImplementation };

/** Whether this runtime can compress and decompress with codec. */
export function codecAvailable(codec: Codec): boolean {
  switch (codec) {
    case 'gzip':
    case 'none':
      return true;
    case 'lz4':
      return lz4Available;
    case 'zstd':
      return zstdAvailable;
    default:
      return false;
  }
}

/** Why codec is unavailable on this runtime (for error messages), or undefined when it is available. */
export function codecUnavailableReason(codec: Codec): string | undefined {
  if (codecAvailable(codec)) return undefined;
  if (codec === 'lz4') return `lz4-napi does not load on this runtime: ${lz4LoadError}`;
  if (codec === 'zstd') return zstdLoadError;
  return `unknown codec ${String(codec)}`;
}

/**
 * ferry's levels when none is configured: the fastest of each codec. On a 5000-event W1 batch
 * (bench/codec-levels.mjs) gzip 1 takes 0.4–0.5× the CPU of zlib's default 6 for 11 % more
 * bytes; zstd 1 takes 0.6× the CPU of libzstd's default 3 and its output is smaller still. Edge nodes run out of CPU before bandwidth (docs/tuning.md).
 */
export const DEFAULT_LEVEL = { gzip: 1, zstd: 1 } as const;

/**
 * Compress data. level: gzip 1–9, zstd 1–22 (default DEFAULT_LEVEL); lz4 has no levels.
 * 'none' returns data itself. Throws CodecError('unavailable') for a codec this runtime lacks.
 */
export function compress(codec: Codec, data: Uint8Array, level?: number): Uint8Array {
  switch (codec) {
    case 'none':
      return data;
    case 'gzip':
      if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 9))
        throw new RangeError(`gzip level must be 1-9, got ${level}`);
      return zlib.gzipSync(data, { level: level ?? DEFAULT_LEVEL.gzip });
    case 'lz4':
      return lz4Compress(data);
    case 'zstd':
      if (level !== undefined && !(Number.isInteger(level) && level >= 1 && level <= 22))
        throw new RangeError(`zstd level must be 1-22, got ${level}`);
      return zstdCompress(data, level ?? DEFAULT_LEVEL.zstd);
    default:
      throw new CodecError('unavailable', `unknown codec ${String(codec)}`);
  }
}

/**
 * Decompress untrusted data into at most maxOutputBytes. Throws CodecError with code
 * 'too_large' when the output would exceed the limit (without producing it all: a zip
 * bomb costs about the limit, not its expanded size), 'corrupt' when the input is not
 * valid, 'unavailable' when the runtime lacks the codec. 'none' checks the size only.
 */
export function decompress(codec: Codec, data: Uint8Array, maxOutputBytes: number): Uint8Array {
  switch (codec) {
    case 'none':
      if (data.byteLength > maxOutputBytes) throw tooLarge(maxOutputBytes);
      return data;
    case 'gzip':
      if (data.byteLength === 0) throw corrupt('gzip', 'empty input');
      try {
        return zlib.gunzipSync(data, { maxOutputLength: Math.max(1, maxOutputBytes) });
      } catch (err) {
        if (isBufferTooLarge(err)) throw tooLarge(maxOutputBytes);
        throw corrupt('gzip', errorMessage(err));
      }
    case 'lz4':
      return lz4Decompress(data, maxOutputBytes);
    case 'zstd':
      return zstdDecompress(data, maxOutputBytes);
    default:
      throw new CodecError('unavailable', `unknown codec ${String(codec)}`);
  }
}

/** File name extension of an object compressed with codec. */
export function fileExtension(codec: Codec): string {
  switch (codec) {
    case 'gzip':
      return '.gz';
    case 'lz4':
      return '.lz4';
    case 'zstd':
      return '.zst';
    default:
      return '';
  }
}

/** HTTP Content-Encoding / S3 ContentEncoding of codec: lz4 has no registered token, so undefined (as for none). */
export function contentEncoding(codec: Codec): string | undefined {
  return codec === 'gzip' ? 'gzip' : codec === 'zstd' ? 'zstd' : undefined;
}

/**
 * The codec of a request's Content-Encoding header: absent, empty or identity → 'none';
 * gzip / x-gzip, zstd and lz4 (not registered, but what lz4 clients send) → that codec;
 * anything else, or more than one coding (e.g. "gzip, zstd") → 'unsupported'. Case and
 * whitespace are ignored. Does not check codecAvailable.
 */
export function codecFromContentEncoding(header: string | null | undefined): Codec | 'unsupported' {
  if (header === undefined || header === null) return 'none';
  let found: Codec | undefined;
  for (const raw of header.split(',')) {
    const token = raw.trim().toLowerCase();
    if (token === '' || token === 'identity') continue;
    if (found !== undefined) return 'unsupported';
    if (token === 'gzip' || token === 'x-gzip') found = 'gzip';
    else if (token === 'zstd') found = 'zstd';
    else if (token === 'lz4') found = 'lz4';
    else return 'unsupported';
  }
  return found ?? 'none';
}
