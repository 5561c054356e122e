import { describe, it, expect } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import {
  S3Client,
  PutObjectCommand,
  GetObjectCommand,
  DeleteObjectCommand,
} from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { rig, stopService, startService, serviceUp } from '../setup/rig.js';

/**
 * The rig's servers are real and answer. The Kafka source (a later issue) builds on this
 * broker; the outage tests build on stopService/startService.
 */

async function ch(query: string, body?: string): Promise<string> {
  const r = await fetch(`${rig.clickhouse.url}/?query=${encodeURIComponent(query)}`, {
    method: 'POST',
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await r.text();
  if (!r.ok) throw new Error(`ClickHouse ${r.status}: ${text}`);
  return text;
}

describe('test rig', () => {
  it('Kafka (KRaft): create a topic, produce 10 messages, consume them with a group', async () => {
    const kafka = new Kafka({
      clientId: 'ferry-smoke',
      brokers: [...rig.kafka.brokers],
      logLevel: logLevel.NOTHING,
    });
    const topic = `smoke-${Date.now()}-${randomBytes(3).toString('hex')}`;
    const admin = kafka.admin();
    await admin.connect();
    try {
      expect(
        await admin.createTopics({
          topics: [{ topic, numPartitions: 2, replicationFactor: 1 }],
          waitForLeaders: true,
        }),
      ).toBe(true);
      expect(await admin.listTopics()).toContain(topic);
    } finally {
      await admin.disconnect();
    }

    const sent = Array.from({ length: 10 }, (_, i) => `message-${i}`);
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic,
      acks: -1,
      messages: sent.map((value, i) => ({ key: String(i), value })),
    });
    await producer.disconnect();

    const consumer = kafka.consumer({
      groupId: `${topic}-group`,
      sessionTimeout: 10_000,
      heartbeatInterval: 1_000,
    });
    const got: { key: string; value: string }[] = [];
    await consumer.connect();
    try {
      await consumer.subscribe({ topic, fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`consumed only ${got.length}/10 messages in 30 s`)),
          30_000,
        );
        void consumer
          .run({
            eachMessage: async ({ message }) => {
              got.push({ key: message.key!.toString(), value: message.value!.toString() });
              if (got.length >= sent.length) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }
    expect(got.map((m) => m.value).sort()).toEqual([...sent].sort());
    for (const m of got) expect(m.value).toBe(`message-${m.key}`);

    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteTopics({ topics: [topic] }).catch(() => {});
    await cleanup.disconnect();
  });

  it('MinIO: put and get an object byte for byte', async () => {
    const s3 = new S3Client({
      endpoint: rig.s3.endpoint,
      region: rig.s3.region,
      forcePathStyle: true,
      credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
    });
    const Key = `smoke/${Date.now()}-${randomBytes(4).toString('hex')}.bin`;
    const body = randomBytes(300_000);
    try {
      await s3.send(
        new PutObjectCommand({
          Bucket: rig.s3.bucket,
          Key,
          Body: body,
          ContentType: 'application/octet-stream',
        }),
      );
      const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key }));
      expect(got.ContentLength).toBe(body.length);
      expect(Buffer.compare(Buffer.from(await got.Body!.transformToByteArray()), body)).toBe(0);
    } finally {
      await s3.send(new DeleteObjectCommand({ Bucket: rig.s3.bucket, Key })).catch(() => {});
      s3.destroy();
    }
  });

  it('ClickHouse: create a table, insert JSONEachRow over HTTP, count', async () => {
    const table = `default.rig_smoke_${Date.now()}_${randomBytes(3).toString('hex')}`;
    await ch(`CREATE TABLE ${table} (id UInt32, s String) ENGINE = MergeTree() ORDER BY id`);
    try {
      const rows =
        Array.from({ length: 100 }, (_, i) => JSON.stringify({ id: i, s: `row ${i}` })).join('\n') +
        '\n';
      await ch(`INSERT INTO ${table} FORMAT JSONEachRow`, rows);
      expect((await ch(`SELECT count(), sum(id) FROM ${table} FORMAT TSV`)).trim()).toBe(
        '100\t4950',
      );
    } finally {
      await ch(`DROP TABLE IF EXISTS ${table}`);
    }
  });

  it('ClickHouse: stopService makes it unreachable, startService brings it back with its data', async () => {
    const table = `default.rig_restart_${Date.now()}_${randomBytes(3).toString('hex')}`;
    await ch(`CREATE TABLE ${table} (id UInt32) ENGINE = MergeTree() ORDER BY id`);
    await ch(`INSERT INTO ${table} FORMAT JSONEachRow`, '{"id":1}\n{"id":2}\n{"id":3}\n');
    let stopped = false;
    try {
      const t0 = Date.now();
      await stopService('clickhouse');
      stopped = true;
      const stopMs = Date.now() - t0;
      await expect(ch('SELECT 1')).rejects.toThrow();
      expect(await serviceUp('clickhouse')).toBe(false);

      const t1 = Date.now();
      await startService('clickhouse');
      stopped = false;
      const startMs = Date.now() - t1;
      expect((await ch('SELECT 1')).trim()).toBe('1');
      expect(await serviceUp('clickhouse')).toBe(true);
      expect((await ch(`SELECT count() FROM ${table}`)).trim()).toBe('3');
      // Outage tests depend on this being quick.
      expect(stopMs).toBeLessThan(15_000);
      expect(startMs).toBeLessThan(30_000);
    } finally {
      if (stopped) await startService('clickhouse');
      await ch(`DROP TABLE IF EXISTS ${table}`);
    }
  });
});
