import { describe, it, expect, afterAll, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { clickhouse, clickhouseIds, s3EventCounts, until } from '../helpers/stores.js';
import {
  committedOffsets,
  idsOf,
  kafkaFerryConfig,
  metricSum,
  metricsText,
  readTopic,
  withAdmin,
  sinksCaughtUp,
} from '../helpers/kafka.js';
import { ferryCli } from '../helpers/cli.js';
import { rig } from '../setup/rig.js';
import type { DlqTopicPayload } from '../../src/sources/kafka/dlq-topic.js';

/**
 * A transactional producer nobody here wrote (confluent-kafka from PyPI, in a venv that
 * scripts/rig/pyclients.sh makes): one transaction committed, one aborted, one committed.
 * With read_committed (ferry's only mode) the aborted records never arrive, the transaction
 * markers are skipped, and the group still commits to the end offsets. Tombstones go to the DLQ
 * topic (class empty_value), keyless records are events, binary header values keep their bytes.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `kt${Date.now().toString(36)}`;
const database = `ferry_kafka_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
let python: string;

beforeAll(() => {
  // Under CI a missing client is a failure: the script installs it or exits non-zero.
  python = execFileSync('bash', [join(ROOT, 'scripts', 'rig', 'pyclients.sh')], {
    encoding: 'utf8',
  }).trim();
}, 300_000);

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

const overSasl = {
  kafka: {
    brokers: [...rig.kafka.saslBrokers],
    sasl: { mechanism: 'scram-sha-512', username: rig.kafka.sasl.username },
    tls: { enabled: true, ca: join(rig.kafka.tlsDir, 'ca.pem') },
  },
  env: { FERRY_KAFKA__SASL__PASSWORD: rig.kafka.sasl.password },
  producer: {
    'bootstrap.servers': rig.kafka.saslBrokers[0],
    'security.protocol': 'SASL_SSL',
    'sasl.mechanisms': 'SCRAM-SHA-512',
    'sasl.username': rig.kafka.sasl.username,
    'sasl.password': rig.kafka.sasl.password,
    'ssl.ca.location': join(rig.kafka.tlsDir, 'ca.pem'),
  },
};

describe('Kafka source: transactional producers, tombstones, keyless records, binary headers', () => {
  for (const sasl of [false, true]) {
    it(`${sasl ? 'over SASL_SSL (SCRAM-SHA-512)' : 'plaintext'}: committed transactions delivered exactly once, the aborted one never; committed offsets = end offsets`, async () => {
      const topic = `${run}-tx${sasl ? '-sasl' : ''}`;
      const group = `${topic}-g`;
      const cfg = kafkaFerryConfig({
        prefix: topic,
        database,
        topic,
        group,
        ...(sasl ? { kafka: overSasl.kafka } : {}),
      });
      const env = sasl ? overSasl.env : {};
      const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-tx-'));
      writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
      ferryCli(['migrate', '--config', join(dir, 'ferry.yaml')], env);
      ferryCli(['kafka', 'init', '--config', join(dir, 'ferry.yaml')], env);
      const proc = await startFerryProcess(cfg, { env });
      procs.push(proc);

      const out = execFileSync(
        python,
        [
          join(ROOT, 'test', 'helpers', 'kafka_txn_producer.py'),
          rig.kafka.brokers[0],
          topic,
          topic,
        ],
        {
          encoding: 'utf8',
          timeout: 120_000,
          env: {
            ...process.env,
            KAFKA_EXTRA_CONFIG: JSON.stringify(sasl ? overSasl.producer : {}),
          },
        },
      );
      expect(out.trim()).toBe('ok');
      const ends = new Map(
        (await withAdmin((a) => a.fetchTopicOffsets(topic))).map((p) => [
          p.partition,
          Number(p.high),
        ]),
      );
      // 200 committed + 10 keyless + tombstone + poison + 50 aborted + 3 markers per partition × 3.
      expect([...ends.values()].reduce((a, b) => a + b, 0)).toBe(200 + 10 + 2 + 50 + 9);
      await until(
        'every partition committed to its end offset',
        async () => {
          const c = await committedOffsets(group, topic);
          return [...ends].every(([p, end]) => c.get(p) === end);
        },
        90_000,
        300,
      );
      await sinksCaughtUp(ch, `${database}.events`, topic, 210);
      const ids = await clickhouseIds(ch, `${database}.events`, `${topic}-`);
      const want = [...idsOf(`${topic}-committed`, 0, 200), ...idsOf(`${topic}-keyless`, 0, 10)];
      expect(ids.size).toBe(210);
      expect(want.every((id) => ids.has(id))).toBe(true);
      expect([...ids].some((id) => id.includes('-aborted-'))).toBe(false);
      const s3 = await s3EventCounts(topic);
      expect(s3.size).toBe(210);
      expect([...s3.values()].every((n) => n === 1)).toBe(true);

      const dlq = (await readTopic(`${topic}.dlq`, 2)).map(
        (r) => JSON.parse(r.value) as DlqTopicPayload,
      );
      const byKey = new Map(dlq.map((d) => [Buffer.from(d.key ?? '', 'base64').toString(), d]));
      expect(byKey.get('tomb')).toMatchObject({ error: { class: 'empty_value' }, value: '' });
      const poison = byKey.get('poison')!;
      expect(poison).toMatchObject({ error: { class: 'malformed' }, partition: 1 });
      expect(Buffer.from(poison.headers.bin as string, 'base64')).toEqual(
        Buffer.from([0, 255, 1, 128]),
      );
      expect(Buffer.from(poison.headers.origin as string, 'base64').toString()).toBe('python');

      await until(
        'lag 0',
        async () => metricSum(await metricsText(proc), 'kafka_consumer_lag') === 0,
        10_000,
      );
      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
    }, 240_000);
  }
});
