/**
 * The record-batch codecs kafkajs lacks (it ships gzip only and throws KafkaJSNotImplemented for
 * snappy, lz4 and zstd), filled in from ferry's own codecs so every runtime that runs ferry reads
 * what real producers write: Java clients (lz4 frames, zstd frames, xerial-framed snappy) and
 * librdkafka (the same, raw snappy). Registered into kafkajs's process-wide table once, by
 * whatever creates a kafkajs client (the source, its DLQ-topic producer, `ferry kafka init`).
 *
 * Decompression is bounded: a record batch that would inflate past KAFKA_MAX_DECOMPRESSED_BYTES
 * fails like a corrupt one (see undecodable.ts) rather than exhausting memory.
 */
import kafkajs from 'kafkajs';
import { decompress as ferryDecompress, compress as ferryCompress } from '../../codecs/index.js';
import { snappyCompress, snappyDecompress } from '../../codecs/snappy.js';

/** The most one compressed record batch may inflate to (fetches bring at most 1 MiB compressed). */
export const KAFKA_MAX_DECOMPRESSED_BYTES = 256 << 20;

interface KafkajsCodec {
  compress(encoder: { buffer: Buffer }): Promise<Buffer>;
  decompress(buffer: Buffer): Promise<Buffer>;
}

const toBuffer = (u: Uint8Array): Buffer =>
  Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.byteLength);

function codec(
  compress: (data: Uint8Array) => Uint8Array,
  decompress: (data: Uint8Array, max: number) => Uint8Array,
): () => KafkajsCodec {
  const c: KafkajsCodec = {
    compress: async (encoder) => toBuffer(compress(encoder.buffer)),
    decompress: async (buffer) => toBuffer(decompress(buffer, KAFKA_MAX_DECOMPRESSED_BYTES)),
  };
  return () => c;
}

// kafkajs is CommonJS and Node's ESM loader does not see these two as named exports.
const { CompressionCodecs, CompressionTypes } = kafkajs;

let registered = false;

/** Idempotent. lz4 and zstd throw CodecError('unavailable') on a runtime without them (at use). */
export function registerKafkaCodecs(): void {
  if (registered) return;
  registered = true;
  const table = CompressionCodecs as unknown as Record<number, () => KafkajsCodec>;
  table[CompressionTypes.Snappy] = codec(snappyCompress, snappyDecompress);
  table[CompressionTypes.LZ4] = codec(
    (d) => ferryCompress('lz4', d),
    (d, max) => ferryDecompress('lz4', d, max),
  );
  table[CompressionTypes.ZSTD] = codec(
    (d) => ferryCompress('zstd', d),
    (d, max) => ferryDecompress('zstd', d, max),
  );
}
