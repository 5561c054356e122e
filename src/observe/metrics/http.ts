import { LATENCY_BUCKETS as latency, type MetricFactory } from './factory.js';

/** The HTTP doors: requests by outcome, ack latency, events accepted (seed 001 names kept). */
export function createHttpMetrics({ c, g, h }: MetricFactory) {
  return {
    httpRequests: c('http_requests_total', 'HTTP ingest requests by response status.', ['status']),
    rejectedQueueFull: c(
      'http_requests_rejected_queue_full_total',
      'Requests answered 503 because every ring was full (backpressure).',
    ),
    rejectedBodyTooLarge: c(
      'http_requests_rejected_body_too_large_total',
      'Requests answered 413: body (or decompressed body) over the limit.',
    ),
    rejectedMalformed: c(
      'http_requests_rejected_malformed_total',
      'Requests answered 400: malformed body, nothing of it accepted.',
    ),
    ackLatency: h(
      'http_ack_latency_seconds',
      'Time from request start to the answer, by ack mode.',
      latency,
      ['ack'],
    ),
    eventsIn: c(
      'events_received_total',
      'Events accepted (answered 2xx: in a batch, or delivered for ack=durable), by source.',
      ['source'],
    ),
    pendingAcks: g('http_pending_durable_requests', 'Durable requests waiting for their batches.'),
    rejectedAuth: c(
      'http_requests_rejected_auth_total',
      'Requests refused by auth: unauthorized (401), forbidden (403), rate_limited (429).',
      ['reason'],
    ),
    rejectedDlqFull: c(
      'http_requests_rejected_dlq_full_total',
      'Requests answered 503 because a sink is down and its DLQ is full (policy reject).',
    ),
  };
}

export type HttpMetrics = ReturnType<typeof createHttpMetrics>;
