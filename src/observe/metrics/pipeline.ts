import type { MetricFactory } from './factory.js';

/** Rings, workers, batches and the main thread. */
export function createPipelineMetrics({ g, h }: MetricFactory) {
  return {
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
  };
}

export type PipelineMetrics = ReturnType<typeof createPipelineMetrics>;
