import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { stringify } from 'yaml';
import { startService, stopService } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { metric, waitForLog } from '../helpers/reload.js';
import { clickhouse, clickhouseIds, s3EventCounts, until } from '../helpers/stores.js';
import {
  committedTotal,
  idsOf,
  kafka,
  kafkaFerryConfig,
  metricSum,
  metricsText,
  prepare,
  produceRange,
  sinksCaughtUp,
} from '../helpers/kafka.js';

/**
 * The Kafka source through outages on the rig: ClickHouse down (the stream keeps
 * flowing into DLQ segments), a second consumer joining (rebalance), and a broker
 * restart — each costs at most duplicates, never a message.
 */
const run = `ko${Date.now().toString(36)}`;
const database = `ferry_kafka_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
let producer: Producer;

async function start(cfg: Record<string, unknown>, stateDir?: string): Promise<FerryProc> {
  const f = await startFerryProcess(cfg, { stateDir });
  procs.push(f);
  return f;
}

function setup(
  name: string,
  over: { kafka?: Record<string, unknown>; extra?: Record<string, unknown> } = {},
) {
  const topic = `${run}-${name}`;
  const prefix = `${run}-${name}`;
  const group = `${run}-${name}-g`;
  return {
    topic,
    prefix,
    group,
    cfg: kafkaFerryConfig({ prefix, database, topic, group, ...over }),
  };
}

function initTopics(cfg: Record<string, unknown>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-init-'));
  writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
  return prepare({ stateDir: dir });
}

async function stopped(f: FerryProc): Promise<void> {
  f.kill('SIGTERM');
  expect(await f.exited).toBe(0);
}

async function allArrived(prefix: string, n: number): Promise<void> {
  await sinksCaughtUp(ch, `${database}.events`, prefix, n);
  const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
  const missing = idsOf(prefix, 0, n).filter((id) => !ids.has(id));
  expect(missing.length, `missing in ClickHouse: ${missing.slice(0, 5).join(', ')}`).toBe(0);
  expect(ids.size).toBe(n);
  const s3 = await s3EventCounts(prefix);
  expect(idsOf(prefix, 0, n).filter((id) => !s3.has(id)).length).toBe(0);
  expect(s3.size).toBe(n);
}

beforeAll(async () => {
  producer = kafka.producer();
  await producer.connect();
});
afterEach(async () => {
  // A failed test must not leave a server down for the next one.
  await startService('clickhouse');
  await startService('minio');
  await startService('kafka');
});
afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await producer?.disconnect().catch(() => {});
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('Kafka source through outages', () => {
  it('ClickHouse stopped: the stream keeps flowing into DLQ segments, commits never run ahead of what is durable, everything arrives after recovery', async () => {
    // kafka.ack delivered: commits follow delivery-or-DLQ, which is what this samples (with the
    // default, durable, they follow the write-ahead log's fsync: test/integration/wal.test.ts).
    const { topic, prefix, group, cfg } = setup('chdown', { kafka: { ack: 'delivered' } });
    const N = 4000;
    initTopics(cfg);
    const f = await start(cfg);
    await waitForLog(f, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    await stopService('clickhouse');
    // A stream, not a backlog: 20 sends spread over a few seconds.
    const producing = (async () => {
      for (let i = 0; i < N; i += 200) {
        await produceRange(producer, topic, prefix, i, i + 200, 200);
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    // Sample while it flows: read the committed offsets first, then what is durable; the
    // durable side only grows, so it must never be behind a commit already made.
    let samples = 0;
    let committed = 0;
    while (committed < N) {
      committed = await committedTotal(group, topic);
      const spooled = metric(await metricsText(f), 'dlq_events_current', '{sink="warehouse"}') ?? 0;
      expect(
        spooled,
        `committed ${committed} but only ${spooled} in the warehouse DLQ`,
      ).toBeGreaterThanOrEqual(committed);
      if (committed > 0 && committed < N) samples++;
      await new Promise((r) => setTimeout(r, 150));
    }
    await producing;
    expect(samples).toBeGreaterThan(0);
    // S3 was up: it has everything that was committed already.
    expect((await s3EventCounts(prefix)).size).toBe(N);
    await startService('clickhouse');
    await until(
      'DLQ drained',
      async () =>
        (metric(await metricsText(f), 'dlq_events_current', '{sink="warehouse"}') ?? -1) === 0,
      90_000,
    );
    await allArrived(prefix, N);
    await stopped(f);
  }, 240_000);

  it('S3 down with no local DLQ: nothing is durable, so nothing is committed; partitions pause with bounded in-flight bytes, and everything arrives once S3 is back', async () => {
    const perPartition = 65536;
    // kafka.ack delivered: with nowhere to deliver or spool, nothing may be committed (with the
    // default, durable, the write-ahead log makes the messages durable and commits them).
    const { topic, prefix, group, cfg } = setup('s3down', {
      extra: { dlq: { enabled: false } },
      kafka: { max_inflight_bytes_per_partition: perPartition, ack: 'delivered' },
    });
    const N = 3000;
    initTopics(cfg);
    const f = await start(cfg);
    await stopService('minio');
    await produceRange(producer, topic, prefix, 0, N);
    // Wait until ferry has fetched and tried: the partitions pause on the retried chunks.
    await until(
      'partitions paused for retries',
      async () =>
        (metric(await metricsText(f), 'kafka_partition_pauses_total', '{reason="retry"}') ?? 0) > 0,
      60_000,
    );
    for (let i = 0; i < 10; i++) {
      const m = await metricsText(f);
      expect(await committedTotal(group, topic)).toBe(0);
      // 3 partitions, each at most its limit plus one chunk over it.
      expect(metric(m, 'kafka_inflight_bytes') ?? 0).toBeLessThanOrEqual(3 * 2 * perPartition);
      await new Promise((r) => setTimeout(r, 300));
    }
    await startService('minio');
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      120_000,
      300,
    );
    await allArrived(prefix, N);
    expect(metric(await metricsText(f), 'kafka_inflight_bytes')).toBe(0);
    await stopped(f);
  }, 240_000);

  it('a second consumer joining mid-stream (rebalance): both consume, nothing is lost', async () => {
    const { topic, prefix, group, cfg } = setup('rebalance');
    initTopics(cfg);
    await produceRange(producer, topic, prefix, 0, 3000);
    const a = await start(cfg);
    await until('a commits', async () => (await committedTotal(group, topic)) > 0, 60_000, 100);
    // Keep producing while b starts and the group rebalances, and a while after.
    let n = 3000;
    const b = await start(cfg);
    let after = 0;
    const giveUp = Date.now() + 60_000;
    while (after < 4) {
      await new Promise((r) => setTimeout(r, 250));
      await produceRange(producer, topic, prefix, n, n + 300, 300);
      n += 300;
      if (metricSum(await metricsText(b), 'kafka_rebalances_total') >= 1) after++;
      if (Date.now() > giveUp) throw new Error('b never joined the group');
    }
    const N = n;
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      120_000,
      300,
    );
    await allArrived(prefix, N);
    const ma = await metricsText(a);
    const mb = await metricsText(b);
    // a joined, then rejoined when b came; b got partitions of its own and consumed from them.
    expect(metricSum(ma, 'kafka_rebalances_total')).toBeGreaterThanOrEqual(2);
    expect(metricSum(mb, 'kafka_rebalances_total')).toBeGreaterThanOrEqual(1);
    expect(metricSum(mb, 'kafka_messages_received_total')).toBeGreaterThan(0);
    expect(
      metricSum(ma, 'kafka_messages_received_total') +
        metricSum(mb, 'kafka_messages_received_total'),
    ).toBeGreaterThanOrEqual(N);
    // Each partition's lag is reported by its current owner only (no stale series left behind).
    const lagParts = (m: string) =>
      [...m.matchAll(/^kafka_consumer_lag\{[^}]*partition="(\d+)"[^}]*\} (\S+)$/gm)].map(
        (x) => x[1],
      );
    const pa = lagParts(ma);
    const pb = lagParts(mb);
    expect(pb.length).toBeGreaterThan(0);
    expect(pa.filter((p) => pb.includes(p))).toEqual([]);
    // b leaves (graceful): a takes its partitions back and the stream goes on.
    await stopped(b);
    await produceRange(producer, topic, prefix, N, N + 600);
    await until(
      'a consumed what b left',
      async () => (await committedTotal(group, topic)) === N + 600,
      120_000,
      300,
    );
    await allArrived(prefix, N + 600);
    await stopped(a);
  }, 300_000);

  it('a broker restart mid-stream costs at most duplicates, never a message', async () => {
    const { topic, prefix, group, cfg } = setup('broker');
    const N = 6000;
    initTopics(cfg);
    await produceRange(producer, topic, prefix, 0, N / 2);
    const f = await start(cfg);
    await until(
      'some committed',
      async () => (await committedTotal(group, topic)) > 0,
      60_000,
      100,
    );
    await stopService('kafka');
    await new Promise((r) => setTimeout(r, 2000));
    await startService('kafka');
    await produceRange(producer, topic, prefix, N / 2, N);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      180_000,
      500,
    );
    await allArrived(prefix, N);
    const m = await metricsText(f);
    expect(
      metricSum(m, 'kafka_rebalances_total') + metricSum(m, 'kafka_consumer_restarts_total'),
    ).toBeGreaterThanOrEqual(2);
    await stopped(f);
  }, 300_000);
});
