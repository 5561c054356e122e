import type { ClickHouseClient } from '@clickhouse/client';
import { clickhouseIds, s3EventCounts, s3SinkConfig, until } from './stores.js';
import { join } from 'node:path';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { rig } from '../setup/rig.js';
import type { FerryProc } from './ferry-proc.js';
import { ferryCli } from './cli.js';

/** A test-side client of the rig's broker (producing, reading the DLQ topic, group offsets). */
export const kafka = new Kafka({
  clientId: 'ferry-test',
  brokers: [...rig.kafka.brokers],
  logLevel: logLevel.NOTHING,
  retry: { retries: 10, initialRetryTime: 200 },
});

/** The sinks and kafka section every Kafka test runs with (S3 + ClickHouse), plus overrides. */
export function kafkaFerryConfig(opts: {
  prefix: string;
  database: string;
  topic: string;
  group: string;
  table?: string;
  extra?: Record<string, unknown>;
  kafka?: Record<string, unknown>;
}): Record<string, unknown> {
  return {
    sinks: [
      s3SinkConfig(`${opts.prefix}/{host}-{batch_id}{ext}`),
      {
        name: 'warehouse',
        type: 'clickhouse',
        url: rig.clickhouse.url,
        database: opts.database,
        table: opts.table ?? 'events',
      },
    ],
    workers: { threads: 2 },
    batch: { max_age_ms: 200, max_events: 1000, codec: 'lz4' },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 3000, attempt_timeout_ms: 5000 },
    dlq: { probe_interval_ms: 200, reupload_events_per_s: 200000 },
    kafka: {
      enabled: true,
      brokers: [...rig.kafka.brokers],
      group_id: opts.group,
      topics: [opts.topic],
      commit_interval_ms: 200,
      session_timeout_ms: 10000,
      heartbeat_interval_ms: 1000,
      retry_initial_ms: 100,
      retry_max_ms: 2000,
      init: { partitions: 3 },
      ...opts.kafka,
    },
    ...opts.extra,
  };
}

/** `ferry <args>` through the built CLI; returns stdout (throws with stderr on a non-zero exit). */
/** `ferry migrate` and `ferry kafka init` with the process's own config file. */
export function prepare(f: FerryProc | { stateDir: string }): string {
  const cfg = join(f.stateDir, 'ferry.yaml');
  ferryCli(['migrate', '--config', cfg]);
  return ferryCli(['kafka', 'init', '--config', cfg]);
}

export function eventLine(prefix: string, i: number): string {
  return JSON.stringify({
    event_id: `${prefix}-${i}`,
    seq: i,
    user: `u${i % 97}`,
    kind: 'kafka_test',
    pad: 'k'.repeat(120),
  });
}

export function idsOf(prefix: string, from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, i) => `${prefix}-${from + i}`);
}

/** Produce messages [from, to) with keys spreading them over partitions. */
export async function produceRange(
  producer: Producer,
  topic: string,
  prefix: string,
  from: number,
  to: number,
  chunk = 500,
): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(to, i + chunk); j++)
      messages.push({ key: `k${j}`, value: eventLine(prefix, j) });
    await producer.send({ topic, acks: -1, messages });
  }
}

export async function withAdmin<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = kafka.admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

/** Per partition: the group's committed offset (-1 when none). */
export async function committedOffsets(group: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(async (a) => {
    const [t] = await a.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map(t.partitions.map((p) => [p.partition, Number(p.offset)]));
  });
}

/** Sum over partitions of the group's committed offsets (none counts as 0). */
export async function committedTotal(group: string, topic: string): Promise<number> {
  let s = 0;
  for (const o of (await committedOffsets(group, topic)).values()) s += Math.max(0, o);
  return s;
}

export async function endOffsetsTotal(topic: string): Promise<number> {
  return withAdmin(async (a) =>
    (await a.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0),
  );
}

/** Every record of a topic from the beginning, read until `count` are in (or the timeout). */
export async function readTopic(
  topic: string,
  count: number,
  timeoutMs = 30_000,
): Promise<{ key: string | null; value: string }[]> {
  const out: { key: string | null; value: string }[] = [];
  const c = kafka.consumer({ groupId: `ferry-test-reader-${topic}-${Date.now()}` });
  await c.connect();
  try {
    await c.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((res, rej) => {
      const timer = setTimeout(
        () =>
          rej(new Error(`read ${out.length} of ${count} records from ${topic} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      void c.run({
        eachMessage: async ({ message }) => {
          out.push({
            key: message.key?.toString() ?? null,
            value: message.value?.toString() ?? '',
          });
          if (out.length >= count) {
            clearTimeout(timer);
            res();
          }
        },
      });
    });
  } finally {
    await c.disconnect();
  }
  return out;
}

export async function metricsText(f: FerryProc): Promise<string> {
  return (await fetch(`${f.url}/metrics`)).text();
}

/** Sum of every series of a metric (all label sets). */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{'))
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/**
 * Wait (bounded) until ClickHouse's `table` holds at least n distinct event_ids starting with
 * `${prefix}-` and the S3 archive under `prefix/` at least n. With kafka.ack durable (the default) an offset is committed
 * once its messages are fsync'd in the write-ahead log and the sinks follow, so a test that reads
 * the sinks right after "committed to the end" waits here first; it asserts exact counts after.
 */
export async function sinksCaughtUp(
  ch: ClickHouseClient,
  table: string,
  prefix: string,
  n: number,
): Promise<void> {
  await until(
    `${n} events of ${prefix} in ClickHouse and S3`,
    async () =>
      (await clickhouseIds(ch, table, `${prefix}-`)).size >= n &&
      (await s3EventCounts(prefix)).size >= n,
    60_000,
    500,
  ).catch(() => {
    // The caller's exact assertions say what is missing.
  });
}
