import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { readIncomingLimited } from '../http/body.js';
import { lingeringClose } from '../http/linger.js';
import { CONTENT_TYPE, status } from './answers.js';
import { encodingOf, type OtlpHttpHandler } from './http.js';

/** The OTLP/HTTP route as serve.ts answers it on Node: its path and the door's handler. */
export interface OtlpNodeRoute {
  path: string;
  handle: OtlpHttpHandler;
}

/**
 * POST /v1/logs straight from node:http, as /v1/events and `_bulk` are (serve.ts): hono's web
 * Request/Response adapter cost more per export than the door's own main-thread work
 * (bench/RESULTS.md, "OTLP logs door").
 */
export async function otlpOnNode(
  req: IncomingMessage,
  res: ServerResponse,
  handle: OtlpHttpHandler,
): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const ack = q < 0 ? undefined : (new URLSearchParams(url.slice(q + 1)).get('ack') ?? undefined);
  let a: Awaited<ReturnType<OtlpHttpHandler>>;
  try {
    a = await handle({
      ack: ack ?? (req.headers['x-ferry-ack'] as string | undefined),
      contentType: req.headers['content-type'],
      contentEncoding: req.headers['content-encoding'],
      authorization: req.headers.authorization,
      readBody: (limit) => readIncomingLimited(req, req.headers['content-length'], limit),
    });
  } catch (err) {
    const encoding = encodingOf(req.headers['content-type']);
    a = {
      status: 500,
      body: status(encoding, 13, `internal: ${(err as Error).message}`),
      headers: { 'Content-Type': CONTENT_TYPE[encoding] },
    };
  }
  if (a.headers.Connection === 'close' && !req.complete) {
    // Answered before the body was read (413): linger so the client reads the status.
    const socket = req.socket as Socket & { destroySoon?: () => void };
    socket.destroySoon = () => lingeringClose(socket);
  }
  res.writeHead(a.status, { ...a.headers, 'Content-Length': a.body.byteLength });
  res.end(a.body);
}
