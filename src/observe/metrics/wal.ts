import type { MetricFactory } from './factory.js';

/** fdatasync latency: 0.1 ms … 1 s (a group commit is expected in a few ms). */
const FSYNC_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1,
];

/** The write-ahead log behind ack=durable (docs/wal.md). */
export function createWalMetrics({ c, g, h }: MetricFactory) {
  return {
    walAppendBytes: c(
      'wal_append_bytes_total',
      "Bytes appended (and fsync'd) to the write-ahead log, framing included.",
    ),
    walAppendRecords: c(
      'wal_append_records_total',
      'Records (requests) appended to the write-ahead log.',
    ),
    walFsyncs: c(
      'wal_fsyncs_total',
      'Group commits of the write-ahead log: one write + one fdatasync for every append waiting.',
    ),
    walFsyncSeconds: h(
      'wal_fsync_seconds',
      'Time of one group commit (write + fdatasync) of the write-ahead log.',
      FSYNC_BUCKETS,
    ),
    walRecordsPending: g(
      'wal_records_pending',
      'Records in the write-ahead log not yet released (their batches not yet delivered or in a DLQ).',
    ),
    walBytes: g('wal_bytes_current', 'Bytes of write-ahead-log segment files on disk.'),
    walFiles: g('wal_files_current', 'Write-ahead-log segment files on disk.'),
    walReplayed: c(
      'wal_records_replayed_total',
      'Records sent to the workers again: reason=startup (found after a crash), lost (a batch failed after the ack, or its worker died).',
      ['reason'],
    ),
    walRejectedFull: c(
      'wal_rejected_full_total',
      'Durable requests (or Kafka dispatches) refused because the write-ahead log is full (503 wal_full).',
    ),
    walCorruptRecords: c(
      'wal_corrupt_records_total',
      'Write-ahead-log records found corrupt (bad CRC or frame) and quarantined.',
    ),
  };
}

export type WalMetrics = ReturnType<typeof createWalMetrics>;
