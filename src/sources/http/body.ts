import { BodyEncoding, BodyFormat } from '../../rings/record.js';

export type BodyRead =
  | { ok: true; chunks: Uint8Array[]; bytes: number }
  | { ok: false; tooLarge: true; bytes: number };

/**
 * Read a request body without ever holding more than `limit` bytes: a
 * Content-Length over the limit is refused before reading, a chunked body is
 * cut off as soon as it passes the limit. Chunks are kept as they came so the
 * ring write can gather them without concatenating.
 */
export async function readBodyLimited(req: Request, limit: number): Promise<BodyRead> {
  const declared = Number(req.headers.get('content-length') ?? NaN);
  if (Number.isFinite(declared) && declared > limit)
    return { ok: false, tooLarge: true, bytes: declared };
  if (!req.body) return { ok: true, chunks: [], bytes: 0 };
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let bytes = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    bytes += value.byteLength;
    if (bytes > limit) {
      await reader.cancel().catch(() => {});
      return { ok: false, tooLarge: true, bytes };
    }
    chunks.push(value);
  }
  return { ok: true, chunks, bytes };
}

/** The slice of node:http's IncomingMessage we use (hono's node server passes it as c.env.incoming). */
export interface NodeIncoming {
  on(event: 'data', f: (chunk: Uint8Array) => void): unknown;
  on(event: 'end' | 'close', f: () => void): unknown;
  on(event: 'error', f: (e: Error) => void): unknown;
  resume(): unknown;
  readableEnded?: boolean;
}

/** How much of an oversized body we read and discard so the client sees our 413 instead of a reset. */
const DRAIN_CAP = 64 * 1024 * 1024;

/**
 * The same limits over node:http's IncomingMessage (no web-stream adapter).
 * An oversized body is drained (never kept) up to a cap before answering 413,
 * because closing while the client still writes turns the 413 into EPIPE on
 * its side; past the cap the connection is simply closed.
 */
export function readIncomingLimited(
  incoming: NodeIncoming,
  declaredLength: string | undefined,
  limit: number,
): Promise<BodyRead> {
  const declared = Number(declaredLength ?? NaN);
  const drainCap = Math.min(DRAIN_CAP, limit * 4);
  if (Number.isFinite(declared) && declared > limit && declared > drainCap)
    return Promise.resolve({ ok: false, tooLarge: true, bytes: declared });
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let bytes = 0;
    let done = false;
    const tooLarge = () => {
      done = true;
      resolve({ ok: false, tooLarge: true, bytes });
    };
    incoming.on('data', (c: Uint8Array) => {
      if (done) return;
      bytes += c.byteLength;
      if (bytes > drainCap) return tooLarge();
      if (bytes > limit) {
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    incoming.on('end', () => {
      if (done) return;
      if (bytes > limit) tooLarge();
      else (done = true), resolve({ ok: true, chunks, bytes });
    });
    incoming.on('close', () => {
      if (!done)
        (done = true), reject(new Error('client closed the connection before the body was read'));
    });
    incoming.on('error', (e: Error) => {
      if (!done) (done = true), reject(e);
    });
  });
}

const FORMATS: Record<string, BodyFormat> = {
  'application/x-ndjson': BodyFormat.Ndjson,
  'application/ndjson': BodyFormat.Ndjson,
  'application/jsonl': BodyFormat.Ndjson,
  'application/json-lines': BodyFormat.Ndjson,
  'application/json': BodyFormat.Json,
  'application/msgpack': BodyFormat.Msgpack,
  'application/x-msgpack': BodyFormat.Msgpack,
  'application/vnd.msgpack': BodyFormat.Msgpack,
};

/** Content-Type → body format; a missing type means NDJSON, an unknown one is refused (415). */
export function formatOf(contentType: string | undefined | null): BodyFormat | undefined {
  if (!contentType) return BodyFormat.Ndjson;
  return FORMATS[contentType.split(';')[0].trim().toLowerCase()];
}

const ENCODINGS: Record<string, BodyEncoding> = {
  '': BodyEncoding.Identity,
  identity: BodyEncoding.Identity,
  gzip: BodyEncoding.Gzip,
  'x-gzip': BodyEncoding.Gzip,
  lz4: BodyEncoding.Lz4,
  zstd: BodyEncoding.Zstd,
};

export function encodingOf(contentEncoding: string | undefined | null): BodyEncoding | undefined {
  return ENCODINGS[(contentEncoding ?? '').trim().toLowerCase()];
}

export const SUPPORTED_TYPES = 'application/x-ndjson, application/json, application/msgpack';
export const SUPPORTED_ENCODINGS = 'identity, gzip, lz4, zstd';
