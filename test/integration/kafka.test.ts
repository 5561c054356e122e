import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Producer } from 'kafkajs';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { waitForLog } from '../helpers/reload.js';
import {
  clickhouse,
  clickhouseIds,
  clickhouseRows,
  s3EventCounts,
  until,
} from '../helpers/stores.js';
import {
  committedOffsets,
  committedTotal,
  endOffsetsTotal,
  eventLine,
  idsOf,
  kafka,
  kafkaFerryConfig,
  metricSum,
  metricsText,
  prepare,
  produceRange,
  readTopic,
  sinksCaughtUp,
} from '../helpers/kafka.js';
import { ferryCli } from '../helpers/cli.js';
import type { DlqTopicPayload } from '../../src/sources/kafka/dlq-topic.js';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { pack } from 'msgpackr';

/**
 * The Kafka source against the rig's real broker, ClickHouse and MinIO: every
 * produced message ends up exactly once (FINAL) in both sinks, across SIGKILL,
 * and poison messages go to the DLQ topic while consumption goes on.
 */
const run = `ka${Date.now().toString(36)}`;
const database = `ferry_kafka_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
let producer: Producer;

async function start(cfg: Record<string, unknown>, stateDir?: string): Promise<FerryProc> {
  const f = await startFerryProcess(cfg, { stateDir });
  procs.push(f);
  return f;
}

/** Config for one test: its own topic, group and S3 prefix. */
function setup(
  name: string,
  over: { kafka?: Record<string, unknown>; extra?: Record<string, unknown>; table?: string } = {},
) {
  const topic = `${run}-${name}`;
  const prefix = `${run}-${name}`;
  return {
    topic,
    prefix,
    group: `${run}-${name}-g`,
    cfg: kafkaFerryConfig({ prefix, database, topic, group: `${run}-${name}-g`, ...over }),
  };
}

/** `ferry migrate` + `ferry kafka init` with the test's config (in a fresh state dir); returns init's output. */
function initTopics(cfg: Record<string, unknown>, opts: { migrateOnly?: boolean } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-init-'));
  writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
  if (opts.migrateOnly) return ferryCli(['migrate', '--config', join(dir, 'ferry.yaml')]);
  return prepare({ stateDir: dir });
}

async function stopped(f: FerryProc): Promise<void> {
  f.kill('SIGTERM');
  expect(await f.exited).toBe(0);
}

beforeAll(async () => {
  producer = kafka.producer();
  await producer.connect();
});
afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await producer?.disconnect();
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('Kafka source', () => {
  it('N messages produced → exactly N distinct event_ids in ClickHouse (FINAL) and in S3; offsets committed to the end', async () => {
    const { topic, prefix, group, cfg } = setup('basic');
    const N = 3000;
    // ferry kafka init creates the topic and its DLQ topic before anything is produced.
    const initOut = initTopics(cfg);
    expect(initOut).toContain(`created ${topic} (partitions 3, replication 1)`);
    expect(initOut).toContain(`created ${topic}.dlq (partitions 1, replication 1)`);
    expect(initTopics(cfg)).toContain(`exists  ${topic} `);

    await produceRange(producer, topic, prefix, 0, N / 2);
    const f = await start(cfg);
    await produceRange(producer, topic, prefix, N / 2, N);
    const end = await endOffsetsTotal(topic);
    expect(end).toBe(N);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      90_000,
      300,
    );
    await sinksCaughtUp(ch, `${database}.events`, prefix, N);
    const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(ids.size).toBe(N);
    expect(idsOf(prefix, 0, N).every((id) => ids.has(id))).toBe(true);
    const s3 = await s3EventCounts(prefix);
    expect(s3.size).toBe(N);
    expect(idsOf(prefix, 0, N).every((id) => s3.has(id))).toBe(true);
    const m = await metricsText(f);
    expect(metricSum(m, 'kafka_messages_received_total')).toBeGreaterThanOrEqual(N);
    expect(metricSum(m, 'kafka_offset_commits_total')).toBeGreaterThan(0);
    expect(metricSum(m, 'kafka_rebalances_total')).toBeGreaterThanOrEqual(1);
    expect(metricSum(m, 'kafka_dlq_messages_total')).toBe(0);
    await until(
      'lag 0',
      async () => metricSum(await metricsText(f), 'kafka_consumer_lag') === 0,
      10_000,
    );
    await stopped(f);
    expect(f.logs().some((l) => l.msg === 'kafka: consumer stopped, offsets committed')).toBe(true);
  }, 180_000);

  it('SIGKILL mid-stream, restart on the same state dir → all N present (FINAL), committed never past what is stored', async () => {
    // kafka.ack delivered: this test's subject is that a commit is never past what the sinks
    // store. The default (durable: committed once in the write-ahead log) is killed -9 in wal.test.ts.
    const { topic, prefix, group, cfg } = setup('kill', { kafka: { ack: 'delivered' } });
    const N = 12000;
    initTopics(cfg);
    await produceRange(producer, topic, prefix, 0, N / 2);
    const f = await start(cfg);
    await until(
      'some committed',
      async () => (await committedTotal(group, topic)) > 0,
      60_000,
      100,
    );
    f.kill('SIGKILL');
    await f.exited;
    const atKill = await committedOffsets(group, topic);
    const committedAtKill = [...atKill.values()].reduce((s, o) => s + Math.max(0, o), 0);
    // Everything the group committed before the kill is already in both sinks.
    const s3Before = await s3EventCounts(prefix);
    const chBefore = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(s3Before.size).toBeGreaterThanOrEqual(committedAtKill);
    expect(chBefore.size).toBeGreaterThanOrEqual(committedAtKill);
    // The stream goes on while ferry is down; the restart picks it all up.
    await produceRange(producer, topic, prefix, N / 2, N);
    const g = await start(cfg, f.stateDir);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      120_000,
      300,
    );
    const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(ids.size).toBe(N);
    expect(idsOf(prefix, 0, N).every((id) => ids.has(id))).toBe(true);
    const s3 = await s3EventCounts(prefix);
    expect(s3.size).toBe(N);
    // Duplicates are allowed (at-least-once); rows ≥ N, FINAL = N.
    expect(await clickhouseRows(ch, `${database}.events`, `${prefix}-`)).toBeGreaterThanOrEqual(N);
    await stopped(g);
  }, 240_000);

  it('SIGTERM mid-stream: stop fetching, let in-flight messages become durable, commit exactly that; the restart goes on from there with no duplicates', async () => {
    const { topic, prefix, group, cfg } = setup('term');
    initTopics(cfg);
    const f = await start(cfg);
    await waitForLog(f, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    // A live stream while ferry stops: 300 messages every 100 ms.
    let n = 0;
    let producing = true;
    const stream = (async () => {
      while (producing) {
        await produceRange(producer, topic, prefix, n, n + 300, 300);
        n += 300;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    await until(
      'some committed',
      async () => (await committedTotal(group, topic)) > 0,
      60_000,
      100,
    );
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
    producing = false;
    await stream;
    const N = n;
    expect(f.logs().some((l) => l.msg === 'kafka: consumer stopped, offsets committed')).toBe(true);
    // Everything durable was committed and nothing committed is missing: the two are equal.
    const committed = await committedTotal(group, topic);
    expect(committed).toBeLessThan(N);
    const stored = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(stored.size).toBe(committed);
    expect((await s3EventCounts(prefix)).size).toBe(committed);
    const g = await start(cfg, f.stateDir);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      120_000,
      300,
    );
    // Committed once fsync'd in the write-ahead log (kafka.ack durable): the sinks follow.
    await until(
      'the events in both sinks',
      async () =>
        ((await clickhouseIds(ch, `${database}.events`, `${prefix}-`)).size >= N &&
          (await s3EventCounts(prefix)).size >= N) ||
        undefined,
      60_000,
    );
    expect((await clickhouseIds(ch, `${database}.events`, `${prefix}-`)).size).toBe(N);
    // A clean handover: not one row twice.
    expect(await clickhouseRows(ch, `${database}.events`, `${prefix}-`)).toBe(N);
    const s3 = await s3EventCounts(prefix);
    expect(s3.size).toBe(N);
    expect([...s3.values()].every((c) => c === 1)).toBe(true);
    await stopped(g);
  }, 240_000);

  it('poison messages (bad JSON, over the size limit, empty value) go to the DLQ topic with the structured payload; consumption goes on', async () => {
    const { topic, prefix, group, cfg } = setup('poison', { kafka: { max_message_bytes: 4096 } });
    initTopics(cfg);
    const f = await start(cfg);
    const good = (i: number) => ({ key: `k${i}`, value: eventLine(prefix, i) });
    // All on one partition so their order around the poison is fixed.
    await producer.send({
      topic,
      acks: -1,
      messages: [
        ...Array.from({ length: 50 }, (_, i) => ({ ...good(i), partition: 0 })),
        {
          key: 'bad-json',
          value: '{"event_id": "broken", ',
          partition: 0,
          headers: { origin: 'test', trace: ['a', 'b'] },
        },
        {
          key: 'too-big',
          value: JSON.stringify({ event_id: `${prefix}-big`, pad: 'x'.repeat(5000) }),
          partition: 0,
        },
        { key: 'empty', value: '', partition: 0 },
        { key: 'multi', value: '{"event_id": "x"}\n{"event_id": "y"}', partition: 0 },
        ...Array.from({ length: 50 }, (_, i) => ({ ...good(50 + i), partition: 0 })),
      ],
    });
    // Poison among valid messages of one ring record: split out by the worker's line number.
    await producer.send({
      topic,
      acks: -1,
      messages: [good(100), { key: 'not-an-object', value: '[1,2', partition: 0 }, good(101)].map(
        (m) => ({ ...m, partition: 0 }),
      ),
    });
    await produceRange(producer, topic, prefix, 102, 300);
    const end = await endOffsetsTotal(topic);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === end,
      90_000,
      300,
    );
    // Committed once fsync'd in the write-ahead log (kafka.ack durable): the sinks follow.
    await until(
      'the events in both sinks',
      async () =>
        ((await clickhouseIds(ch, `${database}.events`, `${prefix}-`)).size >= 300 &&
          (await s3EventCounts(prefix)).size >= 300) ||
        undefined,
      60_000,
    );
    const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(ids.size).toBe(300);
    expect((await s3EventCounts(prefix)).size).toBe(300);

    const dlq = (await readTopic(`${topic}.dlq`, 5)).map((r) => ({
      key: r.key,
      p: JSON.parse(r.value) as DlqTopicPayload,
    }));
    expect(dlq.length).toBe(5);
    const byKey = new Map(dlq.map((d) => [Buffer.from(d.p.key ?? '', 'base64').toString(), d.p]));
    const bad = byKey.get('bad-json')!;
    expect(bad).toMatchObject({
      topic,
      partition: 0,
      offset: '50',
      error: { class: 'malformed' },
      host_id: expect.any(String),
    });
    expect(Buffer.from(bad.value, 'base64').toString()).toBe('{"event_id": "broken", ');
    expect(Buffer.from(bad.headers.origin as string, 'base64').toString()).toBe('test');
    expect((bad.headers.trace as string[]).map((h) => Buffer.from(h, 'base64').toString())).toEqual(
      ['a', 'b'],
    );
    expect(Number.isNaN(Date.parse(bad.timestamp))).toBe(false);
    expect(Number.isNaN(Date.parse(bad.failed_at))).toBe(false);
    expect(byKey.get('too-big')).toMatchObject({ offset: '51', error: { class: 'too_large' } });
    expect(byKey.get('too-big')!.error.message).toContain('max_message_bytes');
    expect(byKey.get('empty')).toMatchObject({
      offset: '52',
      error: { class: 'empty_value' },
      value: '',
    });
    // Two JSON documents in one message are not one event.
    expect(byKey.get('multi')).toMatchObject({ offset: '53', error: { class: 'malformed' } });
    expect(byKey.get('not-an-object')).toMatchObject({ error: { class: 'malformed' } });
    expect(Buffer.from(byKey.get('not-an-object')!.value, 'base64').toString()).toBe('[1,2');
    for (const d of dlq) expect(d.key).toBe(`${topic}/0/${d.p.offset}`);
    const m = await metricsText(f);
    expect(metricSum(m, 'kafka_dlq_messages_total')).toBe(5);
    await stopped(f);
  }, 180_000);

  it('a batch the sink refuses for good (no local DLQ): its messages go to the DLQ topic as sink_refused and the offsets move on', async () => {
    const table = 'refusing';
    // event_id as a number: ClickHouse refuses every row of ferry's with a parse error (400).
    // kafka.ack delivered: a sink's permanent refusal reaches the source (and the DLQ topic) only
    // before the offsets are committed; with the default, durable, the write-ahead log has the
    // messages already and keeps them for the sink (docs/wal.md).
    const { topic, prefix, group, cfg } = setup('refused', {
      table,
      extra: { dlq: { enabled: false } },
      kafka: { ack: 'delivered' },
    });
    initTopics(cfg);
    await ch.command({
      query: `CREATE TABLE ${database}.${table} (event_id UInt64) ENGINE = MergeTree ORDER BY event_id`,
    });
    await produceRange(producer, topic, prefix, 0, 40);
    const f = await start(cfg);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === 40,
      90_000,
      300,
    );
    const dlq = (await readTopic(`${topic}.dlq`, 40)).map(
      (r) => JSON.parse(r.value) as DlqTopicPayload,
    );
    expect(new Set(dlq.map((p) => `${p.partition}/${p.offset}`)).size).toBe(40);
    expect(dlq.every((p) => p.error.class === 'sink_refused')).toBe(true);
    expect(dlq[0].error.message).toMatch(/warehouse/);
    const values = new Set(
      dlq.map((p) => JSON.parse(Buffer.from(p.value, 'base64').toString()).event_id as string),
    );
    expect(idsOf(prefix, 0, 40).every((id) => values.has(id))).toBe(true);
    expect(metricSum(await metricsText(f), 'kafka_dlq_messages_total')).toBe(40);
    await stopped(f);
  }, 120_000);
  it('metadata_field stamps each JSON event with its Kafka coordinates (identical values without event_id stay distinct events); the source column says kafka:<topic>', async () => {
    const { topic, prefix, group, cfg } = setup('meta', { kafka: { metadata_field: '_kafka' } });
    initTopics(cfg);
    const f = await start(cfg);
    const same = JSON.stringify({ kind: 'no_id', tag: prefix });
    await producer.send({
      topic,
      acks: -1,
      messages: [0, 1, 2, 3].map((i) => ({
        key: 'same-key',
        value: same,
        partition: 1,
        headers: { h: `v${i}` },
      })),
    });
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === 4,
      90_000,
      300,
    );
    // Committed once fsync'd in the write-ahead log (kafka.ack durable): the rows follow.
    const rows = await until(
      'the rows in ClickHouse',
      async () => {
        const rs = await ch.query({
          query: `SELECT event_id, source, payload FROM ${database}.events FINAL WHERE payload LIKE '%${prefix}%' ORDER BY payload`,
          format: 'JSONEachRow',
        });
        const r = await rs.json<{ event_id: string; source: string; payload: string }>();
        return r.length >= 4 ? r : undefined;
      },
      30_000,
    );
    expect(rows.length).toBe(4);
    expect(new Set(rows.map((r) => r.event_id)).size).toBe(4);
    expect(rows.every((r) => r.source === `kafka:${topic}`)).toBe(true);
    const metas = rows.map(
      (r) => (JSON.parse(r.payload) as { _kafka: Record<string, unknown> })._kafka,
    );
    expect(metas.map((m) => m.offset).sort()).toEqual(['0', '1', '2', '3']);
    expect(metas[0]).toMatchObject({
      topic,
      partition: 1,
      key: 'same-key',
      headers: { h: expect.stringMatching(/^v\d$/) },
    });
    expect(JSON.parse(rows[0].payload)).toMatchObject({ kind: 'no_id', tag: prefix });
    await stopped(f);
  }, 120_000);

  it('format msgpack: one msgpack map per message; a value that is not msgpack goes to the DLQ topic', async () => {
    const { topic, prefix, group, cfg } = setup('msgpack', { kafka: { format: 'msgpack' } });
    initTopics(cfg);
    const f = await start(cfg);
    const messages = Array.from({ length: 200 }, (_, i) => ({
      key: `k${i}`,
      value: pack({ event_id: `${prefix}-${i}`, seq: i, kind: 'mp' }) as Buffer,
    }));
    messages.splice(100, 0, { key: 'not-msgpack', value: Buffer.from([0xc1, 0xc1, 0xc1]) });
    await producer.send({ topic, acks: -1, messages });
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === 201,
      90_000,
      300,
    );
    // Committed once fsync'd in the write-ahead log (kafka.ack durable): the sinks follow.
    await until(
      'the events in both sinks',
      async () =>
        ((await clickhouseIds(ch, `${database}.events`, `${prefix}-`)).size >= 200 &&
          (await s3EventCounts(prefix)).size >= 200) ||
        undefined,
      30_000,
    );
    const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
    expect(ids.size).toBe(200);
    expect((await s3EventCounts(prefix)).size).toBe(200);
    const [dlq] = (await readTopic(`${topic}.dlq`, 1)).map(
      (r) => JSON.parse(r.value) as DlqTopicPayload,
    );
    expect(dlq).toMatchObject({
      topic,
      error: { class: 'malformed' },
      value: Buffer.from([0xc1, 0xc1, 0xc1]).toString('base64'),
    });
    await stopped(f);
  }, 120_000);
  it('broker unreachable: HTTP ingest still works, the consumer retries with backoff, and SIGTERM is not held up by it', async () => {
    const { prefix, cfg } = setup('nobroker', {
      kafka: { brokers: ['127.0.0.1:1'], retry_initial_ms: 200, retry_max_ms: 30000 },
    });
    initTopics(cfg, { migrateOnly: true });
    const f = await start(cfg);
    await waitForLog(f, (l) => l.msg === 'kafka: consumer failed to start', { timeoutMs: 30_000 });
    const ev = makeEvents(20, `${prefix}-http`);
    expect((await post(f.url, ev.lines.join('\n'))).status).toBe(200);
    await waitForLog(f, (l) => l.msg === 'kafka: restarting the consumer', { timeoutMs: 30_000 });
    const t0 = Date.now();
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
    // kafkajs alone would retry the connection for up to a minute; the stop must not wait for it.
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect((await clickhouseIds(ch, `${database}.events`, `${prefix}-http-`)).size).toBe(20);
  }, 90_000);
});
