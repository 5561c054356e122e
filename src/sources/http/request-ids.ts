/**
 * Request ids, one sequence for every door of the process (/v1/events, OTLP over HTTP and gRPC,
 * `_bulk`): the AckTracker keys pending requests by it, so two doors must never hand out the same one. The lower half of the u32 space: the
 * Kafka source numbers its records in the upper half.
 */
let next = 1;

export function nextHttpRequestId(): number {
  const id = next;
  next = (next + 1) & 0x7fffffff || 1;
  return id;
}
