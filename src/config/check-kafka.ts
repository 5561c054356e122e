import { readFileSync } from 'node:fs';
import type { FerryConfig } from './types.js';
import type { ConfigIssue } from './load.js';

const TRUE = new Set(['1', 'true', 'yes', 'on']);
const FALSE = new Set(['0', 'false', 'no', 'off']);

/**
 * KAFKA_CONSUMER_ENABLED (seed 004's switch) overrides kafka.enabled, so one
 * image can run with or without the consumer. Applied to the raw YAML before
 * validation; an unreadable value is a config error, never a silent default.
 */
export function applyKafkaEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv): ConfigIssue[] {
  const v = env.KAFKA_CONSUMER_ENABLED;
  if (v === undefined || v === '') return [];
  const lower = v.trim().toLowerCase();
  if (!TRUE.has(lower) && !FALSE.has(lower)) {
    return [{ path: 'env KAFKA_CONSUMER_ENABLED', message: `must be true or false, got "${v}"` }];
  }
  const kafka =
    raw.kafka && typeof raw.kafka === 'object' && !Array.isArray(raw.kafka)
      ? (raw.kafka as Record<string, unknown>)
      : {};
  kafka.enabled = TRUE.has(lower);
  raw.kafka = kafka;
  return [];
}

/** What the schema cannot say about the kafka section. */
export function checkKafka(cfg: FerryConfig): ConfigIssue[] {
  const k = cfg.kafka;
  const issues: ConfigIssue[] = [];
  if (!k.enabled) return issues;
  if (k.topics.length === 0)
    issues.push({
      path: 'kafka.topics',
      message: 'name at least one topic when kafka.enabled is true',
    });
  if (k.brokers.length === 0)
    issues.push({
      path: 'kafka.brokers',
      message: 'name at least one broker when kafka.enabled is true',
    });
  for (const t of k.topics) {
    if (t.endsWith(k.dlq_topic_suffix))
      issues.push({
        path: 'kafka.topics',
        message: `topic "${t}" ends with the DLQ suffix "${k.dlq_topic_suffix}": ferry would consume its own DLQ`,
      });
  }
  if (k.sasl.mechanism !== 'none' && !k.sasl.username)
    issues.push({ path: 'kafka.sasl.username', message: `needed for SASL ${k.sasl.mechanism}` });
  if (k.sasl.mechanism !== 'none' && !k.sasl.password)
    issues.push({
      path: 'kafka.sasl.password',
      message: `needed for SASL ${k.sasl.mechanism} (give it as FERRY_KAFKA__SASL__PASSWORD)`,
    });
  const t = k.tls;
  if ((t.cert !== '') !== (t.key !== ''))
    issues.push({ path: 'kafka.tls', message: 'cert and key go together (mutual TLS)' });
  if (!t.enabled && (t.ca || t.cert || t.servername))
    issues.push({
      path: 'kafka.tls.enabled',
      message: 'tls settings given but tls.enabled is false',
    });
  for (const f of ['ca', 'cert', 'key'] as const) {
    if (!t.enabled || !t[f]) continue;
    try {
      if (!readFileSync(t[f], 'utf8').includes('-----BEGIN '))
        issues.push({ path: `kafka.tls.${f}`, message: `${t[f]} is not a PEM file` });
    } catch (err) {
      issues.push({
        path: `kafka.tls.${f}`,
        message: `cannot read ${t[f]}: ${(err as Error).message}`,
      });
    }
  }
  if (k.retry_max_ms < k.retry_initial_ms)
    issues.push({ path: 'kafka.retry_max_ms', message: 'must be at least kafka.retry_initial_ms' });
  if (k.heartbeat_interval_ms * 3 > k.session_timeout_ms)
    issues.push({
      path: 'kafka.heartbeat_interval_ms',
      message: 'must be at most a third of kafka.session_timeout_ms',
    });
  return issues;
}
