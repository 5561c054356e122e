import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { clickhouse, clickhouseIds, s3EventCounts, until } from '../helpers/stores.js';
import {
  committedTotal,
  endOffsetsTotal,
  eventLine,
  idsOf,
  kafkaFerryConfig,
  metricSum,
  metricsText,
  prepare,
} from '../helpers/kafka.js';
import { javaConsoleProduce, kcatProduce, type KafkaCodec } from '../helpers/kafka-clients.js';

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
