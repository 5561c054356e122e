import type { MetricFactory } from './factory.js';

/** The Kafka source: lag, messages, commits, DLQ topic, pauses, restarts. */
export function createKafkaMetrics({ c, g }: MetricFactory) {
  return {
    kafkaConsumerLag: g(
      'kafka_consumer_lag',
      'Messages in a partition past the offset ferry last committed (high watermark − committed).',
      ['topic', 'partition'],
    ),
    kafkaMessagesIn: c(
      'kafka_messages_received_total',
      'Kafka messages fetched and handed to the pipeline (or to the DLQ topic), by topic.',
      ['topic'],
    ),
    kafkaCommits: c(
      'kafka_offset_commits_total',
      'Partition offsets committed (each only after every message before it was durable).',
    ),
    kafkaCommitErrors: c(
      'kafka_offset_commit_errors_total',
      'Offset commits the broker refused (rebalance, broker down); retried on the next interval.',
    ),
    kafkaDlqMessages: c(
      'kafka_dlq_messages_total',
      'Poison messages written to the DLQ topic, by source topic and error class.',
      ['topic', 'class'],
    ),
    kafkaRebalances: c(
      'kafka_rebalances_total',
      'Consumer group (re)joins: start, rebalance, or recovery after a broker restart.',
    ),
    kafkaPauses: c(
      'kafka_partition_pauses_total',
      'Partitions paused, by reason (rings full, in-flight limit, DLQ full, a batch being retried, an undecodable batch).',
      ['reason'],
    ),
    kafkaConsumerRestarts: c(
      'kafka_consumer_restarts_total',
      'Consumer crashes followed by a restart with backoff.',
    ),
    kafkaUndecodableBatches: c(
      'kafka_undecodable_batches_total',
      'Fetches of a record batch ferry cannot decode (unknown codec, corrupt): its partition is held at that offset and retried with backoff.',
      ['topic', 'partition'],
    ),
    kafkaInflightBytes: g(
      'kafka_inflight_bytes',
      'Kafka message bytes dispatched but not yet durable.',
    ),
  };
}

export type KafkaMetrics = ReturnType<typeof createKafkaMetrics>;
