// A Kafka lag to drain: n W1-shaped events (~370 B, each with its own event_id from `idOf`)
// produced into `topic` before ferry starts — uncompressed by kafkajs, or compressed by kcat
// (librdkafka, batched with linger as producers do) when `compression` is given.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Partitioners } from 'kafkajs';
import { events } from './payload.mjs';

/**
 * @param {object} o
 * @param {import('kafkajs').Kafka} o.kafka
 * @param {string} o.broker for kcat
 * @param {string} o.topic
 * @param {number} o.n
 * @param {(j: number) => string} o.idOf the j-th message's event_id
 * @param {string} [o.compression] none|gzip|snappy|lz4|zstd: produce with kcat -z
 * @param {string} o.work a scratch directory (kcat's input file)
 * @returns {Promise<{ seconds: number, avgBytes: number }>}
 */
export async function produceLag({ kafka, broker, topic, n, idOf, compression, work }) {
  const base = events().map((e) => JSON.stringify(e).slice(1)); // without the opening brace
  /** @param {number} j */
  const message = (j) => `{"event_id":"${idOf(j)}",${base[j % base.length]}`;
  const t0 = Date.now();
  if (compression) {
    const file = join(work, 'messages.ndjson');
    const lines = [];
    for (let j = 0; j < n; j++) lines.push(message(j));
    writeFileSync(file, `${lines.join('\n')}\n`);
    execFileSync('kcat', [
      '-P',
      '-b',
      broker,
      '-t',
      topic,
      '-z',
      compression,
      '-X',
      'linger.ms=20',
      '-X',
      'batch.size=1000000',
      '-l',
      file,
    ]);
  } else {
    const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const CHUNK = 2000;
    for (let i = 0; i < n; i += CHUNK) {
      const messages = [];
      for (let j = i; j < Math.min(n, i + CHUNK); j++) messages.push({ value: message(j) });
      await producer.send({ topic, acks: 1, messages });
    }
    await producer.disconnect();
  }
  const avgBytes = Math.round(base.reduce((s, l) => s + l.length + 20, 0) / base.length);
  return { seconds: (Date.now() - t0) / 1000, avgBytes };
}
