/**
 * kafkajs failure → SinkError. kafkajs wraps what the broker or the socket said in
 * KafkaJSNumberOfRetriesExceeded / KafkaJSNonRetriableError; the first error in the cause
 * chain with a protocol `type` or a known name decides.
 *
 * | what | retry? | errorClass |
 * |---|---|---|
 * | connection refused / closed, broker not found, no metadata | retry | network |
 * | request timeout, REQUEST_TIMED_OUT, the attempt deadline | retry | timeout |
 * | THROTTLING_QUOTA_EXCEEDED | retry | throttled |
 * | NOT_ENOUGH_REPLICAS(_AFTER_APPEND), leader moves, other retriable broker errors | retry | http_5xx (the server side) |
 * | SASL failure, *_AUTHORIZATION_FAILED | permanent, waits in the DLQ | auth |
 * | UNKNOWN_TOPIC_OR_PARTITION (after kafkajs's own metadata retries) | permanent, waits in the DLQ (status 404) | rejected |
 * | MESSAGE_TOO_LARGE, RECORD_LIST_TOO_LARGE, INVALID_RECORD, CORRUPT_MESSAGE … | permanent | rejected |
 */
import { findInCauseChain, isTimeoutError } from '../../util/errors.js';
import { networkCode, SinkError, type SinkErrorClass } from '../errors.js';

const AUTH_TYPES = new Set([
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'ILLEGAL_SASL_STATE',
  'UNSUPPORTED_SASL_MECHANISM',
]);
const REJECTED_TYPES = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'CORRUPT_MESSAGE',
  'INVALID_TOPIC_EXCEPTION',
  'INVALID_REQUIRED_ACKS',
  'UNSUPPORTED_COMPRESSION_TYPE',
  'UNSUPPORTED_FOR_MESSAGE_FORMAT',
  'POLICY_VIOLATION',
]);
const NETWORK_NAMES = new Set([
  'KafkaJSConnectionError',
  'KafkaJSConnectionClosedError',
  'KafkaJSBrokerNotFound',
  'KafkaJSMetadataNotLoaded',
  'KafkaJSTopicMetadataNotLoaded',
]);

interface KafkaishError {
  name?: string;
  type?: string;
  retriable?: boolean;
  message?: string;
}

export function classifyKafkaError(err: unknown, what: string, signal?: AbortSignal): SinkError {
  if (err instanceof SinkError) return err;
  const make = (cls: SinkErrorClass, retryable: boolean, why: string, status?: number) =>
    new SinkError(`${what}: ${why}`, { retryable, errorClass: cls, status, cause: err });
  if (signal?.aborted) {
    const timeout = isTimeoutError(signal.reason);
    return make(timeout ? 'timeout' : 'aborted', true, timeout ? 'timed out' : 'aborted');
  }
  const protocol = findInCauseChain(err, (e) =>
    typeof (e as KafkaishError).type === 'string' ? (e as KafkaishError) : undefined,
  );
  if (protocol?.type) {
    const t = protocol.type;
    const why = `${t}: ${protocol.message ?? ''}`.trim();
    if (AUTH_TYPES.has(t)) return make('auth', false, why);
    if (t === 'UNKNOWN_TOPIC_OR_PARTITION') return make('rejected', false, why, 404);
    if (REJECTED_TYPES.has(t)) return make('rejected', false, why);
    if (t === 'REQUEST_TIMED_OUT') return make('timeout', true, why);
    if (t === 'THROTTLING_QUOTA_EXCEEDED') return make('throttled', true, why);
    // Leader elections, too few in-sync replicas, a broker restarting: the broker side, retried.
    return make('http_5xx', true, why);
  }
  const named = findInCauseChain(err, (e) => {
    const n = (e as KafkaishError).name;
    return n === 'KafkaJSSASLAuthenticationError' ||
      n === 'KafkaJSRequestTimeoutError' ||
      (n !== undefined && NETWORK_NAMES.has(n))
      ? (e as KafkaishError)
      : undefined;
  });
  if (named?.name === 'KafkaJSSASLAuthenticationError')
    return make('auth', false, named.message ?? 'SASL authentication failed');
  if (named?.name === 'KafkaJSRequestTimeoutError')
    return make('timeout', true, named.message ?? 'request timed out');
  const net = networkCode(err);
  if (named || net)
    return make('network', true, `${net ? `network error ${net}: ` : ''}${named?.message ?? ''}`);
  // Not recognised: retried (a wrong "permanent" would poison a good batch; a retry loses nothing).
  return make('internal', true, (err as KafkaishError | undefined)?.message ?? String(err));
}
