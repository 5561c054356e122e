import { Buffer } from 'node:buffer';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readIncomingLimited } from '../http/body.js';
import { lingeringClose } from '../http/linger.js';
import type { BulkRequest, BulkResponse } from './door.js';
import { PRODUCT_HEADER } from './door.js';

export type BulkHandler = (req: BulkRequest) => Promise<BulkResponse>;

/** `/_bulk` → { index: undefined }, `/{index}/_bulk` → its index (URL-decoded); else undefined. */
export function bulkTarget(path: string): { index: string | undefined } | undefined {
  if (path === '/_bulk') return { index: undefined };
  if (!path.endsWith('/_bulk')) return undefined;
  const seg = path.slice(1, -'/_bulk'.length);
  if (seg.length === 0 || seg.includes('/')) return undefined;
  try {
    return { index: decodeURIComponent(seg) };
  } catch {
    return undefined;
  }
}

/**
 * The `_bulk` routes straight from node:http, as /v1/events is (serve.ts): hono's web
 * Request/Response adapter costs more than the door's own main-thread work.
 */
export async function bulkOnNode(
  req: IncomingMessage,
  res: ServerResponse,
  index: string | undefined,
  bulk: BulkHandler,
): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const params = q < 0 ? undefined : new URLSearchParams(url.slice(q + 1));
  let r: BulkResponse;
  try {
    r = await bulk({
      index,
      query: (name) => params?.get(name) ?? undefined,
      contentType: req.headers['content-type'],
      contentEncoding: req.headers['content-encoding'],
      accept: req.headers.accept,
      authorization: req.headers.authorization,
      ack: req.headers['x-ferry-ack'] as string | undefined,
      readBody: (limit) => readIncomingLimited(req, req.headers['content-length'], limit),
    });
  } catch (err) {
    r = {
      status: 500,
      body: JSON.stringify({
        error: { type: 'exception', reason: (err as Error).message },
        status: 500,
      }),
      headers: { ...PRODUCT_HEADER, 'Content-Type': 'application/json' },
    };
  }
  if (r.headers.Connection === 'close' && !req.complete) {
    // Answered before the body was read (413): linger so the client reads the status.
    const socket = req.socket as Socket & { destroySoon?: () => void };
    socket.destroySoon = () => lingeringClose(socket);
  }
  const body = r.body ?? '';
  res.writeHead(r.status, {
    ...r.headers,
    'Content-Length': typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength,
  });
  res.end(body);
}
