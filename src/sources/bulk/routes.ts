import type { Hono, Context } from 'hono';
import { readBodyLimited } from '../http/body.js';
import type { BulkDeps, BulkRequest, BulkResponse } from './door.js';
import { PRODUCT_HEADER, answerType, checkEsAuth, esAuthRefusal } from './door.js';
import {
  catHealthBody,
  healthBody,
  infoBody,
  licenseBody,
  type ClusterIdentity,
} from './handshake.js';

export interface BulkRoutesDeps {
  bulk: (req: BulkRequest) => Promise<BulkResponse>;
  auth: BulkDeps['auth'];
  identity: () => ClusterIdentity;
  /** Readiness, for GET /_cluster/health (green when ready, red otherwise). */
  ready: () => boolean;
}

/** A hono request as the door's request. */
export function bulkRequestOf(c: Context, index: string | undefined): BulkRequest {
  return {
    index,
    query: (name) => c.req.query(name),
    contentType: c.req.header('content-type'),
    contentEncoding: c.req.header('content-encoding'),
    accept: c.req.header('accept'),
    authorization: c.req.header('authorization'),
    ack: c.req.header('x-ferry-ack'),
    readBody: (limit) => readBodyLimited(c.req.raw, limit),
  };
}

/**
 * The `_bulk` door's routes on the shared listener: the bulk endpoints and the handshake
 * (handshake.ts). Mounted before every other route, so the product header reaches every answer.
 */
export function mountBulkRoutes(app: Hono, deps: BulkRoutesDeps): void {
  app.use('*', async (c, next) => {
    await next();
    for (const [k, v] of Object.entries(PRODUCT_HEADER)) c.res.headers.set(k, v);
  });
  const send = (r: BulkResponse) =>
    new Response((r.body ?? null) as BodyInit | null, { status: r.status, headers: r.headers });
  app.on(['POST', 'PUT'], '/_bulk', async (c) =>
    send(await deps.bulk(bulkRequestOf(c, undefined))),
  );
  app.on(['POST', 'PUT'], '/:index/_bulk', async (c) =>
    send(await deps.bulk(bulkRequestOf(c, c.req.param('index')))),
  );
  const handshake =
    (path: string, body: (c: Context) => string, text = false) =>
    async (c: Context) => {
      const jsonType = answerType(c.req.header('accept'), undefined);
      const who = checkEsAuth(deps, c.req.header('authorization'));
      if (!who.ok) {
        const r = esAuthRefusal(who, path);
        return new Response(r.body, {
          status: r.status,
          headers: { ...r.headers, 'Content-Type': jsonType },
        });
      }
      // The cat APIs answer text unless format=json asks otherwise.
      const type =
        text && c.req.query('format') !== 'json' ? 'text/plain; charset=UTF-8' : jsonType;
      return new Response(c.req.method === 'HEAD' ? null : body(c), {
        status: 200,
        headers: { 'Content-Type': type },
      });
    };
  app.on(
    ['GET', 'HEAD'],
    '/',
    handshake('/', () => infoBody(deps.identity())),
  );
  app.get(
    '/_license',
    handshake('/_license', () => licenseBody(deps.identity())),
  );
  app.get(
    '/_cluster/health',
    handshake('/_cluster/health', () => healthBody(deps.identity(), deps.ready())),
  );
  app.get(
    '/_cat/health',
    handshake(
      '/_cat/health',
      (c) =>
        catHealthBody(deps.identity(), deps.ready(), {
          json: c.req.query('format') === 'json',
          header: c.req.query('v') !== undefined,
        }),
      true,
    ),
  );
}
