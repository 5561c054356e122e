import { LATENCY_BUCKETS as latency, type MetricFactory } from './factory.js';

/** Delivery to sinks: events out, errors, retries, write latency (the S3 names of seed 001 included). */
export function createSinkMetrics({ c, h }: MetricFactory) {
  return {
    eventsOut: c('sink_events_delivered_total', 'Events a sink confirmed, by sink.', ['sink']),
    sinkErrors: c('sink_errors_total', 'Failed sink attempts, by sink and error class.', [
      'sink',
      'class',
    ]),
    sinkRetries: c('sink_retries_total', 'Sink attempts retried after a retryable error.', [
      'sink',
    ]),
    batchesFailed: c(
      'batches_failed_total',
      'Batches a sink could not take (after retries, or permanent).',
      ['sink', 'reason'],
    ),
    s3PutErrors: c('s3_put_errors_total', 'Failed S3 PutObject/upload attempts.'),
    s3EventsStored: c('s3_events_stored_total', 'Events in objects S3 confirmed.'),
    clickhouseInsertErrors: c(
      'clickhouse_insert_errors_total',
      'Failed ClickHouse insert attempts, by error class.',
      ['class'],
    ),
    clickhouseUnroutedEvents: c(
      'clickhouse_unrouted_events_total',
      'Events no ClickHouse route took while unmatched events are refused: kept as poison rows with the reason (the other sinks still store them).',
      ['sink'],
    ),
    kafkaProduceErrors: c(
      'kafka_produce_errors_total',
      'Failed Kafka sink produce attempts, by error class.',
      ['class'],
    ),
    kafkaSinkMessages: c(
      'kafka_sink_messages_total',
      'Messages the brokers acknowledged (acks=all) to a Kafka sink, by sink.',
      ['sink'],
    ),
    httpSinkRequests: c(
      'http_sink_requests_total',
      "HTTP sink requests, by sink, URL and answer ('network' when none came).",
      ['sink', 'url', 'status'],
    ),
    uploadLatency: h(
      'sink_write_duration_seconds',
      'Duration of one successful sink write (S3 upload, ClickHouse insert, file write).',
      latency,
      ['sink'],
    ),
  };
}

export type SinkMetrics = ReturnType<typeof createSinkMetrics>;
