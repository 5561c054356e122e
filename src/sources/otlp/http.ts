import type { Hono } from 'hono';
import { BodyFormat } from '../../rings/record.js';
import type { OtlpMetrics } from '../../observe/metrics.js';
import { readBodyLimited } from '../http/body.js';
import type { IngestDoor, IngestRequest, IngestResponse } from '../http/ingest.js';
import { otlpAnswer, type OtlpAnswer, type OtlpEncoding } from './answers.js';

const FORMATS: Record<string, BodyFormat> = {
  'application/x-protobuf': BodyFormat.OtlpLogsProtobuf,
  'application/protobuf': BodyFormat.OtlpLogsProtobuf,
  'application/json': BodyFormat.OtlpLogsJson,
};

/** POST /v1/logs as the ingest handler sees it: OTLP's Content-Types, source "otlp". */
export const OTLP_HTTP_DOOR: IngestDoor = {
  formatOf: (ct) => (ct ? FORMATS[ct.split(';')[0].trim().toLowerCase()] : undefined),
  supportedTypes: 'application/x-protobuf, application/json',
  source: 'otlp',
  emptyOk: true,
};

export function encodingOf(contentType: string | undefined): OtlpEncoding {
  // An unknown Content-Type is answered in JSON, the one a person with curl can read.
  return OTLP_HTTP_DOOR.formatOf(contentType) === BodyFormat.OtlpLogsProtobuf ? 'protobuf' : 'json';
}

export interface OtlpRouteDeps {
  path: string;
  /** createIngest(deps, OTLP_HTTP_DOOR): auth, limits, rings and acks as for /v1/events. */
  ingest: (req: IngestRequest) => Promise<IngestResponse>;
  metrics: OtlpMetrics;
  retryAfterS: () => number;
}

/** One OTLP/HTTP request as both servers see it (hono's context, or node:http's request). */
export interface OtlpHttpRequest {
  ack: string | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  authorization: string | undefined;
  readBody: IngestRequest['readBody'];
}

export type OtlpHttpHandler = (req: OtlpHttpRequest) => Promise<OtlpAnswer>;

/**
 * The OTLP/HTTP logs door (OTLP spec, "OTLP/HTTP"): the body goes to a worker as it came
 * (decoded there, workers/otlp-logs.ts); the answer is an ExportLogsServiceResponse or a
 * google.rpc.Status in the request's encoding.
 */
export function otlpHttpHandler(deps: OtlpRouteDeps): OtlpHttpHandler {
  return async (req) => {
    const encoding = encodingOf(req.contentType);
    const r = await deps.ingest(req);
    const a = otlpAnswer(r, encoding, deps.retryAfterS());
    deps.metrics.otlpRequests.inc({ transport: 'http', encoding, status: String(a.status) });
    const rejected = (r.body as { rejected?: number }).rejected;
    if (rejected) deps.metrics.otlpRecordsRejected.inc({ transport: 'http' }, rejected);
    return a;
  };
}

/** The route through hono (Bun, Deno; on Node serve.ts answers it straight from node:http). */
export function addOtlpHttpRoute(app: Hono, path: string, handle: OtlpHttpHandler): void {
  app.post(path, async (c) => {
    const a = await handle({
      ack: c.req.query('ack') ?? c.req.header('x-ferry-ack'),
      contentType: c.req.header('content-type'),
      contentEncoding: c.req.header('content-encoding'),
      authorization: c.req.header('authorization'),
      readBody: (limit) => readBodyLimited(c.req.raw, limit),
    });
    return c.body(a.body as Uint8Array<ArrayBuffer>, a.status as 200, a.headers);
  });
}
