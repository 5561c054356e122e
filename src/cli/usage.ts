import type { KafkaConfig } from '../config/types.js';

/** Usage text of the commands whose modules cli.ts loads on demand (so printing help loads none of them). */
export const REPLAY_USAGE = `  ferry replay --from s3://BUCKET/PREFIX [--to clickhouse[:TABLE]] [--since T] [--until T]
               [--dry-run] [--yes] [--resume] [--max-events-per-sec N] [--config FILE]
                                        rebuild ClickHouse rows from the S3 archive (never deletes)
  ferry verify --from s3://BUCKET/PREFIX [--against clickhouse[:TABLE]] [--since T] [--until T]
                                        distinct event_ids per hour, archive vs table (exit 1 if any differ)
`;

export const DLQ_USAGE = `  ferry dlq ls [--sink S] [--json]      what waits in the local DLQ (segments, poison, quarantine)
  ferry dlq inspect ID [--payload]      record heads of a batch id or segment file (--payload: its events)
  ferry dlq replay [--sink S] [--poison]
                                        ship the DLQ now (segments: ferry must be stopped; --poison: the
                                        batches a sink refused, after the cause is fixed)
  ferry dlq purge --older-than D [--sink S] [--poison]
                                        delete DLQ data older than D (30m, 12h, 7d); counted, printed
`;

/** The `kafka:` line of `ferry config check`. */
export function kafkaSummary(k: KafkaConfig): string {
  return `kafka: ${k.topics.join(', ')} (${k.format}) from ${k.brokers.join(', ')}, group ${k.group_id}, poison → ${k.topics.map((t) => t + k.dlq_topic_suffix).join(', ')}`;
}
