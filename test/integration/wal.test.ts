import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Producer } from 'kafkajs';
import { stringify } from 'yaml';
import { startService } from '../setup/rig.js';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';
import { waitForLog } from '../helpers/reload.js';
import { clickhouse, clickhouseIds, s3EventCounts, until } from '../helpers/stores.js';
import {
  committedTotal,
  idsOf,
  kafka,
  kafkaFerryConfig,
  prepare,
  produceRange,
} from '../helpers/kafka.js';

/**
 * The write-ahead log under kill -9 (docs/wal.md): ferry is SIGKILLed between the fsync and the
 * answer, between delivery and release (both through the test-only FERRY_TEST_WAL_FAULT hook,
 * src/wal/fault.ts), and after its acks but before any batch is sealed (by the test) — for HTTP
 * and for the Kafka source. After a restart on the same state dir, every acknowledged event is in
 * the sinks.
 */
const run = `wl${Date.now().toString(36)}`;
const database = `ferry_wal_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];
let producer: Producer | undefined;

const dirConfig = (maxAgeMs: number) => ({
  sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
  // One worker: the batches' ages are the only thing that seals them.
  workers: { threads: 1 },
  batch: { max_age_ms: maxAgeMs, max_events: 100000, codec: 'lz4' },
});

async function start(
  cfg: Record<string, unknown>,
  opts: { stateDir?: string; env?: Record<string, string> } = {},
): Promise<FerryProc> {
  const f = await startFerryProcess(cfg, opts);
  procs.push(f);
  return f;
}

const walFiles = (f: FerryProc) => {
  try {
    return readdirSync(join(f.stateDir, 'wal')).filter((n) => n.endsWith('.fwl'));
  } catch {
    return [];
  }
};

/** Count of each event_id in the directory sink. */
function stored(f: FerryProc): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of envelopesIn(join(f.stateDir, 'out')))
    m.set(e.event_id, (m.get(e.event_id) ?? 0) + 1);
  return m;
}

async function allStored(f: FerryProc, ids: string[]): Promise<Map<string, number>> {
  return until(
    'every acknowledged event in the directory sink',
    async () => {
      const m = stored(f);
      return ids.every((id) => m.has(id)) ? m : undefined;
    },
    30_000,
  );
}

afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await producer?.disconnect().catch(() => {});
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('write-ahead log: kill -9 (HTTP)', () => {
  it('killed between the fsync and the answer: the acknowledged events and the unanswered logged one are all delivered after restart', async () => {
    const f = await start(dirConfig(60_000), {
      env: { FERRY_TEST_WAL_FAULT: 'after-fsync:4' },
    });
    const acked: string[] = [];
    let unanswered: string[] = [];
    for (let i = 0; i < 10; i++) {
      const ev = makeEvents(20, `${run}-fsync-${i}`);
      const started = Date.now();
      const r = await post(f.url, ev.lines.join('\n')).catch(() => undefined);
      if (!r) {
        unanswered = ev.ids;
        break;
      }
      expect(r.status).toBe(200);
      expect(r.json.ack).toBe('durable');
      // Durable without waiting for the 60 s batch age: the log answered.
      expect(Date.now() - started).toBeLessThan(1000);
      acked.push(...ev.ids);
    }
    expect(await f.exited).toBe('SIGKILL');
    expect(acked.length).toBe(60);
    expect(unanswered.length).toBe(20);
    expect(stored(f).size).toBe(0);
    const g = await start(dirConfig(100), { stateDir: f.stateDir });
    expect(g.logs().some((l) => l.msg?.toString().startsWith('WAL recovered'))).toBe(true);
    const m = await allStored(g, [...acked, ...unanswered]);
    expect([...acked, ...unanswered].filter((id) => !m.has(id))).toEqual([]);
    await until('log released', async () => walFiles(g).length === 0 || undefined, 10_000);
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 90_000);

  it('killed while writing into reused segment files: nothing acknowledged is missing, no record read as corrupt', async () => {
    // 64 KiB segments and 100 ms batches: segments fill, are released and reused within the run.
    const cfg = { ...dirConfig(100), wal: { segment_max_bytes: 65536 } };
    const f = await start(cfg, { env: { FERRY_TEST_WAL_FAULT: 'after-fsync:150' } });
    const spares = () => readdirSync(join(f.stateDir, 'wal')).filter((n) => n.endsWith('.spare'));
    const acked: string[] = [];
    let sawSpares = false;
    for (let i = 0; i < 200; i++) {
      const ev = makeEvents(20, `${run}-reuse-${i}`);
      const r = await post(f.url, ev.lines.join('\n')).catch(() => undefined);
      if (!r) break;
      expect(r.status).toBe(200);
      acked.push(...ev.ids);
      sawSpares ||= spares().length > 0;
    }
    expect(await f.exited).toBe('SIGKILL');
    expect(acked.length).toBe(149 * 20);
    // The log did reuse files before the kill (so the recovery below read reused ones).
    expect(sawSpares).toBe(true);
    const g = await start(dirConfig(100), { stateDir: f.stateDir });
    const m = await allStored(g, acked);
    expect(acked.filter((id) => !m.has(id))).toEqual([]);
    // The old records past the new ones in a reused file are not reported as corrupt.
    expect(g.logs().some((l) => /corrupt/.test(String(l.msg)))).toBe(false);
    expect(readdirSync(join(f.stateDir, 'wal'))).not.toContain('quarantine');
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 90_000);

  it('killed between delivery and release: the records come again (duplicates, bounded by the surviving segment), none missing', async () => {
    const f = await start(dirConfig(300), { env: { FERRY_TEST_WAL_FAULT: 'before-release:1' } });
    const acked: string[] = [];
    const sends = Array.from({ length: 8 }, async (_, i) => {
      const ev = makeEvents(25, `${run}-rel-${i}`);
      const r = await post(f.url, ev.lines.join('\n')).catch(() => undefined);
      if (r?.status === 200) acked.push(...ev.ids);
    });
    await Promise.all(sends);
    expect(await f.exited).toBe('SIGKILL');
    expect(acked.length).toBe(200);
    // Delivered before the kill: the batch is in the sink already.
    expect(acked.every((id) => stored(f).has(id))).toBe(true);
    expect(walFiles(f).length).toBeGreaterThan(0);
    const g = await start(dirConfig(100), { stateDir: f.stateDir });
    const recovered = g.logs().find((l) => l.msg?.toString().startsWith('WAL recovered'));
    expect(Number(recovered?.records)).toBeGreaterThan(0);
    // The replay went through the pipeline again (the same events in the same order make the same
    // batch id, so a directory or S3 sink may simply overwrite the object: deduplicated by key).
    await until(
      'the replay delivered',
      async () => {
        const text = await (await fetch(`${g.url}/metrics`)).text();
        return /^wal_records_pending 0$/m.test(text) || undefined;
      },
      30_000,
    );
    const m = stored(g);
    expect(acked.filter((id) => !m.has(id))).toEqual([]);
    // At-least-once, bounded: at most the first delivery and the replay.
    expect(Math.max(...m.values())).toBeLessThanOrEqual(2);
    await until('log released', async () => walFiles(g).length === 0 || undefined, 10_000);
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 90_000);

  it('killed after the acks but before any batch is sealed: nothing acknowledged is missing', async () => {
    const f = await start(dirConfig(60_000));
    const acked: string[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, c) => {
        for (let i = 0; i < 10; i++) {
          const ev = makeEvents(30, `${run}-seal-${c}-${i}`);
          const r = await post(f.url, ev.lines.join('\n'));
          expect(r.status).toBe(200);
          acked.push(...ev.ids);
        }
      }),
    );
    expect(stored(f).size).toBe(0);
    f.kill('SIGKILL');
    await f.exited;
    const g = await start(dirConfig(100), { stateDir: f.stateDir });
    const m = await allStored(g, acked);
    expect(acked.filter((id) => !m.has(id)).length).toBe(0);
    await until('log released', async () => walFiles(g).length === 0 || undefined, 10_000);
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 90_000);

  it('ack=delivered still waits for the sinks (and writes no log); ack=accepted answers 202', async () => {
    const f = await start(dirConfig(400));
    const ev = makeEvents(5, `${run}-modes`);
    const t0 = Date.now();
    const d = await post(f.url, ev.lines.join('\n'), { headers: { 'x-ferry-ack': 'delivered' } });
    expect(d.status).toBe(200);
    expect(d.json.ack).toBe('delivered');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    expect(ev.ids.every((id) => stored(f).has(id))).toBe(true);
    const a = await post(f.url, makeEvents(5, `${run}-modes-a`).lines.join('\n'), {
      ack: 'accepted',
    });
    expect(a.status).toBe(202);
    const text = await (await fetch(`${f.url}/metrics`)).text();
    expect(text).toMatch(/^wal_append_records_total 0$/m);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60_000);
});

describe('write-ahead log: kill -9 (Kafka source)', () => {
  beforeAll(async () => {
    await startService('clickhouse');
    await startService('minio');
    await startService('kafka');
    producer = kafka.producer();
    await producer.connect();
  }, 180_000);

  function setup(name: string, batchAgeMs: number) {
    const topic = `${run}-${name}`;
    const prefix = `${run}-${name}`;
    const group = `${run}-${name}-g`;
    const cfg = kafkaFerryConfig({ prefix, database, topic, group });
    const withAge = (ms: number) => ({
      ...cfg,
      batch: { ...(cfg.batch as object), max_age_ms: ms, max_events: 100000 },
    });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-wal-kinit-'));
    writeFileSync(join(dir, 'ferry.yaml'), stringify({ state_dir: dir, ...withAge(batchAgeMs) }));
    prepare({ stateDir: dir });
    return { topic, prefix, group, cfg: withAge(batchAgeMs), restartCfg: withAge(200) };
  }

  /**
   * SIGTERM once the restarted consumer has joined its group: the log's replay can deliver
   * everything before the old member's session expires, and a stop during the join leaves kafkajs
   * restarting the consumer (observed on this branch; the Kafka source's business, not the log's).
   */
  async function stopAfterJoin(g: FerryProc): Promise<void> {
    await waitForLog(g, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }

  async function allArrived(prefix: string, n: number): Promise<void> {
    const want = idsOf(prefix, 0, n);
    await until(
      'every message in ClickHouse and S3',
      async () => {
        const ids = await clickhouseIds(ch, `${database}.events`, `${prefix}-`);
        if (!want.every((id) => ids.has(id))) return undefined;
        const s3 = await s3EventCounts(prefix);
        return want.every((id) => s3.has(id)) || undefined;
      },
      90_000,
      1000,
    );
  }

  it('offsets are committed at durable (log fsynced) before any batch is sealed; killed then, nothing is missing after restart', async () => {
    const N = 2000;
    const { topic, prefix, group, cfg, restartCfg } = setup('kseal', 60_000);
    const f = await start(cfg);
    await waitForLog(f, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    await produceRange(producer!, topic, prefix, 0, N);
    // Committed although no batch can have been sealed (60 s age): the log made them durable.
    await until(
      'all committed',
      async () => (await committedTotal(group, topic)) === N || undefined,
      30_000,
    );
    expect((await s3EventCounts(prefix)).size).toBe(0);
    f.kill('SIGKILL');
    await f.exited;
    const g = await start(restartCfg, { stateDir: f.stateDir });
    await allArrived(prefix, N);
    await stopAfterJoin(g);
    expect(await g.exited).toBe(0);
  }, 240_000);

  it('killed between the fsync and the ack: after restart every message arrives (log replay + uncommitted offsets)', async () => {
    const N = 2000;
    const { topic, prefix, cfg, restartCfg } = setup('kfsync', 60_000);
    const f = await start(cfg, { env: { FERRY_TEST_WAL_FAULT: 'after-fsync:3' } });
    await waitForLog(f, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    await produceRange(producer!, topic, prefix, 0, N, 100);
    expect(await f.exited).toBe('SIGKILL');
    expect(walFiles(f).length).toBeGreaterThan(0);
    const g = await start(restartCfg, { stateDir: f.stateDir });
    await allArrived(prefix, N);
    await stopAfterJoin(g);
    expect(await g.exited).toBe(0);
  }, 240_000);

  it('killed between delivery and release: after restart nothing is missing', async () => {
    const N = 1000;
    const { topic, prefix, cfg, restartCfg } = setup('krel', 200);
    const f = await start(cfg, { env: { FERRY_TEST_WAL_FAULT: 'before-release:1' } });
    await waitForLog(f, (l) => l.msg === 'kafka: joined the consumer group', { timeoutMs: 60_000 });
    await produceRange(producer!, topic, prefix, 0, N);
    expect(await f.exited).toBe('SIGKILL');
    const g = await start(restartCfg, { stateDir: f.stateDir });
    await allArrived(prefix, N);
    await stopAfterJoin(g);
    expect(await g.exited).toBe(0);
  }, 240_000);
});
