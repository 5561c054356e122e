import { describe, it, expect } from 'vitest';
import { Kafka, logLevel } from 'kafkajs';
import { S3Client, PutObjectCommand, GetObjectCommand } from '@aws-sdk/client-s3';
import { randomBytes } from 'node:crypto';
import { rig } from '../setup/rig.js';

/** The rig's servers are real and answer; the Kafka source (a later issue) builds on this broker. */
describe('test rig', () => {
  it('Kafka (KRaft): create a topic, produce, consume with a group', async () => {
    const kafka = new Kafka({ clientId: 'ferry-smoke', brokers: [...rig.kafka.brokers], logLevel: logLevel.NOTHING });
    const topic = `smoke-${Date.now()}`;
    const admin = kafka.admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2, replicationFactor: 1 }], waitForLeaders: true });
    await admin.disconnect();
    const producer = kafka.producer();
    await producer.connect();
    const sent = Array.from({ length: 10 }, (_, i) => `m${i}`);
    await producer.send({ topic, messages: sent.map((value, i) => ({ key: String(i), value })) });
    await producer.disconnect();
    const consumer = kafka.consumer({ groupId: `${topic}-g` });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    const got: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`consumed only ${got.length}/10`)), 30000);
      void consumer.run({
        eachMessage: async ({ message }) => {
          got.push(message.value!.toString());
          if (got.length === sent.length) {
            clearTimeout(t);
            resolve();
          }
        },
      });
    });
    await consumer.disconnect();
    expect(got.sort()).toEqual([...sent].sort());
  });

  it('MinIO: put and get an object byte for byte', async () => {
    const s3 = new S3Client({ endpoint: rig.s3.endpoint, region: rig.s3.region, forcePathStyle: true, credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey } });
    const body = randomBytes(100_000);
    await s3.send(new PutObjectCommand({ Bucket: rig.s3.bucket, Key: 'smoke/obj', Body: body }));
    const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: 'smoke/obj' }));
    expect(Buffer.compare(Buffer.from(await got.Body!.transformToByteArray()), body)).toBe(0);
  });

  it('ClickHouse: create, insert JSONEachRow, count', async () => {
    const q = (query: string, body?: string) => fetch(`${rig.clickhouse.url}/?query=${encodeURIComponent(query)}`, { method: 'POST', body }).then(async (r) => {
      const t = await r.text();
      if (!r.ok) throw new Error(t);
      return t;
    });
    const t = `default.smoke_${Date.now()}`;
    await q(`CREATE TABLE ${t} (id UInt32, s String) ENGINE = MergeTree() ORDER BY id`);
    await q(`INSERT INTO ${t} FORMAT JSONEachRow`, '{"id":1,"s":"a"}\n{"id":2,"s":"b"}\n');
    expect((await q(`SELECT count() FROM ${t}`)).trim()).toBe('2');
    await q(`DROP TABLE ${t}`);
  });
});
