import { Buffer } from 'node:buffer';
import type { OtlpMetrics } from '../../observe/metrics.js';
import type { IngestRequest, IngestResponse } from '../http/ingest.js';
import type { Listener } from '../http/serve.js';
import type { TlsMaterial } from '../http/tls.js';
import { exportResponse } from './answers.js';

/** gRPC status codes (grpc/status.h) used in answers. */
const CODE = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
const NAME: Record<number, string> = Object.fromEntries(
  Object.entries(CODE).map(([k, v]) => [v, k]),
);

export interface OtlpGrpcOptions {
  host: string;
  port: number;
  maxBodyBytes: number;
  /** createIngest(deps, OTLP_HTTP_DOOR): the message bytes go to a worker as they came. */
  ingest: (req: IngestRequest) => Promise<IngestResponse>;
  metrics: OtlpMetrics;
  tls?: TlsMaterial;
}

const identity = (b: Buffer) => b;

/**
 * OTLP/gRPC: `opentelemetry.proto.collector.logs.v1.LogsService/Export` with @grpc/grpc-js.
 * The service is declared with identity (de)serializers, so the request stays bytes on the main
 * thread and is decoded on a worker like an OTLP/HTTP protobuf body; the answer is an
 * ExportLogsServiceResponse (partial_success when records were refused) or a status: refused
 * input → INVALID_ARGUMENT, auth → UNAUTHENTICATED / PERMISSION_DENIED, anything ferry could not
 * make durable or is over a rate limit → UNAVAILABLE (retried by OTLP exporters).
 */
export async function listenOtlpGrpc(o: OtlpGrpcOptions): Promise<Listener> {
  const grpc = await import('@grpc/grpc-js');
  const server = new grpc.Server({
    'grpc.max_receive_message_length': o.maxBodyBytes,
  });
  const service = {
    Export: {
      path: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
  server.addService(service, {
    Export: (
      call: { request: Buffer; metadata: { get(k: string): unknown[] } },
      callback: (err: { code: number; details: string } | null, value?: Buffer) => void,
    ) => {
      const meta = (k: string) => {
        const v = call.metadata.get(k)[0];
        return typeof v === 'string' ? v : undefined;
      };
      const body = call.request;
      const answer = (code: number, details = '', value?: Buffer) => {
        o.metrics.otlpRequests.inc({ transport: 'grpc', encoding: 'protobuf', status: NAME[code] });
        callback(code === CODE.OK ? null : { code, details }, value);
      };
      o.ingest({
        ack: meta('x-ferry-ack'),
        contentType: 'application/x-protobuf',
        contentEncoding: undefined, // grpc-js has already undone the message compression
        authorization: meta('authorization'),
        readBody: async (limit) =>
          body.length > limit
            ? { ok: false, tooLarge: true, bytes: body.length }
            : { ok: true, chunks: body.length ? [body] : [], bytes: body.length },
      }).then(
        (r) => {
          const b = r.body as {
            error?: string;
            message?: string;
            accepted?: number;
            rejected?: number;
            rejected_message?: string;
          };
          if (r.status === 200 || r.status === 202) {
            const rejected = b.rejected ?? 0;
            if (rejected) o.metrics.otlpRecordsRejected.inc({ transport: 'grpc' }, rejected);
            if (rejected > 0 && (b.accepted ?? 0) === 0)
              return answer(
                CODE.INVALID_ARGUMENT,
                `every log record was refused: ${b.rejected_message}`,
              );
            const res = exportResponse(
              'protobuf',
              rejected,
              rejected ? (b.rejected_message ?? '') : '',
            );
            return answer(CODE.OK, '', Buffer.from(res.buffer, res.byteOffset, res.byteLength));
          }
          const details = `${b.error ?? 'error'}: ${b.message ?? ''}`;
          if (r.status === 401) return answer(CODE.UNAUTHENTICATED, details);
          if (r.status === 403) return answer(CODE.PERMISSION_DENIED, details);
          if (r.status === 429 || r.status >= 500) return answer(CODE.UNAVAILABLE, details);
          return answer(CODE.INVALID_ARGUMENT, details);
        },
        (err: unknown) => answer(CODE.UNAVAILABLE, `internal: ${(err as Error).message}`),
      );
    },
  });
  const creds = o.tls
    ? grpc.ServerCredentials.createSsl(null, [
        { private_key: Buffer.from(o.tls.key), cert_chain: Buffer.from(o.tls.cert) },
      ])
    : grpc.ServerCredentials.createInsecure();
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${o.host}:${o.port}`, creds, (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  return {
    port,
    stop: () => new Promise<void>((r) => server.tryShutdown(() => r())),
    forceClose: () => server.forceShutdown(),
  };
}
