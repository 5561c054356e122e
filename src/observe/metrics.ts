import { Registry, collectDefaultMetrics } from 'prom-client';
import { metricFactory } from './metrics/factory.js';
import { createHttpMetrics } from './metrics/http.js';
import { createPipelineMetrics } from './metrics/pipeline.js';
import { createSinkMetrics } from './metrics/sinks.js';
import { createDlqMetrics } from './metrics/dlq.js';
import { createKafkaMetrics } from './metrics/kafka.js';
import { createConfigMetrics } from './metrics/config.js';
import { createOtlpMetrics } from './metrics/otlp.js';
import { createBulkMetrics } from './metrics/bulk.js';
import { createWalMetrics } from './metrics/wal.js';

export type { HttpMetrics } from './metrics/http.js';
export type { PipelineMetrics } from './metrics/pipeline.js';
export type { SinkMetrics } from './metrics/sinks.js';
export type { DlqMetrics } from './metrics/dlq.js';
export type { KafkaMetrics } from './metrics/kafka.js';
export type { ConfigMetrics } from './metrics/config.js';
export type { OtlpMetrics } from './metrics/otlp.js';
export type { BulkMetrics } from './metrics/bulk.js';
export type { WalMetrics } from './metrics/wal.js';

/**
 * Every metric ferry exports, in one registry. Names of seed 001 are kept as they are
 * (operators' alert rules use them); the rest are ferry_-free plain names in the same style.
 * Each subsystem declares its own group in metrics/<subsystem>.ts, and a module takes only the
 * groups it writes (e.g. `DlqMetrics`), not the whole object.
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
  const f = metricFactory(registry);
  return {
    registry,
    ...createHttpMetrics(f),
    ...createPipelineMetrics(f),
    ...createSinkMetrics(f),
    ...createDlqMetrics(f),
    ...createKafkaMetrics(f),
    ...createConfigMetrics(f),
    ...createOtlpMetrics(f),
    ...createBulkMetrics(f),
    ...createWalMetrics(f),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
