/**
 * Every kafkajs client ferry makes (the source's consumer and DLQ-topic producer, `ferry kafka
 * init`) comes from here, so each one reads every compression codec and connects the same way.
 */
import { Kafka, type KafkaConfig as KafkajsConfig } from 'kafkajs';
import { registerKafkaCodecs } from './compression.js';

export function kafkaClient(cfg: KafkajsConfig): Kafka {
  registerKafkaCodecs();
  return new Kafka(cfg);
}
