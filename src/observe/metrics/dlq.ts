import type { MetricFactory } from './factory.js';

/** The local DLQ (seed 001 names): segments, spooled, dropped, re-uploaded, poison, save failures. */
export function createDlqMetrics({ c, g }: MetricFactory) {
  return {
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
  };
}

export type DlqMetrics = ReturnType<typeof createDlqMetrics>;
