import { Buffer } from 'node:buffer';
import type { IngestResponse } from '../http/ingest.js';
import { otlpLogsProto, protobufWriter } from './proto.js';

/** How an OTLP/HTTP request was encoded; its answer goes back in the same encoding. */
export type OtlpEncoding = 'protobuf' | 'json';

export interface OtlpAnswer {
  status: number;
  body: Uint8Array;
  headers: Record<string, string>;
}

/** google.rpc.Status codes used in refusals (google/rpc/code.proto). */
const RPC = {
  INVALID_ARGUMENT: 3,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;

export const CONTENT_TYPE: Record<OtlpEncoding, string> = {
  protobuf: 'application/x-protobuf',
  json: 'application/json',
};

/**
 * ferry's answer to a request (the /v1/events handler's) → the answer the OTLP/HTTP spec asks
 * for: 200 with an ExportLogsServiceResponse (partial_success when some records were refused);
 * otherwise the status with a google.rpc.Status body. Everything ferry could not make durable
 * (5xx) is 503 + Retry-After, the status OTLP exporters retry; 429 keeps its Retry-After.
 */
export function otlpAnswer(
  r: IngestResponse,
  encoding: OtlpEncoding,
  retryAfterS: number,
): OtlpAnswer {
  const headers: Record<string, string> = { 'Content-Type': CONTENT_TYPE[encoding] };
  if (r.headers?.Connection) headers.Connection = r.headers.Connection;
  if (r.headers?.['WWW-Authenticate']) headers['WWW-Authenticate'] = r.headers['WWW-Authenticate'];
  const b = r.body as {
    error?: string;
    message?: string;
    accepted?: number;
    rejected?: number;
    rejected_message?: string;
  };
  if (r.status === 200 || r.status === 202) {
    const rejected = b.rejected ?? 0;
    if (rejected > 0 && (b.accepted ?? 0) === 0) {
      const msg = `every log record was refused: ${b.rejected_message ?? ''}`;
      return { status: 400, body: status(encoding, RPC.INVALID_ARGUMENT, msg), headers };
    }
    return {
      status: 200,
      body: exportResponse(encoding, rejected, rejected > 0 ? (b.rejected_message ?? '') : ''),
      headers,
    };
  }
  const message = `${b.error ?? 'error'}: ${b.message ?? ''}`;
  if (r.status >= 500) {
    headers['Retry-After'] = r.headers?.['Retry-After'] ?? String(retryAfterS);
    return { status: 503, body: status(encoding, RPC.UNAVAILABLE, message), headers };
  }
  if (r.status === 429) {
    headers['Retry-After'] = r.headers?.['Retry-After'] ?? String(retryAfterS);
    return { status: 429, body: status(encoding, RPC.RESOURCE_EXHAUSTED, message), headers };
  }
  const code =
    r.status === 401
      ? RPC.UNAUTHENTICATED
      : r.status === 403
        ? RPC.PERMISSION_DENIED
        : r.status === 413
          ? RPC.RESOURCE_EXHAUSTED
          : r.status >= 400 && r.status < 500
            ? RPC.INVALID_ARGUMENT
            : RPC.INTERNAL;
  return { status: r.status, body: status(encoding, code, message), headers };
}

/** ExportLogsServiceResponse: empty on full success, partial_success otherwise. */
export function exportResponse(
  encoding: OtlpEncoding,
  rejected: number,
  message: string,
): Uint8Array {
  if (encoding === 'json') {
    const body =
      rejected > 0
        ? { partialSuccess: { rejectedLogRecords: String(rejected), errorMessage: message } }
        : {};
    return Buffer.from(JSON.stringify(body));
  }
  const msg =
    rejected > 0 ? { partialSuccess: { rejectedLogRecords: rejected, errorMessage: message } } : {};
  return otlpLogsProto().ExportLogsServiceResponse.encode(msg).finish();
}

/** google.rpc.Status {code, message} (details left empty). */
export function status(encoding: OtlpEncoding, code: number, message: string): Uint8Array {
  if (encoding === 'json') return Buffer.from(JSON.stringify({ code, message, details: [] }));
  // field 1 (code, varint) and field 2 (message, length-delimited)
  const w = protobufWriter();
  w.uint32(8).int32(code);
  w.uint32(18).string(message);
  return w.finish();
}
