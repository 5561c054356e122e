/**
 * The Kafka sink against the rig's broker: every event becomes exactly one message keyed by its
 * event_id (lz4 and zstd record batches through ferry's codecs), routing by a field, and a broker
 * outage spools to the DLQ and is re-produced once the broker is back — nothing lost.
 */
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import { rig, startService, stopService } from '../setup/rig.js';
import {
  startFerryProcess,
  post,
  makeEvents,
  type FerryProc,
  type Runtime,
} from '../helpers/ferry-proc.js';
import { metricSum, metricsText, readTopic, withAdmin } from '../helpers/kafka.js';
import { until } from '../helpers/stores.js';
import { registerKafkaCodecs } from '../../src/sources/kafka/compression.js';

registerKafkaCodecs();
const run = `ks${Date.now().toString(36)}`;
const procs: FerryProc[] = [];

async function createTopics(...topics: string[]): Promise<void> {
  await withAdmin((a) =>
    a.createTopics({
      topics: topics.map((topic) => ({ topic, numPartitions: 3 })),
      waitForLeaders: true,
    }),
  );
}

function edge(sink: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    sinks: [{ type: 'kafka', name: 'bus', brokers: [...rig.kafka.brokers], ...sink }],
    workers: { threads: 1 },
    batch: { max_age_ms: 100, max_events: 500, codec: 'lz4' },
    retry: { initial_ms: 100, max_ms: 500, max_elapsed_ms: 2000, attempt_timeout_ms: 3000 },
    dlq: { probe_interval_ms: 200, reupload_events_per_s: 100000 },
    ...extra,
  };
}

async function start(cfg: Record<string, unknown>, runtime?: Runtime): Promise<FerryProc> {
  const f = await startFerryProcess(cfg, { runtime });
  procs.push(f);
  return f;
}

async function postAll(f: FerryProc, lines: string[], chunk = 250): Promise<void> {
  for (let i = 0; i < lines.length; i += chunk) {
    const r = await post(f.url, lines.slice(i, i + chunk).join('\n'), { ack: 'durable' });
    expect(r.status, JSON.stringify(r.json)).toBe(200);
  }
}

afterEach(async () => {
  await startService('kafka');
});
afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

describe('Kafka sink', () => {
  it('N events → exactly N messages, keyed by event_id, the envelope as value (lz4, then zstd)', async () => {
    for (const compression of ['lz4', 'zstd'] as const) {
      const topic = `${run}-plain-${compression}`;
      await createTopics(topic);
      const f = await start(edge({ topic, compression }));
      const N = 2000;
      const { lines, ids } = makeEvents(N, `${topic}-e`);
      await postAll(f, lines);
      const got = await readTopic(topic, N);
      // Nothing more arrives afterwards: exactly N.
      await new Promise((r) => setTimeout(r, 500));
      const offsets = await withAdmin((a) => a.fetchTopicOffsets(topic));
      expect(offsets.reduce((s, p) => s + Number(p.high), 0)).toBe(N);
      expect(got.map((m) => m.key).sort()).toEqual([...ids].sort());
      for (const m of got.slice(0, 50)) {
        const env = JSON.parse(m.value) as {
          event_id: string;
          source: string;
          payload: { event_id: string };
        };
        expect(env.event_id).toBe(m.key);
        expect(env.payload.event_id).toBe(m.key);
        expect(typeof env.source).toBe('string');
      }
      const text = await metricsText(f);
      expect(metricSum(text, 'kafka_sink_messages_total')).toBe(N);
      expect(metricSum(text, 'sink_events_delivered_total')).toBe(N);
      f.kill('SIGTERM');
      expect(await f.exited).toBe(0);
    }
  }, 120_000);

  it.each<Runtime>(['bun', 'deno'])(
    'on %s too: gzip, lz4 and zstd record batches, every event once',
    async (runtime) => {
      for (const compression of ['gzip', 'lz4', 'zstd'] as const) {
        const topic = `${run}-${runtime}-${compression}`;
        await createTopics(topic);
        const f = await start(edge({ topic, compression }), runtime);
        const { lines, ids } = makeEvents(300, `${topic}-e`);
        await postAll(f, lines, 100);
        const got = await readTopic(topic, 300);
        expect(got.map((m) => m.key).sort()).toEqual([...ids].sort());
        f.kill('SIGTERM');
        expect(await f.exited).toBe(0);
      }
    },
    120_000,
  );

  it('routes by a field over a bounded set (else the default topic), keys by a field, value = the payload', async () => {
    const [a, b, other] = [`${run}-r-api`, `${run}-r-web`, `${run}-r-other`];
    await createTopics(a, b, other);
    const f = await start(
      edge({
        topic: `${run}-r-{app}`,
        topic_values: ['api', 'web'],
        default_topic: other,
        key_field: 'user',
        value: 'payload',
        compression: 'gzip',
      }),
    );
    const apps = ['api', 'web', 'batch', undefined];
    const lines = Array.from({ length: 400 }, (_, i) =>
      JSON.stringify({ event_id: `${run}-r-${i}`, user: `u${i % 7}`, app: apps[i % 4], i }),
    );
    await postAll(f, lines, 100);
    const [ga, gb, go] = await Promise.all([
      readTopic(a, 100),
      readTopic(b, 100),
      readTopic(other, 200),
    ]);
    expect(ga.every((m) => (JSON.parse(m.value) as { app: string }).app === 'api')).toBe(true);
    expect(gb.every((m) => (JSON.parse(m.value) as { app: string }).app === 'web')).toBe(true);
    expect(go.length).toBe(200);
    for (const m of [...ga, ...gb, ...go]) {
      const ev = JSON.parse(m.value) as { user: string; event_id: string };
      expect(m.key).toBe(ev.user);
    }
    // The value is the event as it arrived, byte for byte.
    expect(new Set([...ga, ...gb, ...go].map((m) => m.value))).toEqual(new Set(lines));
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 120_000);

  it('broker down: batches go to the DLQ (ack=durable still 200), broker back: re-produced, nothing lost', async () => {
    const topic = `${run}-outage`;
    await createTopics(topic);
    const f = await start(edge({ topic }));
    const before = makeEvents(500, `${topic}-a`);
    await postAll(f, before.lines);
    await stopService('kafka');
    const during = makeEvents(1500, `${topic}-b`);
    await postAll(f, during.lines);
    await until(
      'batches spooled to the DLQ',
      async () => metricSum(await metricsText(f), 'dlq_events_spooled_total') > 0,
      30_000,
      200,
    );
    const text = await metricsText(f);
    expect(metricSum(text, 'kafka_produce_errors_total')).toBeGreaterThan(0);
    await startService('kafka');
    await until(
      'the DLQ drained',
      async () => {
        const m = await metricsText(f);
        return (
          metricSum(m, 'dlq_events_reuploaded_total') >= metricSum(m, 'dlq_events_spooled_total') &&
          metricSum(m, 'dlq_files_current') === 0
        );
      },
      90_000,
      500,
    );
    const all = [...before.ids, ...during.ids];
    const high = await withAdmin(async (a) =>
      (await a.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0),
    );
    const got = await readTopic(topic, high, 60_000);
    const keys = new Set(got.map((m) => m.key));
    expect(all.filter((id) => !keys.has(id))).toEqual([]);
    // At least once: a produce the broker took but never acknowledged can be sent again.
    expect(got.length).toBeGreaterThanOrEqual(all.length);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 180_000);
});
