import type { MetricFactory } from './factory.js';

/** The Elasticsearch `_bulk` door: answers by status, and its items by action and item status. */
export function createBulkMetrics({ c }: MetricFactory) {
  return {
    bulkRequests: c(
      'bulk_requests_total',
      'Elasticsearch _bulk requests by HTTP status of the answer (the handshake routes not counted).',
      ['status'],
    ),
    bulkItems: c(
      'bulk_items_total',
      'Elasticsearch _bulk items by action (index, create, update, delete) and item status (201 stored, 4xx refused).',
      ['action', 'status'],
    ),
  };
}

export type BulkMetrics = ReturnType<typeof createBulkMetrics>;
