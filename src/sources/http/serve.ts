import { Buffer } from 'node:buffer';
import type { Hono } from 'hono';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { IngestRequest, IngestResponse } from './ingest.js';
import { readIncomingLimited } from './body.js';
import { answerClientError, lingeringClose } from './linger.js';
import type { Socket } from 'node:net';
import type { TlsMaterial } from './tls.js';
import { bulkOnNode, bulkTarget, type BulkHandler } from '../bulk/node.js';
import { otlpOnNode, type OtlpNodeRoute } from '../otlp/node.js';

export interface Listener {
  /** The bound port (useful with port 0). */
  port: number;
  /** Stop accepting connections; in-flight requests finish. */
  stop(): Promise<void>;
  /** Drop whatever connections are left (after the drain). */
  forceClose(): void;
  /** Swap the certificate for new connections (a renewal); undefined where the runtime's server cannot. */
  setTls?(material: TlsMaterial): void;
}

type BunServe = (o: {
  hostname: string;
  port: number;
  fetch: Hono['fetch'];
  maxRequestBodySize?: number;
  idleTimeout?: number;
  tls?: TlsMaterial;
}) => {
  port: number;
  stop(closeActive?: boolean): void | Promise<void>;
};
type DenoServe = (
  o: {
    hostname: string;
    port: number;
    onListen?: (a: { port: number }) => void;
    cert?: string;
    key?: string;
  },
  h: Hono['fetch'],
) => { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };

export interface ListenOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** The ingest route, served without hono's Request/Response conversion on Node ('' = none). */
  ingestPath: string;
  ingest: (req: IngestRequest) => Promise<IngestResponse>;
  /** Serve HTTPS with this certificate and key. */
  tls?: TlsMaterial;
  /** The `_bulk` door (bulk.enabled), also answered straight from node:http on Node. */
  bulk?: BulkHandler;
  /** The OTLP/HTTP logs route (otlp.enabled), also answered straight from node:http on Node. */
  otlp?: OtlpNodeRoute;
  /** http.timeouts (README, "Timeouts and early answers": what each runtime applies). */
  timeouts: { headers_ms: number; request_ms: number; keep_alive_ms: number };
}

/**
 * Serve the app with the runtime's own server: @hono/node-server on Node,
 * Bun.serve on Bun, Deno.serve on Deno. On Node the ingest route is answered
 * straight from node:http (the web Request/Response adapter cost more than all
 * of ferry's own main-thread work per request); every other route goes through hono.
 */
export async function listen(app: Hono, opts: ListenOptions): Promise<Listener> {
  const { host, port, maxBodyBytes, timeouts } = opts;
  const g = globalThis as { Bun?: { serve: BunServe }; Deno?: { serve: DenoServe } };
  if (g.Bun) {
    // Bun enforces its own body cap before our handler: keep it just above ours so we answer 413.
    // Bun has one timeout, idleTimeout (whole seconds, at most 255), which also runs while a
    // durable request waits for its answer: never below the 120 s it always had.
    const longest = Math.max(timeouts.headers_ms, timeouts.request_ms, timeouts.keep_alive_ms);
    const server = g.Bun.serve({
      hostname: host,
      port,
      fetch: app.fetch,
      maxRequestBodySize: maxBodyBytes + 65536,
      idleTimeout: Math.min(255, Math.max(120, Math.ceil(longest / 1000))),
      ...(opts.tls ? { tls: opts.tls } : {}),
    });
    return {
      port: server.port,
      stop: async () => {
        await server.stop(false);
      },
      forceClose: () => void server.stop(true),
    };
  }
  if (g.Deno) {
    let server!: ReturnType<DenoServe>;
    const bound = await new Promise<number>((resolve) => {
      server = g.Deno!.serve(
        { hostname: host, port, onListen: (a) => resolve(a.port), ...(opts.tls ?? {}) },
        app.fetch,
      );
    });
    return { port: bound, stop: () => server.shutdown(), forceClose: () => {} };
  }
  const { getRequestListener } = await import('@hono/node-server');
  const viaHono = getRequestListener(app.fetch);
  const handler = (req: IncomingMessage, res: ServerResponse) => {
    const path = pathOf(req.url);
    if (req.method === 'POST' && path === opts.ingestPath) {
      void ingestOnNode(req, res, opts.ingest);
      return;
    }
    if (opts.otlp && req.method === 'POST' && path === opts.otlp.path) {
      void otlpOnNode(req, res, opts.otlp.handle);
      return;
    }
    const bulk =
      opts.bulk && (req.method === 'POST' || req.method === 'PUT') ? bulkTarget(path) : undefined;
    if (bulk) void bulkOnNode(req, res, bulk.index, opts.bulk!);
    else void viaHono(req, res);
  };
  // node:http wants headersTimeout ≤ requestTimeout, and checks both on an interval
  // (30 s by default, which would stretch a 10 s header timeout to 40 s).
  const serverOptions = {
    headersTimeout: Math.min(timeouts.headers_ms, timeouts.request_ms),
    requestTimeout: timeouts.request_ms,
    keepAliveTimeout: timeouts.keep_alive_ms,
    connectionsCheckingInterval: Math.max(
      100,
      Math.min(1000, Math.floor(Math.min(timeouts.headers_ms, timeouts.request_ms) / 4)),
    ),
  };
  const server = opts.tls
    ? (await import('node:https')).createServer({ ...opts.tls, ...serverOptions }, handler)
    : (await import('node:http')).createServer(serverOptions, handler);
  // 431 for oversized headers, 408 for slow ones: answered, then a lingering close.
  server.on('clientError', answerClientError);
  return await new Promise<Listener>((resolve, reject) => {
    server.listen(port, host, () => {
      const info = server.address() as { port: number };
      resolve({
        port: info.port,
        stop: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            // Idle keep-alive sockets would hold close() open forever.
            (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          }),
        forceClose: () =>
          (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(),
        setTls: opts.tls
          ? (m) => (server as import('node:https').Server).setSecureContext({ ...m })
          : undefined,
      });
    });
    server.once('error', reject);
  });
}

function pathOf(url: string | undefined): string {
  const q = (url ?? '/').indexOf('?');
  return q < 0 ? (url ?? '/') : url!.slice(0, q);
}

function queryParam(url: string | undefined, name: string): string | undefined {
  const q = (url ?? '').indexOf('?');
  if (q < 0) return undefined;
  return new URLSearchParams(url!.slice(q + 1)).get(name) ?? undefined;
}

async function ingestOnNode(
  req: IncomingMessage,
  res: ServerResponse,
  ingest: ListenOptions['ingest'],
): Promise<void> {
  let r: IngestResponse;
  try {
    r = await ingest({
      ack: queryParam(req.url, 'ack') ?? (req.headers['x-ferry-ack'] as string | undefined),
      contentType: req.headers['content-type'],
      contentEncoding: req.headers['content-encoding'],
      authorization: req.headers.authorization,
      readBody: (limit) => readIncomingLimited(req, req.headers['content-length'], limit),
    });
  } catch (err) {
    r = { status: 500, body: { error: 'internal', message: (err as Error).message } };
  }
  if (r.headers?.Connection === 'close' && !req.complete) {
    // Answered before the body was read (413): node:http destroys the socket once the answer
    // is written, resetting a client still sending. Linger instead, so it reads the status.
    const socket = req.socket as Socket & { destroySoon?: () => void };
    socket.destroySoon = () => lingeringClose(socket);
  }
  const payload = JSON.stringify(r.body);
  res.writeHead(r.status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...r.headers,
  });
  res.end(payload);
}
