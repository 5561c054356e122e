import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { clickhouse, clickhouseIds, s3EventCounts, until } from '../helpers/stores.js';
import {
  committedOffsets,
  committedTotal,
  endOffsetsTotal,
  eventLine,
  idsOf,
  kafkaFerryConfig,
  metricSum,
  metricsText,
  prepare,
  withAdmin,
  sinksCaughtUp,
} from '../helpers/kafka.js';
import {
  javaConsoleProduce,
  KAFKA_DATA,
  kcatProduce,
  type KafkaCodec,
} from '../helpers/kafka-clients.js';

/**
 * Record batches as real producers compress them: kcat (librdkafka) with -z and the Java
 * console producer with compression.type, each codec into the same topic. Every record lands
 * exactly once in ClickHouse (FINAL) and S3, and the group commits to the end offsets.
 */
const run = `kc${Date.now().toString(36)}`;
const database = `ferry_kafka_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
const CODECS: KafkaCodec[] = ['none', 'gzip', 'snappy', 'lz4', 'zstd'];
const PER = 400;

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

function lines(prefix: string): string[] {
  return Array.from({ length: PER }, (_, i) => `k${i}:${eventLine(prefix, i)}`);
}

describe('Kafka source: every producer compression codec', () => {
  it('kcat is installed (scripts/setup-test-deps.sh)', () => {
    expect(execFileSync('kcat', ['-V'], { encoding: 'utf8' })).toContain('librdkafka');
  });

  async function consumeAll(
    name: string,
    runtime: 'node' | 'bun' | 'deno',
    produce: { prefix: string; send: (topic: string, l: string[]) => Promise<void> }[],
  ): Promise<void> {
    const topic = `${run}-${name}`;
    const group = `${run}-${name}-g`;
    const cfg = kafkaFerryConfig({ prefix: `${run}-${name}`, database, topic, group });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-codecs-'));
    writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
    prepare({ stateDir: dir });
    const proc = await startFerryProcess(cfg, { runtime });
    procs.push(proc);
    for (const { prefix, send } of produce) await send(topic, lines(prefix));
    const N = PER * produce.length;
    expect(await endOffsetsTotal(topic)).toBe(N);
    await until(
      'offsets committed to the end',
      async () => (await committedTotal(group, topic)) === N,
      120_000,
      300,
    );
    await sinksCaughtUp(ch, `${database}.events`, `${run}-${name}`, N);
    const chIds = await clickhouseIds(ch, `${database}.events`, `${run}-${name}-`);
    const s3 = await s3EventCounts(`${run}-${name}`);
    for (const { prefix } of produce) {
      const want = idsOf(prefix, 0, PER);
      expect(want.filter((id) => chIds.has(id)).length, `${prefix}: in ClickHouse`).toBe(PER);
      expect(want.filter((id) => s3.has(id)).length, `${prefix}: in S3`).toBe(PER);
    }
    expect(chIds.size).toBe(N);
    expect(s3.size).toBe(N);
    const m = await metricsText(proc);
    expect(metricSum(m, 'kafka_dlq_messages_total')).toBe(0);
    expect(metricSum(m, 'kafka_consumer_restarts_total')).toBe(0);
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
  }

  it('node: kcat -z and the Java producer’s compression.type, each of none/gzip/snappy/lz4/zstd → N records, N distinct in ClickHouse FINAL and S3, committed = end', async () => {
    const name = 'node';
    await consumeAll(name, 'node', [
      ...CODECS.map((codec) => ({
        prefix: `${run}-${name}-kcat-${codec}`,
        send: (t: string, l: string[]) => kcatProduce(t, l, codec),
      })),
      ...CODECS.map((codec) => ({
        prefix: `${run}-${name}-java-${codec}`,
        send: (t: string, l: string[]) => javaConsoleProduce(t, l, codec),
      })),
    ]);
  }, 300_000);

  for (const runtime of ['bun', 'deno'] as const) {
    it(`${runtime}: kcat with snappy, lz4 and zstd → every record once in both sinks`, async () => {
      await consumeAll(
        runtime,
        runtime,
        (['snappy', 'lz4', 'zstd'] as const).map((codec) => ({
          prefix: `${run}-${runtime}-kcat-${codec}`,
          send: (t: string, l: string[]) => kcatProduce(t, l, codec),
        })),
      );
    }, 240_000);
  }
});

/**
 * Damage the first record batch of a partition in the broker's own segment file (the broker
 * checks batches when they are produced, not when they are fetched, so this is how a batch no
 * client can read reaches a consumer): 'codec' sets the attribute bits to the undefined codec 7,
 * 'payload' overwrites the start of the compressed records.
 */
function damageFirstBatch(topic: string, partition: number, how: 'codec' | 'payload'): void {
  const file = join(KAFKA_DATA, `${topic}-${partition}`, '00000000000000000000.log');
  const fd = openSync(file, 'r+');
  try {
    const head = Buffer.alloc(61);
    readSync(fd, head, 0, 61, 0);
    expect(head.readInt8(16), 'record batch magic').toBe(2);
    if (how === 'codec') {
      head.writeInt16BE((head.readInt16BE(21) & ~0x07) | 0x07, 21);
      writeSync(fd, head, 21, 2, 21);
    } else {
      writeSync(fd, Buffer.alloc(8, 0x5a), 0, 8, 61);
    }
  } finally {
    closeSync(fd);
  }
}

describe('Kafka source: a record batch ferry cannot decode', () => {
  it('holds only its partition at that offset (metric, log line, /readyz), backs off instead of restarting, and goes on once the operator moves the group past it', async () => {
    const name = 'bad';
    const topic = `${run}-${name}`;
    const group = `${run}-${name}-g`;
    const cfg = kafkaFerryConfig({ prefix: `${run}-${name}`, database, topic, group });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-codecs-'));
    writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
    prepare({ stateDir: dir }); // 3 partitions
    const pfx = (p: number, part: string) => `${run}-${name}-p${p}-${part}`;
    const produce = (p: number, prefix: string, n: number, codec: KafkaCodec) =>
      kcatProduce(
        topic,
        Array.from({ length: n }, (_, i) => `k${i}:${eventLine(prefix, i)}`),
        codec,
        ['-p', String(p)],
      );
    // Partition 0: a batch with an undefined codec; 1: a zstd batch with garbage for a frame.
    await produce(0, pfx(0, 'bad'), 50, 'lz4');
    await produce(1, pfx(1, 'bad'), 50, 'zstd');
    damageFirstBatch(topic, 0, 'codec');
    damageFirstBatch(topic, 1, 'payload');
    const firstBad = await withAdmin((a) => a.fetchTopicOffsets(topic));
    const badEnd = new Map(firstBad.map((p) => [p.partition, Number(p.high)]));
    await produce(0, pfx(0, 'after'), 40, 'gzip');
    await produce(1, pfx(1, 'after'), 40, 'snappy');
    await produce(2, pfx(2, 'ok'), 300, 'zstd');

    const proc = await startFerryProcess(cfg);
    procs.push(proc);
    await until(
      'partition 2 committed to its end',
      async () => (await committedOffsets(group, topic)).get(2) === 300,
      60_000,
      300,
    );
    const t0 = Date.now();
    await until(
      'both damaged partitions reported',
      async () =>
        proc
          .logs()
          .filter(
            (l) =>
              l.msg ===
              'kafka: a record batch cannot be decoded; its partition is held there (nothing skipped) and retried with backoff',
          )
          .some((l) => l.partition === 1) &&
        proc
          .logs()
          .some((l) => l.partition === 0 && String(l.err).includes('unknown compression codec 7')),
      30_000,
    );
    const line = proc
      .logs()
      .find(
        (l) =>
          String(l.msg).startsWith('kafka: a record batch cannot be decoded') && l.partition === 0,
      )!;
    expect(line).toMatchObject({ topic, partition: 0, offset: '0', codec: 7 });
    const ready = await fetch(`${proc.url}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { problems: string[] };
    expect(body.problems.some((p) => p.includes(`${topic}/0 held at offset 0`))).toBe(true);
    expect(body.problems.some((p) => p.includes(`${topic}/1 held at offset 0`))).toBe(true);

    // No hot loop: about ten tries in 6 s (full-jitter backoff under 100 ms doubling to
    // kafka.retry_max_ms 2 s), not the hundreds of a fetch loop, and no consumer restart.
    await new Promise((r) => setTimeout(r, 6000 - (Date.now() - t0)));
    const m = await metricsText(proc);
    const tries = (p: number) =>
      Number(
        m.match(
          new RegExp(
            `kafka_undecodable_batches_total\\{topic="${topic}",partition="${p}"\\} (\\d+)`,
          ),
        )?.[1] ?? 0,
      );
    expect(tries(0)).toBeGreaterThanOrEqual(2);
    expect(tries(0)).toBeLessThan(40);
    expect(tries(1)).toBeGreaterThanOrEqual(2);
    expect(tries(1)).toBeLessThan(40);
    expect(metricSum(m, 'kafka_consumer_restarts_total')).toBe(0);
    // Nothing skipped: nothing of partitions 0 and 1 committed or stored, all of partition 2.
    const held = await committedOffsets(group, topic);
    expect(Math.max(0, held.get(0) ?? 0)).toBe(0);
    expect(Math.max(0, held.get(1) ?? 0)).toBe(0);
    const ids = await clickhouseIds(ch, `${database}.events`, `${run}-${name}-`);
    expect(ids.size).toBe(300);

    // The operator's remedy (docs/kafka.md): stop ferry, move the group past the batch, start.
    proc.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    await withAdmin((a) =>
      a.setOffsets({
        groupId: group,
        topic,
        partitions: [
          { partition: 0, offset: String(badEnd.get(0)) },
          { partition: 1, offset: String(badEnd.get(1)) },
        ],
      }),
    );
    const again = await startFerryProcess(cfg);
    procs.push(again);
    await until(
      'every partition committed to its end',
      async () => {
        const c = await committedOffsets(group, topic);
        return c.get(0) === badEnd.get(0)! + 40 && c.get(1) === badEnd.get(1)! + 40;
      },
      60_000,
      300,
    );
    // Committed once fsync'd in the write-ahead log (kafka.ack durable): the rows follow.
    await until(
      'the rows in ClickHouse',
      async () =>
        (await clickhouseIds(ch, `${database}.events`, `${run}-${name}-`)).size >= 380 || undefined,
      30_000,
    );
    const after = await clickhouseIds(ch, `${database}.events`, `${run}-${name}-`);
    expect(after.size).toBe(380);
    expect(idsOf(pfx(0, 'after'), 0, 40).every((id) => after.has(id))).toBe(true);
    expect(idsOf(pfx(1, 'after'), 0, 40).every((id) => after.has(id))).toBe(true);
    expect((await fetch(`${again.url}/readyz`)).status).toBe(200);
    again.kill('SIGTERM');
    expect(await again.exited).toBe(0);
  }, 180_000);
});
