import { Partitioners, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from '../../observe/log.js';
import type { SourceMessage, PoisonClass } from './mapping.js';

/** What lands in `<topic><suffix>` for a message ferry could not take (docs/kafka.md). */
export interface DlqTopicPayload {
  topic: string;
  partition: number;
  offset: string;
  /** base64, or null when the message had no key. */
  key: string | null;
  /** Header values base64 (a repeated header gives an array). */
  headers: Record<string, string | string[]>;
  error: { class: PoisonClass; message: string };
  /** The message's own timestamp (ISO 8601). */
  timestamp: string;
  /** When ferry gave up on it (ISO 8601). */
  failed_at: string;
  /** The original value, base64 ('' for a tombstone). */
  value: string;
  host_id: string;
}

export function dlqPayload(
  m: SourceMessage,
  cls: PoisonClass,
  message: string,
  hostId: string,
  now = Date.now(),
): DlqTopicPayload {
  const headers: Record<string, string | string[]> = {};
  const b64 = (x: Buffer | string) =>
    (typeof x === 'string' ? Buffer.from(x) : x).toString('base64');
  for (const [k, h] of Object.entries(m.headers ?? {})) {
    if (h !== undefined) headers[k] = Array.isArray(h) ? h.map(b64) : b64(h);
  }
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key ? m.key.toString('base64') : null,
    headers,
    error: { class: cls, message },
    timestamp: new Date(Number(m.timestamp)).toISOString(),
    failed_at: new Date(now).toISOString(),
    value: m.value ? m.value.toString('base64') : '',
    host_id: hostId,
  };
}

/**
 * One long-lived producer for every DLQ topic (seed 004: never a producer per
 * message). send() resolves only once the broker has the record from all
 * in-sync replicas — the caller commits the poison message's offset after that,
 * so a DLQ write that fails is retried, never skipped. Not idempotent: kafkajs
 * wants unlimited retries for that, and a send must give up when ferry stops;
 * a retried send can duplicate a DLQ record (at-least-once, keyed by
 * topic/partition/offset so a reader can tell).
 */
export class DlqTopicProducer {
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(
    kafka: Kafka,
    private readonly suffix: string,
    private readonly log: Logger,
  ) {
    this.producer = kafka.producer({
      maxInFlightRequests: 1,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
    });
  }

  topicFor(source: string): string {
    return source + this.suffix;
  }

  private connect(): Promise<void> {
    this.connected ??= this.producer.connect().catch((err: unknown) => {
      this.connected = undefined;
      throw err;
    });
    return this.connected;
  }

  async send(items: DlqTopicPayload[]): Promise<void> {
    if (items.length === 0) return;
    await this.connect();
    const byTopic = new Map<string, DlqTopicPayload[]>();
    for (const p of items) {
      const t = this.topicFor(p.topic);
      const list = byTopic.get(t) ?? [];
      list.push(p);
      byTopic.set(t, list);
    }
    await this.producer.sendBatch({
      acks: -1,
      topicMessages: [...byTopic].map(([topic, list]) => ({
        topic,
        messages: list.map((p) => ({
          key: `${p.topic}/${p.partition}/${p.offset}`,
          value: JSON.stringify(p),
        })),
      })),
    });
    this.log.warn(
      { messages: items.length, topics: [...byTopic.keys()], class: items[0].error.class },
      'kafka: poison messages sent to the DLQ topic',
    );
  }

  async close(): Promise<void> {
    if (this.connected) await this.connected.catch(() => {});
    await this.producer.disconnect().catch(() => {});
    this.connected = undefined;
  }
}
