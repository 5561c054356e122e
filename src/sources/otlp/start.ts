import { Hono } from 'hono';
import type { FerryConfig } from '../../config/types.js';
import type { Metrics } from '../../observe/metrics.js';
import { createIngest, type IngestDeps } from '../http/ingest.js';
import { listen, type Listener } from '../http/serve.js';
import type { TlsMaterial } from '../http/tls.js';
import { addOtlpHttpRoute, OTLP_HTTP_DOOR, otlpHttpHandler } from './http.js';
import type { OtlpNodeRoute } from './node.js';
import { listenOtlpGrpc } from './grpc.js';

export interface OtlpDoors {
  /** Routes to add to the main listener's app (otlp.port 0), else undefined. */
  sharedRoutes?: (app: Hono) => void;
  /** The same route for the main listener to answer straight from node:http (on Node). */
  nodeRoute?: OtlpNodeRoute;
  /** Starts the door's own listener (otlp.port set) and returns one Listener for both. */
  listen(main: Listener, tls: TlsMaterial | undefined): Promise<Listener>;
  /** What the start-up log line says about the door (its own port once bound). */
  describe(): Record<string, unknown> | undefined;
}

/** The OTLP door's wiring (config `otlp`): nothing at all when it is off. */
export function startOtlp(cfg: FerryConfig, deps: IngestDeps, metrics: Metrics): OtlpDoors {
  const http = startOtlpHttp(cfg, deps, metrics);
  if (!cfg.otlp.enabled || !cfg.otlp.grpc.enabled) return http;
  let grpcPort = cfg.otlp.grpc.port;
  return {
    sharedRoutes: http.sharedRoutes,
    nodeRoute: http.nodeRoute,
    describe: () => ({ ...http.describe(), grpc_port: grpcPort }),
    listen: async (main, tls) => {
      const withHttp = await http.listen(main, tls);
      const grpc = await listenOtlpGrpc({
        host: cfg.listen.host,
        port: cfg.otlp.grpc.port,
        maxBodyBytes: cfg.http.max_body_bytes,
        ingest: createIngest(deps, OTLP_HTTP_DOOR),
        metrics,
        tls,
      });
      grpcPort = grpc.port;
      return both(withHttp, grpc);
    },
  };
}

function startOtlpHttp(cfg: FerryConfig, deps: IngestDeps, metrics: Metrics): OtlpDoors {
  if (!cfg.otlp.enabled) return { listen: async (main) => main, describe: () => undefined };
  const ingest = createIngest(deps, OTLP_HTTP_DOOR);
  const handle = otlpHttpHandler({
    path: cfg.otlp.path,
    ingest,
    metrics,
    retryAfterS: () => deps.config().http.retry_after_s,
  });
  const routes = (app: Hono) => addOtlpHttpRoute(app, cfg.otlp.path, handle);
  const nodeRoute = { path: cfg.otlp.path, handle };
  if (cfg.otlp.port === 0)
    return {
      sharedRoutes: routes,
      nodeRoute,
      listen: async (main) => main,
      describe: () => ({ path: cfg.otlp.path, port: 'main' }),
    };
  let ownPort = cfg.otlp.port;
  return {
    describe: () => ({ path: cfg.otlp.path, port: ownPort }),
    listen: async (main, tls) => {
      const app = new Hono();
      routes(app);
      app.notFound((c) =>
        c.json({ error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404),
      );
      app.onError((err, c) => c.json({ error: 'internal', message: err.message }, 500));
      const own = await listen(app, {
        host: cfg.listen.host,
        port: cfg.otlp.port,
        maxBodyBytes: cfg.http.max_body_bytes,
        ingestPath: '',
        ingest,
        otlp: nodeRoute,
        tls,
        timeouts: cfg.http.timeouts,
      });
      ownPort = own.port;
      return both(main, own);
    },
  };
}

/** The main listener and the door's as one: stopped, closed and re-keyed together. */
function both(main: Listener, own: Listener): Listener {
  return {
    port: main.port,
    stop: async () => {
      await Promise.all([main.stop(), own.stop()]);
    },
    forceClose: () => {
      main.forceClose();
      own.forceClose();
    },
    setTls:
      main.setTls &&
      ((m) => {
        main.setTls!(m);
        own.setTls?.(m);
      }),
  };
}
