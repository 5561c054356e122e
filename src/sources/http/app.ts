import { Hono } from 'hono';
import type { Metrics } from '../../observe/metrics.js';
import type { IngestRequest, IngestResponse, IngestDeps } from './ingest.js';
import { readBodyLimited } from './body.js';
import { mountBulkRoutes, type BulkRoutesDeps } from '../bulk/routes.js';

export interface Readiness {
  /** Empty when ready; otherwise the reasons it is not. */
  problems(): string[];
}

export interface AppDeps extends IngestDeps {
  ingest: (req: IngestRequest) => Promise<IngestResponse>;
  metrics: Metrics;
  readiness: Readiness;
  /** Refresh gauges that are sampled rather than pushed (rings, workers). */
  beforeScrape(): void;
  /** Routes of protocol doors served on this listener too (e.g. OTLP's /v1/logs). */
  doors?: (app: Hono) => void;
  /** The Elasticsearch `_bulk` door (bulk.enabled), mounted first. */
  bulk?: Omit<BulkRoutesDeps, 'auth' | 'ready'>;
}

/** The HTTP surface: ingest, metrics and health. Routes only; no server here. */
export function createApp(path: string, deps: AppDeps): Hono {
  const app = new Hono();
  if (deps.bulk)
    mountBulkRoutes(app, {
      ...deps.bulk,
      auth: deps.auth,
      ready: () => deps.readiness.problems().length === 0,
    });
  app.post(path, async (c) => {
    const r = await deps.ingest({
      ack: c.req.query('ack') ?? c.req.header('x-ferry-ack'),
      contentType: c.req.header('content-type'),
      contentEncoding: c.req.header('content-encoding'),
      authorization: c.req.header('authorization'),
      readBody: (limit) => readBodyLimited(c.req.raw, limit),
    });
    return c.json(r.body, r.status as 200, r.headers);
  });
  deps.doors?.(app);
  app.get('/metrics', async (c) => {
    // /healthz and /readyz stay open (probes rarely carry tokens); /metrics needs a token with the metrics route.
    const who = deps.auth.check('metrics', c.req.header('authorization'));
    if (!who.ok) {
      deps.metrics.rejectedAuth.inc({ reason: who.error });
      return c.json({ error: who.error, message: who.message }, who.status, who.headers);
    }
    deps.beforeScrape();
    const text = await deps.metrics.registry.metrics();
    return c.body(text, 200, { 'Content-Type': deps.metrics.registry.contentType });
  });
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  app.get('/readyz', (c) => {
    const problems = deps.readiness.problems();
    return problems.length === 0
      ? c.json({ status: 'ready' })
      : c.json({ status: 'not_ready', problems }, 503);
  });
  app.notFound((c) =>
    c.json({ error: 'not_found', message: `no route ${c.req.method} ${c.req.path}` }, 404),
  );
  app.onError((err, c) => c.json({ error: 'internal', message: err.message }, 500));
  return app;
}
