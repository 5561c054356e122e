import { describe, it, expect, afterAll } from 'vitest';
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
  readTopic,
  sinksCaughtUp,
} from '../helpers/kafka.js';
import { ferryCli } from '../helpers/cli.js';
import { javaConsoleProduce, javaSasl, kcatProduce, kcatSasl } from '../helpers/kafka-clients.js';
import { rig } from '../setup/rig.js';
import type { DlqTopicPayload } from '../../src/sources/kafka/dlq-topic.js';

/**
 * The rig broker's SASL_SSL listener (a CA the rig made, SCRAM and PLAIN users): `ferry kafka
 * init`, the consumer and the DLQ-topic producer all go through it, the password coming from
 * the environment and never showing in ferry's output. kcat produces over the same listener.
 */
const run = `ks${Date.now().toString(36)}`;
const database = `ferry_kafka_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
const N = 300;

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

const cases = [
  { name: 'scram256', mechanism: 'scram-sha-256', kcat: 'SCRAM-SHA-256', mtls: false },
  { name: 'plain', mechanism: 'plain', kcat: 'PLAIN', mtls: false },
  { name: 'scram512-mtls', mechanism: 'scram-sha-512', kcat: 'SCRAM-SHA-512', mtls: true },
] as const;

describe('Kafka over SASL_SSL', () => {
  for (const c of cases) {
    it(`${c.mechanism}${c.mtls ? ' with a client certificate' : ''}: kafka init, consumer and DLQ topic over TLS; kcat (lz4) and the Java producer (snappy) over SASL_SSL, N records → N in both sinks, the poison one in the DLQ topic, committed = end; the password never printed`, async () => {
      const topic = `${run}-${c.name}`;
      const group = `${topic}-g`;
      const prefix = topic;
      const tls = rig.kafka.tlsDir;
      const cfg = kafkaFerryConfig({
        prefix,
        database,
        topic,
        group,
        kafka: {
          brokers: [...rig.kafka.saslBrokers],
          sasl: { mechanism: c.mechanism, username: rig.kafka.sasl.username },
          tls: {
            enabled: true,
            ca: join(tls, 'ca.pem'),
            ...(c.mtls ? { cert: join(tls, 'client.pem'), key: join(tls, 'client.key') } : {}),
          },
        },
      });
      const env = { FERRY_KAFKA__SASL__PASSWORD: rig.kafka.sasl.password };
      const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-sasl-'));
      writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...cfg }));
      ferryCli(['migrate', '--config', join(dir, 'ferry.yaml')], env);
      const init = ferryCli(['kafka', 'init', '--config', join(dir, 'ferry.yaml')], env);
      expect(init).toContain(`created ${topic} (partitions 3, replication 1)`);
      expect(init).not.toContain(rig.kafka.sasl.password);

      const proc = await startFerryProcess(cfg, { env });
      procs.push(proc);
      const lines = Array.from({ length: N }, (_, i) => `k${i}:${eventLine(prefix, i)}`);
      await kcatProduce(
        topic,
        [...lines.slice(0, N / 2), 'poison:{"event_id": "broken", '],
        'lz4',
        kcatSasl(c.kcat),
        rig.kafka.saslBrokers[0],
      );
      // The other half from the Java client over the same listener (SCRAM; it has no PLAIN here).
      const javaMech = c.kcat === 'PLAIN' ? 'SCRAM-SHA-256' : c.kcat;
      await javaConsoleProduce(
        topic,
        lines.slice(N / 2),
        'snappy',
        javaSasl(javaMech),
        rig.kafka.saslBrokers[0],
      );
      expect(await endOffsetsTotal(topic)).toBe(N + 1);
      await until(
        'offsets committed to the end',
        async () => (await committedTotal(group, topic)) === N + 1,
        90_000,
        300,
      );
      await sinksCaughtUp(ch, `${database}.events`, prefix, N);
      const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
      expect(ids.size).toBe(N);
      expect(idsOf(prefix, 0, N).every((id) => ids.has(id))).toBe(true);
      expect((await s3EventCounts(prefix)).size).toBe(N);
      const [dlq] = await readTopic(`${topic}.dlq`, 1);
      const payload = JSON.parse(dlq.value) as DlqTopicPayload;
      expect(payload).toMatchObject({ topic, error: { class: 'malformed' } });
      expect(Buffer.from(payload.key!, 'base64').toString()).toBe('poison');

      proc.kill('SIGTERM');
      expect(await proc.exited).toBe(0);
      expect(proc.stderr()).not.toContain(rig.kafka.sasl.password);
      expect(JSON.stringify(proc.logs())).not.toContain(rig.kafka.sasl.password);
      expect(proc.logs().some((l) => l.msg === 'kafka: consumer running')).toBe(true);
    }, 180_000);
  }

  it('a wrong password is refused by the broker, reported, and never printed', async () => {
    const topic = `${run}-wrong`;
    const cfg = kafkaFerryConfig({
      prefix: topic,
      database,
      topic,
      group: `${topic}-g`,
      kafka: {
        brokers: [...rig.kafka.saslBrokers],
        sasl: { mechanism: 'scram-sha-256', username: rig.kafka.sasl.username },
        tls: { enabled: true, ca: join(rig.kafka.tlsDir, 'ca.pem') },
      },
    });
    const wrong = 'not-the-password-4711';
    const proc = await startFerryProcess(cfg, { env: { FERRY_KAFKA__SASL__PASSWORD: wrong } });
    procs.push(proc);
    await until(
      'an authentication failure logged',
      async () =>
        /SASL SCRAM SHA256 authentication failed|KafkaJSSASLAuthenticationError/i.test(
          JSON.stringify(proc.logs()),
        ),
      30_000,
    );
    proc.kill('SIGTERM');
    await proc.exited;
    expect(proc.stderr()).not.toContain(wrong);
    expect(JSON.stringify(proc.logs())).not.toContain(wrong);
  }, 90_000);
});
