import type { Hono } from 'hono';

export interface Listener {
  /** The bound port (useful with port 0). */
  port: number;
  /** Stop accepting connections; in-flight requests finish. */
  stop(): Promise<void>;
  /** Drop whatever connections are left (after the drain). */
  forceClose(): void;
}

type BunServe = (o: { hostname: string; port: number; fetch: Hono['fetch']; maxRequestBodySize?: number; idleTimeout?: number }) => {
  port: number;
  stop(closeActive?: boolean): void | Promise<void>;
};
type DenoServe = (
  o: { hostname: string; port: number; onListen?: (a: { port: number }) => void },
  h: Hono['fetch'],
) => { addr: { port: number }; shutdown(): Promise<void>; finished: Promise<void> };

/**
 * Serve the app with the runtime's own server: @hono/node-server on Node,
 * Bun.serve on Bun, Deno.serve on Deno.
 */
export async function listen(app: Hono, host: string, port: number, maxBodyBytes: number): Promise<Listener> {
  const g = globalThis as { Bun?: { serve: BunServe }; Deno?: { serve: DenoServe } };
  if (g.Bun) {
    // Bun enforces its own body cap before our handler: keep it just above ours so we answer 413.
    const server = g.Bun.serve({ hostname: host, port, fetch: app.fetch, maxRequestBodySize: maxBodyBytes + 65536, idleTimeout: 120 });
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
      server = g.Deno!.serve({ hostname: host, port, onListen: (a) => resolve(a.port) }, app.fetch);
    });
    return { port: bound, stop: () => server.shutdown(), forceClose: () => {} };
  }
  const { serve } = await import('@hono/node-server');
  return await new Promise<Listener>((resolve, reject) => {
    const server = serve({ fetch: app.fetch, hostname: host, port }, (info) => {
      resolve({
        port: info.port,
        stop: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            // Idle keep-alive sockets would hold close() open forever.
            (server as unknown as { closeIdleConnections?: () => void }).closeIdleConnections?.();
          }),
        forceClose: () => (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.(),
      });
    });
    server.once('error', reject);
  });
}
