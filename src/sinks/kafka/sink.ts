/**
 * Kafka sink: each event of a batch becomes one message, produced with `acks: -1` (every in-sync
 * replica has it) — the batch is delivered once the broker acknowledged every message of it.
 *
 * - It takes the batch's archive part (the envelopes S3 and the directory store): the message
 *   value is the envelope line or only its payload (`value`), the key the event_id or a field
 *   (./route.ts). Cutting the archive into events costs one decompression and a newline scan on
 *   the main thread (none when batch.codec is `none`); kafkajs compresses the record batches on
 *   the main thread too (`compression`, through ferry's codecs: src/sources/kafka/compression.ts).
 * - Not idempotent. kafkajs's idempotent producer needs unbounded retries inside send() (it warns
 *   below Number.MAX_SAFE_INTEGER) and keeps per-partition sequence numbers that a send given up
 *   half-way leaves out of step (OUT_OF_ORDER_SEQUENCE_NUMBER on every later send until a new
 *   producer id), while ferry must be able to give up on an attempt (its deadline, shutdown's
 *   drain) and hand the batch to the DLQ. Idempotence would not remove the duplicates that matter
 *   anyway: a batch re-produced from the DLQ or after a restart gets a new producer id. So
 *   delivery is at least once; the key (event_id by default) and the event_id in every envelope
 *   let the consumers deduplicate (ClickHouse's ReplacingMergeTree on event_id does).
 * - kafkajs retries a little itself (metadata refresh after a leader moves); everything else is
 *   ferry's retry loop (src/sinks/retry.ts), then the DLQ, which re-produces later.
 */
import kafkajs, { Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import type { KafkaSinkConfig } from '../../config/types.js';
import type { EncodedBatch } from '../../contracts/batch.js';
import { partOf } from '../../contracts/batch.js';
import type { Sink, SinkReceipt } from '../../contracts/sink.js';
import type { Logger } from '../../observe/log.js';
import type { SinkMetrics } from '../../observe/metrics.js';
import { kafkaClient } from '../../sources/kafka/client.js';
import { KAFKA_LOG_LEVEL, kafkaLogCreator } from '../../sources/kafka/kafka-log.js';
import { archiveBytes, splitArchive, type ArchiveLine } from '../archive-lines.js';
import { SinkError } from '../errors.js';
import { classifyKafkaError } from './errors.js';
import { createRoute, type KafkaRoute } from './route.js';

const { CompressionTypes } = kafkajs;
const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
} as const;

export class KafkaSink implements Sink {
  readonly type = 'kafka' as const;
  readonly takes = 'archive' as const;
  readonly name: string;
  private readonly kafka: Kafka;
  private readonly producer: Producer;
  private readonly route: KafkaRoute;
  private connected: Promise<void> | undefined;

  constructor(
    private readonly cfg: KafkaSinkConfig,
    private readonly log: Logger,
    private readonly attemptTimeoutMs: number,
    private readonly metrics?: Pick<SinkMetrics, 'kafkaProduceErrors' | 'kafkaSinkMessages'>,
  ) {
    this.name = cfg.name;
    this.route = createRoute(cfg);
    this.kafka = kafkaClient(cfg, {
      clientId: cfg.client_id,
      logCreator: kafkaLogCreator(log),
      logLevel: KAFKA_LOG_LEVEL,
      connectionTimeout: Math.min(10_000, attemptTimeoutMs),
      requestTimeout: attemptTimeoutMs,
      // A leader move needs a metadata refresh and one more try; longer outages are ferry's.
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
    this.producer = this.kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: 2, initialRetryTime: 100, maxRetryTime: 1000 },
    });
  }

  private connect(): Promise<void> {
    this.connected ??= this.producer.connect().then(
      () =>
        this.log.info(
          { sink: this.name, brokers: this.cfg.brokers, topics: this.route.topics },
          'kafka sink connected',
        ),
      (err: unknown) => {
        this.connected = undefined;
        throw err;
      },
    );
    return this.connected;
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const what = `Kafka produce of batch ${batch.id} (${batch.events} events)`;
    let requests: Map<string, Message[]>[];
    try {
      requests = this.messagesOf(batch);
    } catch (err) {
      throw new SinkError(`${what}: the archive part cannot be cut into events: ${err}`, {
        retryable: false,
        errorClass: 'internal',
        cause: err,
      });
    }
    try {
      if (signal?.aborted) throw signal.reason;
      await this.connect();
      let sent = 0;
      for (const byTopic of requests) {
        if (signal?.aborted) throw signal.reason;
        await this.producer.sendBatch({
          acks: -1,
          timeout: this.attemptTimeoutMs,
          compression: COMPRESSION[this.cfg.compression],
          topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })),
        });
        for (const m of byTopic.values()) sent += m.length;
      }
      this.metrics?.kafkaSinkMessages.inc({ sink: this.name }, sent);
      return {
        location: `kafka:${[...new Set(requests.flatMap((r) => [...r.keys()]))].join(',')}`,
      };
    } catch (err) {
      const e = classifyKafkaError(err, what, signal);
      this.metrics?.kafkaProduceErrors.inc({ class: e.errorClass });
      throw e;
    }
  }

  /** The batch as produce requests of at most max_request_bytes of values each, per topic. */
  private messagesOf(batch: EncodedBatch): Map<string, Message[]>[] {
    const lines = splitArchive(archiveBytes(partOf(batch, 'archive')));
    if (lines.length !== batch.events)
      throw new Error(`${lines.length} envelopes for ${batch.events} events`);
    const requests: Map<string, Message[]>[] = [];
    let current = new Map<string, Message[]>();
    let bytes = 0;
    const payloadOnly = this.cfg.value === 'payload';
    for (const ev of lines) {
      const value = payloadOnly ? ev.payload() : ev.line;
      if (bytes > 0 && bytes + value.length > this.cfg.max_request_bytes) {
        requests.push(current);
        current = new Map();
        bytes = 0;
      }
      const fields = this.route.readsFields ? lazyFields(ev) : noFields;
      const topic = this.route.topicOf(ev, fields);
      let list = current.get(topic);
      if (!list) current.set(topic, (list = []));
      list.push({ key: this.route.keyOf(ev, fields), value });
      bytes += value.length;
    }
    if (bytes > 0) requests.push(current);
    return requests;
  }

  /** The brokers answer metadata for every topic this sink produces to. */
  async probe(signal?: AbortSignal): Promise<void> {
    const admin = this.kafka.admin();
    try {
      if (signal?.aborted) throw signal.reason;
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [...this.route.topics] });
    } catch (err) {
      throw classifyKafkaError(err, `Kafka probe of ${this.route.topics.join(',')}`, signal);
    } finally {
      await admin.disconnect().catch(() => {});
    }
  }

  async close(): Promise<void> {
    if (this.connected) await this.connected.catch(() => {});
    await this.producer.disconnect().catch((err: unknown) => {
      this.log.warn({ sink: this.name, err }, 'kafka sink: disconnect failed');
    });
    this.connected = undefined;
  }
}

const noFields = (): Record<string, unknown> => ({});

/** The event's top-level fields, parsed once and only when the route asks. */
function lazyFields(ev: ArchiveLine): () => Record<string, unknown> {
  let parsed: Record<string, unknown> | undefined;
  return () => {
    if (!parsed) {
      try {
        const v: unknown = JSON.parse(ev.payload().toString('utf8'));
        parsed = v !== null && typeof v === 'object' ? (v as Record<string, unknown>) : {};
      } catch {
        parsed = {};
      }
    }
    return parsed;
  };
}
