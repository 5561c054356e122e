import { Registry, Counter, Gauge, Histogram, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric ferry exports, in one registry. Names of seed 001 are kept as
 * they are (operators' alert rules use them); the rest are ferry_-free plain
 * names in the same style.
 */
export function createMetrics() {
  const registry = new Registry();
  if (
    typeof (globalThis as { Bun?: unknown; Deno?: unknown }).Bun === 'undefined' &&
    typeof (globalThis as { Deno?: unknown }).Deno === 'undefined'
  ) {
    // process/GC/heap metrics use Node internals; the other runtimes get only ferry's own.
    collectDefaultMetrics({ register: registry });
  }
  const c = <T extends string>(name: string, help: string, labelNames: readonly T[] = []) =>
    new Counter<T>({ name, help, labelNames, registers: [registry] });
  const g = <T extends string>(name: string, help: string, labelNames: readonly T[] = []) =>
    new Gauge<T>({ name, help, labelNames, registers: [registry] });
  const h = <T extends string>(
    name: string,
    help: string,
    buckets: number[],
    labelNames: readonly T[] = [],
  ) => new Histogram<T>({ name, help, buckets, labelNames, registers: [registry] });

  const latency = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  return {
    registry,
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
    uploadLatency: h(
      'sink_write_duration_seconds',
      'Duration of one successful sink write (S3 upload, ClickHouse insert, file write).',
      latency,
      ['sink'],
    ),
    batchEvents: h(
      'batch_events',
      'Events per sealed batch.',
      [10, 100, 500, 1000, 2500, 5000, 10000, 50000],
    ),
    batchBytes: h(
      'batch_bytes',
      'Archive bytes per sealed batch, after compression.',
      [1e3, 1e4, 1e5, 5e5, 1e6, 4e6, 16e6, 64e6],
    ),
    batchesInflight: g('batches_inflight', 'Sealed batches being delivered.'),
    ringUsedBytes: g('ring_used_bytes', 'Bytes waiting in each worker ring.', ['worker']),
    ringCapacityBytes: g('ring_capacity_bytes', 'Capacity of each worker ring.', ['worker']),
    workerBusyRatio: g(
      'worker_busy_ratio',
      'Share of wall time each worker spent working, over the last scrape interval.',
      ['worker'],
    ),
    eventLoopLag: g(
      'event_loop_lag_seconds',
      'Main-thread event-loop lag (timer drift), last sample.',
    ),
    pendingAcks: g('http_pending_durable_requests', 'Durable requests waiting for their batches.'),
    // auth and config reload
    rejectedAuth: c(
      'http_requests_rejected_auth_total',
      'Requests refused by auth: unauthorized (401), forbidden (403), rate_limited (429).',
      ['reason'],
    ),
    configReloads: c('config_reloads_total', 'SIGHUP reloads, by result (ok | failed).', [
      'result',
    ]),
    configReloadFailures: c(
      'config_reload_failures_total',
      'Reloads refused (invalid file); the running config was kept.',
    ),
    configLastReloadSuccess: g(
      'config_last_reload_success_timestamp_seconds',
      'Unix time of the last successful config load (start or reload).',
    ),
    configRestartRequired: g(
      'config_reload_restart_required',
      '1 while the config file has changes that only a restart applies (listener, workers, state dir, sinks added/removed).',
    ),
    // local DLQ (seed 001 names)
    dlqFiles: g(
      'dlq_files_current',
      'Segment files in the local DLQ, by sink (poison area not included).',
      ['sink'],
    ),
    dlqBytes: g('dlq_bytes_current', 'Bytes of segment files in the local DLQ, by sink.', ['sink']),
    dlqEvents: g('dlq_events_current', 'Events waiting in the local DLQ, by sink.', ['sink']),
    dlqEventsSpooled: c(
      'dlq_events_spooled_total',
      "Events written (fsync'd) to the local DLQ because a sink could not take them.",
      ['sink'],
    ),
    dlqEventsDropped: c(
      'dlq_events_dropped_total',
      'Events removed from the DLQ unshipped: policy drop_oldest (reason=capacity) or TTL (reason=ttl).',
      ['sink', 'reason'],
    ),
    dlqEventsReuploaded: c(
      'dlq_events_reuploaded_total',
      'Events shipped from the DLQ after the sink came back.',
      ['sink'],
    ),
    dlqFilesExpired: c(
      'dlq_files_expired_total',
      'Segment files removed because they were older than dlq.ttl_hours.',
      ['sink'],
    ),
    dlqCorruptRecords: c(
      'dlq_corrupt_records_total',
      'Records found corrupt at recovery (bad CRC or frame) and quarantined.',
      ['sink'],
    ),
    dlqPoisonBatches: c(
      'dlq_poison_batches_total',
      'Batches a sink refused with a permanent error, kept in the poison area.',
      ['sink'],
    ),
    rejectedDlqFull: c(
      'http_requests_rejected_dlq_full_total',
      'Requests answered 503 because a sink is down and its DLQ is full (policy reject).',
    ),
    dlqSaveFailures: c(
      'dlq_save_failures_total',
      'Batches the DLQ could not take (full, ENOSPC, I/O error); their requests were answered 503.',
      ['sink', 'reason'],
    ),
    dlqSinkOpen: g(
      'dlq_circuit_open',
      "1 while a sink's circuit breaker is open (new batches go straight to the DLQ).",
      ['sink'],
    ),
    kafkaConsumerLag: g(
      'kafka_consumer_lag',
      'Messages in a partition past the offset ferry last committed (high watermark − committed).',
      ['topic', 'partition'],
    ),
    kafkaMessagesIn: c(
      'kafka_messages_received_total',
      'Kafka messages fetched and handed to the pipeline (or to the DLQ topic), by topic.',
      ['topic'],
    ),
    kafkaCommits: c(
      'kafka_offset_commits_total',
      'Partition offsets committed (each only after every message before it was durable).',
    ),
    kafkaCommitErrors: c(
      'kafka_offset_commit_errors_total',
      'Offset commits the broker refused (rebalance, broker down); retried on the next interval.',
    ),
    kafkaDlqMessages: c(
      'kafka_dlq_messages_total',
      'Poison messages written to the DLQ topic, by source topic and error class.',
      ['topic', 'class'],
    ),
    kafkaRebalances: c(
      'kafka_rebalances_total',
      'Consumer group (re)joins: start, rebalance, or recovery after a broker restart.',
    ),
    kafkaPauses: c(
      'kafka_partition_pauses_total',
      'Partitions paused, by reason (rings full, in-flight limit, DLQ full, a batch being retried).',
      ['reason'],
    ),
    kafkaConsumerRestarts: c(
      'kafka_consumer_restarts_total',
      'Consumer crashes followed by a restart with backoff.',
    ),
    kafkaInflightBytes: g(
      'kafka_inflight_bytes',
      'Kafka message bytes dispatched but not yet durable.',
    ),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
