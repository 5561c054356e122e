import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { Kafka, logLevel, type Admin, type Producer } from 'kafkajs';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import type { ClickHouseClient } from '@clickhouse/client';
import { rig } from '../setup/rig.js';
import { decodeObject, linesOf, type Envelope } from './archive.js';
import type { FerryProc } from './ferry-proc.js';

const ROOT = resolve(import.meta.dirname, '..', '..');

export const kafka = new Kafka({ clientId: 'ferry-test', brokers: [...rig.kafka.brokers], logLevel: logLevel.NOTHING, retry: { retries: 10, initialRetryTime: 200 } });

export const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});

/** The sinks and kafka section every Kafka test runs with (S3 + ClickHouse), plus overrides. */
export function kafkaFerryConfig(opts: { prefix: string; database: string; topic: string; group: string; extra?: Record<string, unknown>; kafka?: Record<string, unknown> }): Record<string, unknown> {
  return {
    sinks: [
      { name: 'archive', type: 's3', bucket: rig.s3.bucket, endpoint: rig.s3.endpoint, region: rig.s3.region, force_path_style: true, access_key_id: rig.s3.accessKeyId, secret_access_key: rig.s3.secretAccessKey, key_template: `${opts.prefix}/{host}-{batch_id}{ext}` },
      { name: 'warehouse', type: 'clickhouse', url: rig.clickhouse.url, database: opts.database, table: 'events' },
    ],
    workers: { threads: 2 },
    batch: { max_age_ms: 200, max_events: 1000, codec: 'lz4' },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 5000, attempt_timeout_ms: 5000 },
    kafka: {
      enabled: true, brokers: [...rig.kafka.brokers], group_id: opts.group, topics: [opts.topic], commit_interval_ms: 200,
      session_timeout_ms: 10000, heartbeat_interval_ms: 1000, retry_initial_ms: 100, retry_max_ms: 2000, init: { partitions: 3 },
      ...opts.kafka,
    },
    ...opts.extra,
  };
}

/** `ferry <args>` through the built CLI; returns stdout. */
export function ferryCli(args: string[], env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [join(ROOT, 'dist', 'src', 'cli.js'), ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

/** `ferry migrate` and `ferry kafka init` with the process's own config file. */
export function prepare(f: FerryProc | { stateDir: string }): void {
  const cfg = join(f.stateDir, 'ferry.yaml');
  ferryCli(['migrate', '--config', cfg]);
}

export function eventLine(prefix: string, i: number): string {
  return JSON.stringify({ event_id: `${prefix}-${i}`, seq: i, user: `u${i % 97}`, kind: 'kafka_test', pad: 'k'.repeat(120) });
}

/** Produce messages [from, to) with keys spreading them over partitions. */
export async function produceRange(producer: Producer, topic: string, prefix: string, from: number, to: number, chunk = 500): Promise<void> {
  for (let i = from; i < to; i += chunk) {
    const messages = [];
    for (let j = i; j < Math.min(to, i + chunk); j++) messages.push({ key: `k${j}`, value: eventLine(prefix, j) });
    await producer.send({ topic, acks: -1, messages });
  }
}

export async function withAdmin<T>(fn: (a: Admin) => Promise<T>): Promise<T> {
  const a = kafka.admin();
  await a.connect();
  try {
    return await fn(a);
  } finally {
    await a.disconnect();
  }
}

/** Sum over partitions of the group's committed offsets (-1 = none counts as 0). */
export async function committedTotal(group: string, topic: string): Promise<number> {
  return withAdmin(async (a) => {
    const [t] = await a.fetchOffsets({ groupId: group, topics: [topic] });
    return t.partitions.reduce((s, p) => s + Math.max(0, Number(p.offset)), 0);
  });
}

export async function endOffsetsTotal(topic: string): Promise<number> {
  return withAdmin(async (a) => (await a.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0));
}

export async function chCount(ch: ClickHouseClient, database: string, prefix: string): Promise<{ rows: number; final: number; distinct: number }> {
  const r = await ch.query({
    query: `SELECT (SELECT count() FROM ${database}.events WHERE startsWith(event_id, {p:String})) AS rows,
                   (SELECT count() FROM ${database}.events FINAL WHERE startsWith(event_id, {p:String})) AS final,
                   (SELECT uniqExact(event_id) FROM ${database}.events WHERE startsWith(event_id, {p:String})) AS distinct`,
    query_params: { p: `${prefix}-` },
    format: 'JSONEachRow',
  });
  const [row] = (await r.json()) as { rows: string; final: string; distinct: string }[];
  return { rows: Number(row.rows), final: Number(row.final), distinct: Number(row.distinct) };
}

/** Every envelope archived under the key prefix. */
export async function s3Envelopes(prefix: string): Promise<Envelope[]> {
  const out: Envelope[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: `${prefix}/`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: o.Key! }));
      const body = Buffer.from(await got.Body!.transformToByteArray());
      for (const l of linesOf(decodeObject(o.Key!, body))) out.push(JSON.parse(l) as Envelope);
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

export async function waitFor<T>(what: string, probe: () => Promise<T>, done: (v: T) => boolean, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < end) {
    try {
      last = await probe();
      if (done(last)) return last;
    } catch {
      /* server coming back */
    }
    await new Promise((r) => setTimeout(r, 300));
  }
  throw new Error(`timed out waiting for ${what}; last: ${JSON.stringify(last)}`);
}

export async function metricsText(f: FerryProc): Promise<string> {
  return (await fetch(`${f.url}/metrics`)).text();
}

export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name + ' ') || line.startsWith(name + '{')) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}
