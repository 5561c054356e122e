/**
 * Every kafkajs client ferry makes (the source's consumer and DLQ-topic producer, `ferry kafka
 * init`) comes from here, so each one reads every compression codec and connects the same way:
 * kafka.tls and kafka.sasl applied alike.
 */
import { readFileSync } from 'node:fs';
import { Kafka, type KafkaConfig as KafkajsConfig, type SASLOptions } from 'kafkajs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig } from '../../config/types.js';
import { registerKafkaCodecs } from './compression.js';

/** kafkajs's `ssl` option from kafka.tls: false when TLS is off. */
export function kafkaTls(t: KafkaConfig['tls']): ConnectionOptions | false {
  if (!t.enabled) return false;
  const o: ConnectionOptions = { rejectUnauthorized: t.reject_unauthorized };
  if (t.ca) o.ca = [readFileSync(t.ca, 'utf8')];
  if (t.cert) o.cert = readFileSync(t.cert, 'utf8');
  if (t.key) o.key = readFileSync(t.key, 'utf8');
  if (t.servername) o.servername = t.servername;
  return o;
}

/** kafkajs's `sasl` option from kafka.sasl: undefined when it is off. */
export function kafkaSasl(s: KafkaConfig['sasl']): SASLOptions | undefined {
  if (s.mechanism === 'none') return undefined;
  return { mechanism: s.mechanism, username: s.username, password: s.password } as SASLOptions;
}

export function kafkaClient(
  k: Pick<KafkaConfig, 'brokers' | 'tls' | 'sasl'>,
  cfg: Omit<KafkajsConfig, 'brokers' | 'ssl' | 'sasl'>,
): Kafka {
  registerKafkaCodecs();
  const ssl = kafkaTls(k.tls);
  return new Kafka({
    ...cfg,
    brokers: k.brokers,
    ...(ssl ? { ssl } : {}),
    sasl: kafkaSasl(k.sasl),
  });
}
