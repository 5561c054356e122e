import type { MetricFactory } from './factory.js';

/** The OTLP door (HTTP and gRPC): requests by answer, records refused one by one. */
export function createOtlpMetrics({ c }: MetricFactory) {
  return {
    otlpRequests: c(
      'otlp_requests_total',
      'OTLP logs export requests by transport (http, grpc), encoding (protobuf, json) and answer (HTTP status, or gRPC code name).',
      ['transport', 'encoding', 'status'],
    ),
    otlpRecordsRejected: c(
      'otlp_log_records_rejected_total',
      'Log records refused one by one and reported in partial_success (the rest of their request was taken).',
      ['transport'],
    ),
  };
}

export type OtlpMetrics = ReturnType<typeof createOtlpMetrics>;
