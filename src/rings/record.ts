/**
 * The record the acceptor (or any source) puts in a ring for a worker:
 * a fixed header, the source name, then the body exactly as received.
 * Parsing and decompression happen on the worker, never on the main thread.
 */
export const enum BodyFormat {
  Ndjson = 1,
  Json = 2,
  Msgpack = 3,
  /** OTLP ExportLogsServiceRequest, protobuf (src/sources/otlp/, workers/otlp-logs.ts). */
  OtlpLogsProtobuf = 4,
  /** OTLP ExportLogsServiceRequest, OTLP/JSON. */
  OtlpLogsJson = 5,
  /** Elasticsearch `_bulk` NDJSON behind a short prefix (src/sources/bulk/prefix.ts). */
  EsBulk = 6,
}
export const enum BodyEncoding {
  Identity = 0,
  Gzip = 1,
  Lz4 = 2,
  Zstd = 3,
}

/** u32 reqId | u8 format | u8 encoding | u8 sourceLen | u8 flags | f64 receivedAt */
export const HEADER_BYTES = 16;
export const MAX_SOURCE_BYTES = 255;

export interface RecordHeader {
  reqId: number;
  format: BodyFormat;
  encoding: BodyEncoding;
  receivedAt: number;
  source: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Header + source bytes; the body follows as a separate part of the same ring record. */
export function encodeHeader(h: RecordHeader): Uint8Array {
  const src = enc.encode(h.source);
  if (src.length > MAX_SOURCE_BYTES)
    throw new RangeError(`source name longer than ${MAX_SOURCE_BYTES} bytes`);
  const out = new Uint8Array(HEADER_BYTES + src.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, h.reqId >>> 0, true);
  out[4] = h.format;
  out[5] = h.encoding;
  out[6] = src.length;
  out[7] = 0;
  dv.setFloat64(8, h.receivedAt, true);
  out.set(src, HEADER_BYTES);
  return out;
}

/** Reads a header from a record view (e.g. straight out of shared memory). */
export function decodeHeader(view: Uint8Array): { header: RecordHeader; bodyOffset: number } {
  const dv = new DataView(view.buffer, view.byteOffset, view.byteLength);
  const srcLen = view[6];
  // Copy before decoding: TextDecoder refuses views of a SharedArrayBuffer on some runtimes.
  const source = dec.decode(view.slice(HEADER_BYTES, HEADER_BYTES + srcLen));
  return {
    header: {
      reqId: dv.getUint32(0, true),
      format: view[4] as BodyFormat,
      encoding: view[5] as BodyEncoding,
      receivedAt: dv.getFloat64(8, true),
      source,
    },
    bodyOffset: HEADER_BYTES + srcLen,
  };
}
