/**
 * Elasticsearch's error body: `{"error":{"root_cause":[{type, reason}],type,reason},"status":N}`,
 * which every Elasticsearch client reads (and turns into its own exception by status).
 */
export function esError(status: number, type: string, reason: string): string {
  const cause = { type, reason };
  return JSON.stringify({ error: { root_cause: [cause], type, reason }, status });
}

/** A worker's or the pipeline's error word as an Elasticsearch exception type. */
export function esTypeOf(error: string): string {
  if (error.endsWith('_exception')) return error;
  switch (error) {
    case 'body_too_large':
      return 'content_too_long_exception';
    case 'bad_encoding':
    case 'malformed_body':
      return 'parse_exception';
    case 'queue_full':
    case 'dlq_full':
    case 'rate_limited':
      return 'es_rejected_execution_exception';
    default:
      // Sink failures, a failed worker, shutdown: the documents are not stored; the client retries.
      return 'unavailable_shards_exception';
  }
}
