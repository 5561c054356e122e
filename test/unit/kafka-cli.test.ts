import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafkaCommand, kafkaSummary, topicPlan } from '../../src/cli/kafka.js';
import { parseConfigText } from '../../src/config/load.js';

const kafkaOf = (yaml: string) => parseConfigText(yaml, 'x', {}).kafka;

function configFile(yaml: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-kafka-cli-'));
  writeFileSync(join(dir, 'ferry.yaml'), `state_dir: ${dir}\n${yaml}`);
  return join(dir, 'ferry.yaml');
}

async function run(
  sub: string | undefined,
  path: string | undefined,
): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await kafkaCommand(
    sub,
    path,
    (s) => (out += s),
    (s) => (err += s),
  );
  return { code, out, err };
}

describe('ferry kafka', () => {
  it('plans every topic and its DLQ topic with the configured partitions and replication', () => {
    const k = kafkaOf(
      'kafka: { topics: [a, b], dlq_topic_suffix: .dead, init: { partitions: 12, replication_factor: 3, dlq_partitions: 2 } }',
    );
    expect(topicPlan(k)).toEqual([
      { topic: 'a', numPartitions: 12, replicationFactor: 3 },
      { topic: 'a.dead', numPartitions: 2, replicationFactor: 3 },
      { topic: 'b', numPartitions: 12, replicationFactor: 3 },
      { topic: 'b.dead', numPartitions: 2, replicationFactor: 3 },
    ]);
  });

  it('summarises the section for config check', () => {
    expect(
      kafkaSummary(kafkaOf('kafka: { topics: [events], brokers: ["k1:9092"], group_id: edge }')),
    ).toBe('kafka: events (json) from k1:9092, group edge, poison → events.dlq');
  });

  it('refuses an unknown subcommand (2), no topics (1), and an unreachable cluster (1, naming the brokers)', async () => {
    expect((await run('create', undefined)).code).toBe(2);
    expect((await run(undefined, undefined)).err).toMatch(/usage: ferry kafka init/);
    const none = await run('init', configFile('kafka: { topics: [] }\n'));
    expect(none).toMatchObject({ code: 1, err: expect.stringMatching(/kafka\.topics is empty/) });
    const bad = await run(
      'init',
      configFile(
        'kafka: { topics: [events] }\nlisten: { port: 0 }\n'.replace(
          'kafka: {',
          'kafka: { brokers: ["127.0.0.1:1"],',
        ),
      ),
    );
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/ferry kafka init: .*\(brokers 127\.0\.0\.1:1\)/);
    const invalid = await run('init', configFile('kafka: { format: csv }\n'));
    expect(invalid.code).toBe(1);
    expect(invalid.err).toMatch(/kafka\.format/);
  }, 60_000);
});
