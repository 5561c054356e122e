/**
 * Metrics the alert rules and the dashboard use that src/observe/metrics.ts does not (yet)
 * register: the DLQ, the Kafka source and live reload add them; `up` is Prometheus' own.
 */
export const EXPECTED_ELSEWHERE = [
  'up',
  'dlq_files_current',
  'dlq_bytes_current',
  'dlq_events_dropped_total',
  'dlq_events_reuploaded_total',
  'dlq_files_expired_total',
  'dlq_corrupt_records_total',
  'kafka_consumer_lag',
  'config_reload_failures_total',
  'config_last_reload_success_timestamp_seconds',
];
