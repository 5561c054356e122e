/** `ferry kafka init`: create the configured topics and their DLQ topics (seed 004's `make kafka-init`). */
import { logLevel } from 'kafkajs';
import { loadConfig, ConfigError } from '../config/load.js';
import type { KafkaConfig } from '../config/types.js';
import { createLogger, type Logger } from '../observe/log.js';
import { kafkaLogCreator, KAFKA_LOG_LEVEL } from '../sources/kafka/kafka-log.js';
import { errorMessage } from '../util/errors.js';
import { kafkaClient } from '../sources/kafka/client.js';

export interface TopicPlan {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
}

/** Every topic ferry needs: the source topics and one DLQ topic each. */
export function topicPlan(k: KafkaConfig): TopicPlan[] {
  const r = k.init.replication_factor;
  return k.topics.flatMap((t) => [
    { topic: t, numPartitions: k.init.partitions, replicationFactor: r },
    { topic: t + k.dlq_topic_suffix, numPartitions: k.init.dlq_partitions, replicationFactor: r },
  ]);
}

/** One line for `ferry config check`. */
export { kafkaSummary } from './usage.js';

export async function kafkaCommand(
  sub: string | undefined,
  configPath: string | undefined,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): Promise<number> {
  if (sub !== 'init') {
    err('usage: ferry kafka init [--config FILE]   create kafka.topics and their DLQ topics\n');
    return 2;
  }
  let k: KafkaConfig;
  let hostLog: Logger;
  let verbose = false;
  try {
    const { config } = loadConfig(configPath);
    k = config.kafka;
    hostLog = createLogger(config.log.level, process.stderr);
    verbose = config.log.level === 'debug' || config.log.level === 'trace';
  } catch (e) {
    err(e instanceof ConfigError ? `${e.message}\n` : `ferry kafka init: ${errorMessage(e)}\n`);
    return 1;
  }
  if (k.topics.length === 0) {
    err('ferry kafka init: kafka.topics is empty: nothing to create\n');
    return 1;
  }
  // kafkajs's per-retry error lines only with log.level debug: the one line below says it all.
  const quiet = verbose ? KAFKA_LOG_LEVEL : logLevel.NOTHING;
  const kafka = kafkaClient(k, {
    clientId: `${k.client_id}-init`,
    logLevel: quiet,
    logCreator: kafkaLogCreator(hostLog),
    retry: { retries: 3 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const existing = new Set(await admin.listTopics());
    const plan = topicPlan(k);
    const todo = plan.filter((p) => !existing.has(p.topic));
    if (todo.length > 0) await admin.createTopics({ topics: todo, waitForLeaders: true });
    for (const p of plan) {
      out(
        `${existing.has(p.topic) ? 'exists ' : 'created'} ${p.topic} (partitions ${p.numPartitions}, replication ${p.replicationFactor})\n`,
      );
    }
    return 0;
  } catch (e) {
    err(`ferry kafka init: ${errorMessage(e)} (brokers ${k.brokers.join(', ')})\n`);
    return 1;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}
