/**
 * Snappy as Kafka producers write it, through snappyjs (pure JS: the same code on Node, Bun and
 * Deno, no native module to load). Two framings reach a consumer:
 * - xerial's stream format, which the Java client (snappy-java's SnappyOutputStream) writes:
 *   a 16-byte header (magic "\x82SNAPPY\0", version, compatible version, both u32 BE), then
 *   blocks of "u32 BE length + one raw snappy block";
 * - one raw snappy block, which kafkajs-snappy and others write. librdkafka reads both and
 *   writes raw; so does this module (the Java client's reader, like librdkafka's, falls back to
 *   raw when the header is missing).
 * Every block declares its uncompressed length before any output is allocated; it is checked
 * against what is left of maxOutputBytes, so a small input cannot allocate a large output.
 */
import { createRequire } from 'node:module';
import { corrupt, tooLarge } from './errors.js';

interface SnappyJs {
  compress(data: Uint8Array): Uint8Array;
  uncompress(data: Uint8Array, maxLength?: number): Uint8Array;
}

const snappy = createRequire(import.meta.url)('snappyjs') as SnappyJs;

const XERIAL_MAGIC = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const XERIAL_HEADER = 16;

function isXerial(b: Uint8Array): boolean {
  if (b.byteLength < XERIAL_HEADER) return false;
  for (let i = 0; i < XERIAL_MAGIC.length; i++) if (b[i] !== XERIAL_MAGIC[i]) return false;
  return true;
}

/** The uncompressed length a raw snappy block declares (its leading varint), or -1. */
function declaredLength(b: Uint8Array): number {
  let result = 0;
  for (let i = 0, shift = 0; i < b.byteLength && shift <= 28; i++, shift += 7) {
    result += (b[i] & 0x7f) * 2 ** shift;
    if ((b[i] & 0x80) === 0) return result;
  }
  return -1;
}

function rawBlock(block: Uint8Array, left: number): Uint8Array {
  const len = declaredLength(block);
  if (len < 0) throw corrupt('snappy', 'bad length preamble');
  if (len > left) throw tooLarge(left);
  try {
    return snappy.uncompress(block, left);
  } catch (err) {
    throw corrupt('snappy', (err as Error).message);
  }
}

/** Raw snappy or xerial-framed snappy, into at most maxOutputBytes. Throws CodecError. */
export function snappyDecompress(input: Uint8Array, maxOutputBytes: number): Uint8Array {
  if (input.byteLength === 0) throw corrupt('snappy', 'empty input');
  if (!isXerial(input)) return rawBlock(input, maxOutputBytes);
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (let pos = XERIAL_HEADER; pos < input.byteLength; ) {
    if (pos + 4 > input.byteLength) throw corrupt('snappy', `truncated at byte ${pos}`);
    const size = view.getUint32(pos);
    pos += 4;
    if (pos + size > input.byteLength) throw corrupt('snappy', `truncated block at byte ${pos}`);
    const out = rawBlock(input.subarray(pos, pos + size), maxOutputBytes - total);
    pos += size;
    chunks.push(out);
    total += out.byteLength;
  }
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** One raw snappy block (what librdkafka and kafkajs-snappy write). */
export function snappyCompress(data: Uint8Array): Uint8Array {
  return snappy.compress(data);
}
