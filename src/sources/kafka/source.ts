import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { FerryConfig, KafkaConfig } from '../../config/types.js';
import type { Logger } from '../../observe/log.js';
import type { KafkaMetrics } from '../../observe/metrics.js';
import type { AckTracker } from '../../pipeline/acks.js';
import type { Dispatcher } from '../../contracts/dispatch.js';
import { BodyFormat } from '../../rings/record.js';
import { OffsetTracker, type PartitionOffsets } from './offsets.js';
import { PieceBuilder } from './piece-builder.js';
import { mapMessage, type SourceMessage } from './mapping.js';
import { DlqTopicProducer, dlqPayload } from './dlq-topic.js';
import { settle, tryDispatch, Abandoned, type DeliverDeps, type Poisoned } from './deliver.js';
import { PauseGate, type PauseReason, type TopicPartition } from './pause-gate.js';
import { kafkaLogCreator, KAFKA_LOG_LEVEL } from './kafka-log.js';
import { backoffDelay, sleep as sleepFor } from '../../util/backoff.js';
import { kafkaClient } from './client.js';
import { installFetchDecoder, undecodableOf, type UndecodableBatch } from './fetch-decode.js';
import { UndecodableHolds } from './undecodable.js';

export interface KafkaSourceDeps {
  config: FerryConfig;
  dispatcher: Dispatcher;
  /** Worst ring's share in use, 0..1 (pool.saturation()). */
  saturation: () => number;
  acks: AckTracker;
  metrics: KafkaMetrics;
  log: Logger;
  /** Why new data must be refused now (a down sink with a full DLQ), or undefined. */
  refusal?: () => string | undefined;
}

const GATE_TICK_MS = 50;
/** The most each shutdown step that talks to the broker (commit, leave, DLQ flush) may take. */
const STOP_STEP_MS = 5000;
/** How long a rebalance may wait for in-flight chunks before the partitions are given up. */
const REVOKE_WAIT_MS = 5000;

/** A timer that an abort cuts short, and that never keeps the process alive by itself. */
const sleep = (ms: number, signal?: AbortSignal) => sleepFor(ms, signal, { unref: true });

/** Waits for p at most ms; true when it settled in time (kafkajs calls can retry for minutes). */
async function within(p: Promise<unknown> | undefined, ms: number): Promise<boolean> {
  if (!p) return true;
  return Promise.race([
    p.then(
      () => true,
      () => true,
    ),
    sleep(ms).then(() => false),
  ]);
}

/** Connection attempts kafkajs makes itself before the source's own backoff loop takes over. */
const CONNECT_RETRIES = 3;

/** Full-jitter exponential backoff (src/util/backoff.ts); `attempt` counts from 0 here. */
export function backoff(
  k: Pick<KafkaConfig, 'retry_initial_ms' | 'retry_max_ms'>,
  attempt: number,
): number {
  return backoffDelay({ initialMs: k.retry_initial_ms, maxMs: k.retry_max_ms }, attempt + 1);
}

/**
 * The Kafka source: a kafkajs consumer group whose fetched batches go, per
 * partition, into the same rings as HTTP requests (ack=durable), and whose
 * offsets are committed only behind what is durable (offsets.ts).
 */
/** One partition's fetch being handled by eachBatch: where its pieces are tracked and resolved. */
interface PartitionFetch {
  key: string;
  tp: TopicPartition;
  part: PartitionOffsets;
  resolveOffset: (offset: string) => void;
}

export class KafkaSource {
  private readonly k: KafkaConfig;
  private readonly kafka: Kafka;
  private readonly dlq: DlqTopicProducer;
  private readonly offsets = new OffsetTracker();
  private readonly gate: PauseGate;
  private consumer: Consumer | undefined;
  private stopping = false;
  private loop: Promise<void> | undefined;
  private crashed: (() => void) | undefined;
  private commitTimer: ReturnType<typeof setInterval> | undefined;
  private gateTimer: ReturnType<typeof setInterval> | undefined;
  private committing: Promise<boolean> | undefined;
  private readonly inflight = new Set<Promise<void>>();
  private readonly inflightBytes = new Map<string, number>();
  private readonly retryingParts = new Map<string, number>();
  private readonly highWatermarks = new Map<string, bigint>();
  private readonly format: BodyFormat;
  /** Aborted at stop(): cuts the restart backoff short and keeps a late connect from consuming. */
  private readonly abort = new AbortController();
  private stopped: Promise<void> | undefined;
  /** Partitions stopped at a batch ferry cannot decode; kept across rejoins and restarts. */
  private readonly holds: UndecodableHolds;

  constructor(private readonly deps: KafkaSourceDeps) {
    this.k = deps.config.kafka;
    installFetchDecoder();
    this.holds = new UndecodableHolds((attempt) => backoff(this.k, attempt));
    this.format = this.k.format === 'msgpack' ? BodyFormat.Msgpack : BodyFormat.Ndjson;
    this.kafka = kafkaClient(this.k, {
      clientId: this.k.client_id,
      logLevel: KAFKA_LOG_LEVEL,
      logCreator: kafkaLogCreator(deps.log),
      // Few, short connection retries: a broker that stays away is the restart loop's job
      // (runForever, interruptible), so a stop never waits behind kafkajs's own retry timers.
      retry: {
        initialRetryTime: this.k.retry_initial_ms,
        maxRetryTime: Math.min(this.k.retry_max_ms, 5000),
        retries: CONNECT_RETRIES,
      },
    });
    this.dlq = new DlqTopicProducer(this.kafka, this.k.dlq_topic_suffix, deps.log);
    this.gate = new PauseGate({
      pause: (tp) => this.consumer?.pause([{ topic: tp.topic, partitions: [tp.partition] }]),
      resume: (tp) => this.consumer?.resume([{ topic: tp.topic, partitions: [tp.partition] }]),
      counted: (reason) => deps.metrics.kafkaPauses.inc({ reason }),
    });
  }

  /** Connect and consume in the background; a crash restarts with exponential backoff. Never throws. */
  start(): void {
    this.commitTimer = setInterval(() => void this.commit(), this.k.commit_interval_ms);
    this.gateTimer = setInterval(
      () => this.gate.recheck((tp, r) => this.stillHolds(tp, r)),
      GATE_TICK_MS,
    );
    this.loop = this.runForever();
  }

  private async runForever(): Promise<void> {
    let attempt = 0;
    while (!this.stopping) {
      const crashed = new Promise<void>((r) => (this.crashed = r));
      try {
        await this.runOnce(() => (attempt = 0));
        await crashed;
      } catch (err) {
        if (this.stopping) break;
        this.deps.log.error(
          { err: (err as Error).message, attempt },
          'kafka: consumer failed to start',
        );
      }
      if (this.stopping) break;
      await this.consumer?.disconnect().catch(() => {});
      this.consumer = undefined;
      this.deps.metrics.kafkaConsumerRestarts.inc();
      const wait = backoff(this.k, attempt++);
      this.deps.log.warn({ in_ms: wait }, 'kafka: restarting the consumer');
      await sleep(wait, this.abort.signal);
    }
  }

  private async runOnce(joined: () => void): Promise<void> {
    const k = this.k;
    const consumer = this.kafka.consumer({
      groupId: k.group_id,
      sessionTimeout: k.session_timeout_ms,
      heartbeatInterval: k.heartbeat_interval_ms,
      allowAutoTopicCreation: false,
      // Bounded memory whatever the lag: at most this much per partition per fetch.
      maxBytesPerPartition: Math.min(1048576, k.max_inflight_bytes_per_partition),
      // A fetch long-polls at most this long: pauses, resumes and a stop (disconnect waits for
      // the fetch in flight) take effect within it.
      maxWaitTimeInMs: 1000,
      retry: {
        initialRetryTime: k.retry_initial_ms,
        maxRetryTime: k.retry_max_ms,
        retries: 8,
        restartOnFailure: async (err) => {
          this.deps.metrics.kafkaConsumerRestarts.inc();
          this.deps.log.warn({ err: err.message }, 'kafka: consumer crashed; kafkajs restarts it');
          return true;
        },
      },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      // Kafka hands the partitions out again from the committed offsets: forget in-flight state.
      this.offsets.reset();
      this.gate.clear();
      // Partitions that went to another member must not keep reporting their last lag here.
      this.highWatermarks.clear();
      this.deps.metrics.kafkaConsumerLag.reset();
      this.deps.metrics.kafkaRebalances.inc();
      const assigned = e.payload.memberAssignment as Record<string, number[]>;
      this.holds.forget((tp) => assigned[tp.topic]?.includes(tp.partition) ?? false);
      joined();
      this.deps.log.info(
        { member: e.payload.memberId, assignment: e.payload.memberAssignment },
        'kafka: joined the consumer group',
      );
    });
    consumer.on(consumer.events.REBALANCING, () => {
      // Hand over as little re-work as possible: commit what is durable before the partitions go.
      void this.commitAll();
    });
    consumer.on(consumer.events.START_BATCH_PROCESS, (e) => {
      // A fetch that held only records kafkajs filters out (an aborted transaction, transaction
      // markers) never reaches eachBatch: count it as handled, or the committed offset would stop
      // short of them and the lag never reach 0 on a transactional topic.
      const { topic, partition, batchSize, firstOffset, lastOffset } = e.payload;
      if (batchSize > 0 || lastOffset === null || firstOffset === null || this.stopping) return;
      const part = this.offsets.partition(topic, partition);
      this.skipFiltered({ part, resolveOffset: () => {} }, lastOffset, firstOffset);
    });
    consumer.on(consumer.events.CRASH, (e) => {
      if (!e.payload.restart) {
        this.deps.log.error({ err: e.payload.error?.message }, 'kafka: consumer crashed');
        this.crashed?.();
      }
    });
    await consumer.connect();
    // stop() came while connecting: it no longer waits for this consumer, so never start it.
    if (this.abort.signal.aborted) return void (await consumer.disconnect().catch(() => {}));
    await consumer.subscribe({ topics: k.topics, fromBeginning: k.from_beginning });
    if (this.abort.signal.aborted) return void (await consumer.disconnect().catch(() => {}));
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: k.partitions_concurrently,
      eachBatch: (p) => this.onBatch(p),
    });
    this.deps.log.info(
      { brokers: k.brokers, group: k.group_id, topics: k.topics },
      'kafka: consumer running',
    );
  }

  private async onBatch({
    batch,
    resolveOffset,
    heartbeat,
    isRunning,
    isStale,
  }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const tp = { topic, partition };
    const key = `${topic}\u0000${partition}`;
    if (this.stopping || this.gate.isPaused(tp)) return;
    // Still backing off from an undecodable batch (a rejoin cleared the pause, not the backoff).
    if (this.holds.waiting(tp)) return void this.gate.pause(tp, 'undecodable');
    const hw = BigInt(batch.highWatermark);
    this.highWatermarks.set(key, hw);
    const part = this.offsets.partition(topic, partition);
    const base =
      this.offsets.lastCommitted(topic, partition) ??
      BigInt(batch.firstOffset() ?? batch.highWatermark);
    this.deps.metrics.kafkaConsumerLag.set(
      { topic, partition: String(partition) },
      Number(hw > base ? hw - base : 0n),
    );
    const seen = part.fetchedUpTo;
    const mapCfg = {
      format: this.k.format,
      metadata_field: this.k.metadata_field,
      max_message_bytes: Math.min(this.k.max_message_bytes, this.deps.config.http.max_body_bytes),
    };
    const fetch: PartitionFetch = { key, tp, part, resolveOffset };
    const builder = new PieceBuilder(this.deps.config.http.max_body_bytes);

    // isStale() (a seek on this partition; ferry never seeks) costs a JSON.stringify in kafkajs:
    // asked before each piece is handed on, not per message (it was 4.5 % of the main thread in
    // bench/kafka.mjs).
    for (const raw of batch.messages) {
      if (seen !== undefined && BigInt(raw.offset) < seen) continue; // refetched: already handled
      if (this.stopping || !isRunning()) return;
      const bad = undecodableOf(raw);
      if (bad) {
        // What came before the batch goes on as usual; the partition stops at the batch.
        // (handOn false: the partition paused for another reason and the batch comes again.)
        if (!isStale() && this.handOn(fetch, builder)) this.hold(tp, bad);
        return;
      }
      // Only while some partition is held: no per-message work on the common path.
      if (this.holds.size > 0) this.holds.passed(tp, raw.offset);
      const msg: SourceMessage = {
        topic,
        partition,
        offset: raw.offset,
        key: raw.key ?? null,
        value: raw.value,
        timestamp: raw.timestamp,
        headers: raw.headers,
      };
      const mapped = mapMessage(msg, mapCfg);
      if (builder.full(PieceBuilder.sizeOf(mapped))) {
        if (isStale() || !this.handOn(fetch, builder)) return;
        await heartbeat().catch((err: unknown) => this.onHeartbeatError(err));
      }
      builder.add(msg, mapped);
    }
    if (isStale()) return;
    // Aborted transactions' records and control records after the last message: past them too.
    if (this.handOn(fetch, builder)) this.skipFiltered(fetch, batch.lastOffset());
    await heartbeat().catch((err: unknown) => this.onHeartbeatError(err));
  }

  /**
   * Hand the messages gathered so far to the pipeline (and the unmappable ones to the DLQ topic);
   * false when the partition had to pause instead (the messages are fetched again on resume).
   */
  private handOn(f: PartitionFetch, builder: PieceBuilder): boolean {
    // After stop() has committed, nothing new may become durable: it would be stored but
    // never committed (a duplicate after the restart).
    if (this.stopping) return false;
    if (builder.empty) return true;
    const { key, tp, part } = f;
    if (builder.size > 0) {
      const reason = this.mustPause(key, builder.pendingBytes);
      if (reason) {
        this.gate.pause(tp, reason);
        return false;
      }
    }
    const outcome =
      builder.size > 0 ? tryDispatch(this.deliverDeps(key, tp), builder.current) : undefined;
    if (builder.size > 0 && !outcome) {
      this.gate.pause(tp, 'rings');
      return false;
    }
    const taken = builder.take()!;
    const chunk = part.add(BigInt(taken.first.offset), BigInt(taken.last.offset));
    this.addInflightBytes(key, taken.bytes);
    const work = (async () => {
      await this.sendPoison(key, taken.poisoned);
      if (outcome) await settle(this.deliverDeps(key, tp), taken.piece, outcome);
    })();
    const tracked = work
      .then(
        () => part.done(chunk),
        (err: unknown) => {
          if (!(err instanceof Abandoned))
            this.deps.log.error(
              { topic: tp.topic, partition: tp.partition, err: (err as Error).message },
              'kafka: a batch could not be delivered; its offsets stay uncommitted',
            );
        },
      )
      .finally(() => {
        this.addInflightBytes(key, -taken.bytes);
        this.inflight.delete(tracked);
      });
    this.inflight.add(tracked);
    this.deps.metrics.kafkaMessagesIn.inc(
      { topic: tp.topic },
      taken.piece.msgs.length + taken.poisoned.length,
    );
    f.resolveOffset(taken.last.offset);
    return true;
  }

  /**
   * Offsets up to `last` that were fetched but are no messages (kafkajs filtered them: aborted,
   * control records) count as done once everything before them is durable.
   */
  private skipFiltered(
    f: Pick<PartitionFetch, 'part' | 'resolveOffset'>,
    last: string,
    first?: string,
  ): void {
    const from = f.part.fetchedUpTo ?? (first === undefined ? undefined : BigInt(first));
    const to = BigInt(last);
    if (from === undefined || to < from) return;
    f.part.done(f.part.add(from, to));
    f.resolveOffset(last);
  }

  /** Stop fetching a partition at a batch ferry cannot decode, and try it again after a backoff. */
  private hold(tp: TopicPartition, bad: UndecodableBatch): void {
    const h = this.holds.failed(tp, bad);
    this.deps.metrics.kafkaUndecodableBatches.inc({
      topic: tp.topic,
      partition: String(tp.partition),
    });
    this.gate.pause(tp, 'undecodable');
    this.deps.log.error(
      {
        topic: tp.topic,
        partition: tp.partition,
        offset: bad.baseOffset,
        last_offset: bad.lastOffset,
        codec: bad.codec,
        err: bad.error,
        attempt: h.attempts,
        retry_in_ms: h.waitMs,
      },
      'kafka: a record batch cannot be decoded; its partition is held there (nothing skipped) and retried with backoff',
    );
  }

  /** /readyz reasons: partitions held at an undecodable batch. */
  problems(): string[] {
    return this.holds.problems();
  }

  private async onHeartbeatError(err: unknown): Promise<never> {
    // A rebalance is under way: let what is in flight become durable (briefly: the group waits
    // for us) and commit it while the partitions are still ours, so the next owner redoes less.
    await within(Promise.allSettled([...this.inflight]), REVOKE_WAIT_MS);
    await this.commitAll();
    throw err;
  }

  private mustPause(key: string, bytes: number): PauseReason | undefined {
    if (this.deps.refusal?.()) return 'dlq_full';
    if ((this.retryingParts.get(key) ?? 0) > 0) return 'retry';
    const held = this.inflightBytes.get(key) ?? 0;
    if (held > 0 && held + bytes > this.k.max_inflight_bytes_per_partition) return 'inflight';
    return undefined;
  }

  private stillHolds(tp: TopicPartition, reason: PauseReason): boolean {
    const key = `${tp.topic}\u0000${tp.partition}`;
    switch (reason) {
      case 'rings':
        return this.deps.saturation() > 0.5;
      case 'inflight':
        return (this.inflightBytes.get(key) ?? 0) > this.k.max_inflight_bytes_per_partition / 2;
      case 'dlq_full':
        return !!this.deps.refusal?.();
      case 'retry':
        return (this.retryingParts.get(key) ?? 0) > 0;
      case 'undecodable':
        return this.holds.waiting(tp);
    }
  }

  private addInflightBytes(key: string, delta: number): void {
    this.inflightBytes.set(key, (this.inflightBytes.get(key) ?? 0) + delta);
    let total = 0;
    for (const v of this.inflightBytes.values()) total += v;
    this.deps.metrics.kafkaInflightBytes.set(total);
  }

  private deliverDeps(key: string, tp: TopicPartition): DeliverDeps {
    return {
      dispatcher: this.deps.dispatcher,
      acks: this.deps.acks,
      format: this.format,
      ack: this.k.ack,
      poison: (items) => this.sendPoison(key, items),
      retrying: (delta) => {
        this.retryingParts.set(key, (this.retryingParts.get(key) ?? 0) + delta);
        if (delta > 0) this.gate.pause(tp, 'retry');
      },
      backoffMs: (attempt) => backoff(this.k, attempt),
      stopped: () => this.stopping,
    };
  }

  /** To the DLQ topic, retried with backoff until the broker has them (or ferry stops: then never committed). */
  private async sendPoison(_key: string, items: Poisoned[]): Promise<void> {
    if (items.length === 0) return;
    const hostId = this.deps.config.host_id;
    const payloads = items.map((p) => dlqPayload(p.msg, p.class, p.message, hostId));
    for (let attempt = 0; ; attempt++) {
      try {
        await this.dlq.send(payloads);
        for (const p of items)
          this.deps.metrics.kafkaDlqMessages.inc({ topic: p.msg.topic, class: p.class });
        return;
      } catch (err) {
        if (this.stopping) throw new Abandoned('ferry is stopping; DLQ topic write not retried');
        this.deps.log.error(
          { err: (err as Error).message, messages: items.length },
          'kafka: DLQ topic write failed; retrying',
        );
        await sleep(backoff(this.k, attempt));
      }
    }
  }

  /**
   * Commit every partition's durable prefix that moved. Never throws; one commit at a time
   * (a slow broker does not queue them up), so it may answer with one already under way.
   * False when the broker refused it.
   */
  commit(): Promise<boolean> {
    this.committing ??= this.commitOnce().finally(() => (this.committing = undefined));
    return this.committing;
  }

  /** Commit everything durable by now: a commit already under way may predate the last chunks. */
  async commitAll(): Promise<boolean> {
    await this.committing;
    return this.commit();
  }

  private async commitOnce(): Promise<boolean> {
    const consumer = this.consumer;
    const due = this.offsets.pendingCommits();
    if (!consumer || due.length === 0) return true;
    try {
      await consumer.commitOffsets(
        due.map((d) => ({ topic: d.topic, partition: d.partition, offset: d.offset.toString() })),
      );
      for (const d of due) {
        this.offsets.markCommitted(d.topic, d.partition, d.offset);
        const hw = this.highWatermarks.get(`${d.topic}\u0000${d.partition}`);
        if (hw !== undefined)
          this.deps.metrics.kafkaConsumerLag.set(
            { topic: d.topic, partition: String(d.partition) },
            Number(hw > d.offset ? hw - d.offset : 0n),
          );
      }
      this.deps.metrics.kafkaCommits.inc(due.length);
      this.deps.log.debug(
        { offsets: due.map((d) => `${d.topic}/${d.partition}@${d.offset}`) },
        'kafka: offsets committed',
      );
      return true;
    } catch (err) {
      this.deps.metrics.kafkaCommitErrors.inc();
      this.deps.log.warn(
        { err: (err as Error).message },
        'kafka: offset commit failed; will retry',
      );
      return false;
    }
  }

  /** Chunks dispatched but not yet durable (for shutdown and tests). */
  get pending(): number {
    return this.inflight.size;
  }

  /**
   * Graceful stop: stop fetching → wait for what is in flight (bounded) →
   * commit → disconnect. Must run before the worker pool closes.
   */
  stop(timeoutMs: number): Promise<void> {
    this.stopped ??= this.stopOnce(timeoutMs);
    return this.stopped;
  }

  private async stopOnce(timeoutMs: number): Promise<void> {
    const consumer = this.consumer;
    // No resumes from here on; pause everything (no new fetches) while the group still lets us commit.
    clearInterval(this.gateTimer);
    if (consumer) {
      try {
        consumer.pause(this.k.topics.map((topic) => ({ topic })));
      } catch {
        /* not running yet */
      }
    }
    const t0 = Date.now();
    while (this.inflight.size > 0 && Date.now() - t0 < timeoutMs) {
      await Promise.race([Promise.allSettled([...this.inflight]), sleep(100)]);
    }
    const timedOut = this.inflight.size > 0;
    this.stopping = true;
    this.abort.abort();
    clearInterval(this.commitTimer);
    if (timedOut)
      this.deps.log.warn(
        { pending: this.inflight.size },
        'kafka: stop timed out waiting for in-flight messages; they stay uncommitted (redelivered on restart)',
      );
    // Each step bounded: with the broker unreachable kafkajs would retry each for a long time,
    // and the HTTP drain waits behind this. What is not committed is consumed again later.
    let committed = false;
    await within(
      this.commitAll().then((ok) => (committed = ok)),
      STOP_STEP_MS,
    );
    this.crashed?.();
    const left = await within(this.consumer?.disconnect(), STOP_STEP_MS);
    await within(this.loop, STOP_STEP_MS);
    await within(this.dlq.close(), STOP_STEP_MS);
    if (committed && left)
      this.deps.log.info({ ms: Date.now() - t0 }, 'kafka: consumer stopped, offsets committed');
    else
      this.deps.log.warn(
        { ms: Date.now() - t0, committed, left_group: left },
        'kafka: consumer stopped without reaching the broker; uncommitted messages are consumed again after the restart',
      );
  }
}
