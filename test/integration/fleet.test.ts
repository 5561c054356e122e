/**
 * The fleet rehearsal (issue 21), on this one machine with the rig's servers:
 *
 *   A: K edge ferries (one worker each) → Kafka sink → the rig's broker → 2 core ferries in one
 *      consumer group → ClickHouse + S3.
 *   B: K edge ferries → HTTP sink (?ack=durable) → 1 core ferry → ClickHouse + S3.
 *
 * While a client loop posts to every edge with ack=durable: kill -9 an edge (restarted on its
 * state), kill -9 a core (restarted on its state), restart the broker (A), stop ClickHouse for
 * 30 s. At the end every event an edge acknowledged is in ClickHouse (FINAL) and in S3; the
 * duplicates are counted per hop and printed with what caused them (docs/fleet.md explains).
 */
import { describe, it, expect, afterAll, afterEach } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { rig, startService, stopService } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import {
  clickhouse,
  clickhouseIds,
  clickhouseRows,
  s3EventCounts,
  until,
} from '../helpers/stores.js';
import { kafka, kafkaFerryConfig, metricSum, metricsText, prepare } from '../helpers/kafka.js';
import { runLoad, type LoadResult } from '../helpers/fleet-load.js';
import { registerKafkaCodecs } from '../../src/sources/kafka/compression.js';
import { freePort } from '../helpers/net.js';

registerKafkaCodecs();
const run = `fl${Date.now().toString(36)}`;
const database = `ferry_fleet_${run}`;
const ch = clickhouse();
const K = Number(process.env.FERRY_FLEET_EDGES ?? 4);
const CH_DOWN_MS = 30_000;
const all: Node[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A ferry process that can be killed -9 and restarted on the same port and state. */
class Node {
  f!: FerryProc;
  /** Metrics of earlier lives (a restart resets the counters). */
  private past = '';
  private constructor(
    private readonly cfg: Record<string, unknown>,
    readonly port: number,
  ) {}

  static async start(cfg: Record<string, unknown>): Promise<Node> {
    const port = await freePort();
    const n = new Node({ ...cfg, listen: { host: '127.0.0.1', port } }, port);
    n.f = await startFerryProcess(n.cfg);
    all.push(n);
    return n;
  }

  url = () => `http://127.0.0.1:${this.port}`;

  async crash(downMs: number): Promise<void> {
    this.past += await metricsText(this.f).catch(() => '');
    this.f.kill('SIGKILL');
    await this.f.exited;
    await sleep(downMs);
    this.f = await startFerryProcess(this.cfg, { stateDir: this.f.stateDir });
  }

  /** A counter summed over every life of this node. */
  async counter(name: string): Promise<number> {
    return metricSum(this.past, name) + metricSum(await metricsText(this.f), name);
  }

  async stop(): Promise<void> {
    this.f.kill('SIGTERM');
    expect(await this.f.exited).toBe(0);
  }
}

const sum = async (nodes: Node[], name: string) =>
  (await Promise.all(nodes.map((n) => n.counter(name)))).reduce((a, b) => a + b, 0);

function edgeConfig(i: number, sink: Record<string, unknown>): Record<string, unknown> {
  return {
    host_id: `edge-${i}`,
    workers: { threads: 1 },
    batch: { max_age_ms: 200, max_events: 1000, codec: 'lz4' },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 3000, attempt_timeout_ms: 5000 },
    dlq: { probe_interval_ms: 200, reupload_events_per_s: 100000 },
    sinks: [{ name: 'up', ...sink }],
  };
}

/** Chaos shared by both shapes: kill -9 an edge and a core, optionally restart the broker, ClickHouse down 30 s. */
async function chaos(edges: Node[], core: Node, broker: boolean): Promise<string[]> {
  const log: string[] = [];
  const t0 = Date.now();
  const note = (s: string) => log.push(`${((Date.now() - t0) / 1000).toFixed(1)} s ${s}`);
  await sleep(4000);
  note('kill -9 edge-0');
  await edges[0].crash(1000);
  note('edge-0 restarted');
  await sleep(3000);
  note('kill -9 core-0');
  await core.crash(2000);
  note('core-0 restarted');
  await sleep(2000);
  note('ClickHouse stopped');
  await stopService('clickhouse');
  const chDown = Date.now();
  if (broker) {
    await sleep(4000);
    note('broker killed -9');
    await stopService('kafka', { crash: true });
    await sleep(2000);
    await startService('kafka');
    note('broker back');
  }
  await sleep(Math.max(0, chDown + CH_DOWN_MS - Date.now()));
  await startService('clickhouse');
  note('ClickHouse back');
  await sleep(2000);
  return log;
}

interface Found {
  chIds: Set<string>;
  s3: Map<string, number>;
}

async function everyAckedArrives(prefix: string, load: LoadResult): Promise<Found> {
  let found: Found = { chIds: new Set(), s3: new Map() };
  // What the last look found, for the failure message: which store is short, and by how much.
  let progress = 'nothing read yet';
  await until(
    'every acknowledged event in ClickHouse FINAL and S3',
    async () => {
      const chIds = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
      const chMissing = [...load.acked].filter((id) => !chIds.has(id));
      progress = `ClickHouse lacks ${chMissing.length} of ${load.acked.size} (e.g. ${chMissing.slice(0, 3).join(', ')})`;
      if (chMissing.length > 0) return false;
      const s3 = await s3EventCounts(prefix);
      found = { chIds, s3 };
      const s3Missing = [...load.acked].filter((id) => !s3.has(id));
      progress = `S3 lacks ${s3Missing.length} of ${load.acked.size} (e.g. ${s3Missing.slice(0, 3).join(', ')})`;
      return s3Missing.length === 0;
    },
    150_000,
    2000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; at the last look ${progress}`);
  });
  return found;
}

function stored(found: Found, load: LoadResult) {
  const s3Total = [...found.s3.values()].reduce((a, b) => a + b, 0);
  const unknown = [...found.chIds].filter((id) => !load.acked.has(id) && !load.unacked.has(id));
  return {
    acked: load.acked.size,
    requests: load.requests,
    failed_requests: load.failed,
    unacked_arrived_ch: [...found.chIds].filter((id) => load.unacked.has(id)).length,
    unknown_ids: unknown.length,
    s3_objects_events: s3Total,
    s3_duplicates: s3Total - found.s3.size,
  };
}

/** Rows the cores inserted (live + from their DLQ) against what ClickHouse FINAL holds. */
async function clickhouseFigures(prefix: string, cores: Node[], distinct: number) {
  const rs = await ch.query({
    query: `SELECT count() AS c FROM ${database}.events FINAL WHERE startsWith(event_id, '${prefix}-')`,
    format: 'JSONEachRow',
  });
  const final = Number((await rs.json<{ c: string }>())[0].c);
  const inserted =
    (await sum(cores, 'sink_events_delivered_total{sink="warehouse"}')) +
    (await sum(cores, 'dlq_events_reuploaded_total{sink="warehouse"}'));
  return {
    clickhouse_final_rows: final,
    clickhouse_rows_inserted: inserted,
    clickhouse_duplicates_inserted: inserted - distinct,
    clickhouse_rows_before_final: await clickhouseRows(ch, `${database}.events`, `${prefix}-`),
    clickhouse_inserts_core: await sum(
      cores,
      'sink_write_duration_seconds_count{sink="warehouse"}',
    ),
  };
}

afterEach(async () => {
  await startService('clickhouse');
  await startService('kafka');
});
afterAll(async () => {
  for (const n of all) n.f.kill('SIGKILL');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('fleet rehearsal', () => {
  it(`A: ${K} edges → Kafka → 2 cores (one group) → ClickHouse + S3, through kill -9 of an edge and a core, a broker restart, ClickHouse down 30 s`, async () => {
    const prefix = `${run}-a`;
    const topic = `${run}-a`;
    const group = `${run}-a-g`;
    const coreCfg = (i: number) =>
      kafkaFerryConfig({
        prefix,
        database,
        topic,
        group,
        kafka: { init: { partitions: 6 } },
        extra: {
          host_id: `core-${i}`,
          workers: { threads: 1 },
          batch: { max_age_ms: 1000, max_events: 10000, codec: 'lz4' },
        },
      });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-fleet-init-'));
    writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...coreCfg(0) }));
    prepare({ stateDir: dir });
    const cores = [await Node.start(coreCfg(0)), await Node.start(coreCfg(1))];
    const edges: Node[] = [];
    for (let i = 0; i < K; i++)
      edges.push(
        await Node.start(
          edgeConfig(i, {
            type: 'kafka',
            brokers: [...rig.kafka.brokers],
            topic,
            compression: 'lz4',
          }),
        ),
      );
    const load = runLoad(edges, prefix, { perRequest: 100, pauseMs: 20 });
    const timeline = await chaos(edges, cores[0], true);
    const result = await load.stop();
    const found = await everyAckedArrives(prefix, result);

    // Kafka: messages in the topic against the distinct events they carry.
    const high = await (async () => {
      const a = kafka.admin();
      await a.connect();
      try {
        return (await a.fetchTopicOffsets(topic)).reduce((s, p) => s + Number(p.high), 0);
      } finally {
        await a.disconnect();
      }
    })();
    const s = stored(found, result);
    const summary = {
      shape: 'A edges → Kafka → 2 cores',
      edges: K,
      ...s,
      kafka_messages: high,
      kafka_duplicates: high - found.chIds.size,
      edge_dlq_events_spooled: await sum(edges, 'dlq_events_spooled_total'),
      edge_dlq_events_reproduced: await sum(edges, 'dlq_events_reuploaded_total'),
      edge_produce_errors: await sum(edges, 'kafka_produce_errors_total'),
      core_rebalances: await sum(cores, 'kafka_rebalances_total'),
      core_dlq_events_spooled: await sum(cores, 'dlq_events_spooled_total'),
      // S3 duplicates beyond Kafka's: messages the cores stored but had not committed when one
      // was killed or the group rebalanced, consumed again.
      core_reconsumed: s.s3_duplicates - (high - found.chIds.size),
      ...(await clickhouseFigures(prefix, cores, found.chIds.size)),
      batches_edges: await sum(edges, 'sink_write_duration_seconds_count{sink="up"}'),
      timeline,
    };
    console.log(JSON.stringify(summary, null, 1));
    expect(s.unknown_ids).toBe(0);
    // ClickHouse FINAL: each event once, however often it was inserted.
    expect(summary.clickhouse_final_rows).toBe(found.chIds.size);
    expect(summary.clickhouse_rows_inserted).toBeGreaterThanOrEqual(found.chIds.size);
    for (const n of [...edges, ...cores]) await n.stop();
  }, 420_000);

  it(`B: ${K} edges → HTTP sink → 1 core → ClickHouse + S3, through kill -9 of an edge and the core, ClickHouse down 30 s`, async () => {
    const prefix = `${run}-b`;
    const base = kafkaFerryConfig({ prefix, database, topic: 'unused', group: 'unused' });
    const core = await Node.start({
      host_id: 'core-b',
      workers: { threads: 1 },
      batch: { max_age_ms: 1000, max_events: 10000, codec: 'lz4' },
      retry: base.retry,
      dlq: base.dlq,
      sinks: base.sinks,
    });
    const edges: Node[] = [];
    for (let i = 0; i < K; i++)
      edges.push(
        await Node.start(
          edgeConfig(i, {
            type: 'http',
            urls: [`${core.url()}/v1/events`],
            failover_cooldown_ms: 500,
          }),
        ),
      );
    const load = runLoad(edges, prefix, { perRequest: 100, pauseMs: 20 });
    const timeline = await chaos(edges, core, false);
    const result = await load.stop();
    const found = await everyAckedArrives(prefix, result);
    const s = stored(found, result);
    const summary = {
      shape: 'B edges → HTTP → 1 core',
      edges: K,
      ...s,
      edge_dlq_events_spooled: await sum(edges, 'dlq_events_spooled_total'),
      edge_dlq_events_resent: await sum(edges, 'dlq_events_reuploaded_total'),
      core_dlq_events_spooled: await sum([core], 'dlq_events_spooled_total'),
      ...(await clickhouseFigures(prefix, [core], found.chIds.size)),
      batches_edges: await sum(edges, 'sink_write_duration_seconds_count{sink="up"}'),
      timeline,
    };
    console.log(JSON.stringify(summary, null, 1));
    expect(s.unknown_ids).toBe(0);
    expect(summary.clickhouse_final_rows).toBe(found.chIds.size);
    expect(summary.clickhouse_rows_inserted).toBeGreaterThanOrEqual(found.chIds.size);
    for (const n of [...edges, core]) await n.stop();
  }, 420_000);
});
