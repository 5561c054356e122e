import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { rig, startService, stopService, type Service } from '../setup/rig.js';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { metric } from '../helpers/reload.js';
import {
  clickhouse,
  clickhouseIds,
  clickhouseRows,
  s3EventCounts,
  until,
  s3SinkConfig,
} from '../helpers/stores.js';

/**
 * Chaos: rounds of durable load while a sink's server is stopped (or crashed) and ferry is
 * SIGKILLed at random moments, always restarted on the same state dir. At the end every
 * event that was ever answered 200 must be in S3 and in ClickHouse (FINAL). The seed is
 * printed; DLQ_CHAOS_SEED reproduces a run, DLQ_CHAOS_ROUNDS changes its length.
 */
const rounds = Number(process.env.DLQ_CHAOS_ROUNDS ?? 20);
const seed = Number(process.env.DLQ_CHAOS_SEED ?? Date.now() % 1_000_000);
const run = `cz${Date.now().toString(36)}`;
const database = `ferry_chaos_${run}`;
const ch = clickhouse();
const procs: FerryProc[] = [];

// mulberry32: a tiny seeded PRNG, so a failing schedule can be replayed.
function prng(a: number): () => number {
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(seed);
const between = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const config = {
  batch: { max_age_ms: 50, max_events: 200 },
  retry: { initial_ms: 50, max_ms: 300, max_elapsed_ms: 1000, attempt_timeout_ms: 2000 },
  dlq: { probe_interval_ms: 200, reupload_events_per_s: 200000 },
  sinks: [
    s3SinkConfig(`${run}/{batch_id}{ext}`),
    { name: 'warehouse', type: 'clickhouse', url: rig.clickhouse.url, database, table: 'events' },
  ],
};

async function start(stateDir?: string): Promise<FerryProc> {
  const f = await startFerryProcess(config, { stateDir });
  procs.push(f);
  return f;
}

/** Durable load until `stop()`; collects the ids of every request answered 200. */
function loadUntilStopped(
  f: FerryProc,
  tag: string,
  acked: string[],
): { stop: () => Promise<number[]> } {
  let stopped = false;
  const statuses: number[] = [];
  let i = 0;
  const workers = Array.from({ length: 3 }, async () => {
    while (!stopped) {
      const ev = makeEvents(between(1, 40), `${run}-${tag}-${i++}`);
      const r = await post(f.url, ev.lines.join('\n')).catch(() => ({ status: 0 }));
      statuses.push(r.status);
      if (r.status === 200) acked.push(...ev.ids);
      if (r.status !== 200) await sleep(20);
    }
  });
  return {
    stop: async () => {
      stopped = true;
      await Promise.all(workers);
      return statuses;
    },
  };
}

beforeAll(async () => {
  await startService('clickhouse');
  await startService('minio');
  const f = await start();
  execFileSync(
    process.execPath,
    ['dist/src/cli.js', 'migrate', '--config', join(f.stateDir, 'ferry.yaml')],
    { encoding: 'utf8' },
  );
  f.kill('SIGTERM');
  await f.exited;
});
afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
  await startService('clickhouse');
  await startService('minio');
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('DLQ chaos', () => {
  it(`${rounds} rounds of sink outages and SIGKILLs: every acknowledged event ends up in S3 and ClickHouse`, async () => {
    console.log(
      `[chaos] seed=${seed} rounds=${rounds} (DLQ_CHAOS_SEED=${seed} reproduces the schedule)`,
    );
    const acked: string[] = [];
    const down = new Set<Service>();
    let stateDir: string | undefined;
    let answered = 0;
    for (let round = 0; round < rounds; round++) {
      const f = await start(stateDir);
      stateDir = f.stateDir;
      const loading = loadUntilStopped(f, `r${round}`, acked);
      await sleep(between(100, 800));
      const victim: Service = rnd() < 0.5 ? 'minio' : 'clickhouse';
      const crash = rnd() < 0.5;
      const outage = down.has(victim)
        ? Promise.resolve()
        : stopService(victim, { crash }).then(() => void down.add(victim));
      await sleep(between(100, 1500));
      f.kill('SIGKILL');
      const statuses = await loading.stop();
      await f.exited;
      await outage;
      answered += statuses.filter((s) => s === 200).length;
      // Only 200 or a clear refusal (503) while alive; 0 = the connection died with the process.
      expect(
        statuses.filter((s) => ![200, 503, 0].includes(s)),
        `round ${round}`,
      ).toEqual([]);
      // Sometimes the servers come back before the restart, sometimes ferry restarts into the outage.
      if (rnd() < 0.5) {
        for (const s of [...down]) await startService(s);
        down.clear();
      }
      console.log(
        `[chaos] round ${round}: ${victim} ${crash ? 'crashed' : 'stopped'}, ${statuses.length} requests, acked so far ${acked.length}, down now [${[...down].join(',')}]`,
      );
    }
    expect(answered).toBeGreaterThan(rounds);
    for (const s of [...down]) await startService(s);
    const g = await start(stateDir);
    const gauge = async (sink: string) =>
      metric(
        await (await fetch(`${g.url}/metrics`)).text(),
        'dlq_events_current',
        `{sink="${sink}"}`,
      ) ?? 0;
    await until(
      'both DLQs drained',
      async () => (await gauge('archive')) === 0 && (await gauge('warehouse')) === 0,
      180_000,
      500,
    );
    const s3ids = await s3EventCounts(run);
    const chIds = await clickhouseIds(ch, `${database}.events`, `${run}-`);
    const missingS3 = acked.filter((id) => !s3ids.has(id));
    const missingCh = acked.filter((id) => !chIds.has(id));
    expect(
      missingS3.length,
      `seed ${seed}: missing in S3 ${missingS3.slice(0, 5).join(', ')}`,
    ).toBe(0);
    expect(
      missingCh.length,
      `seed ${seed}: missing in ClickHouse ${missingCh.slice(0, 5).join(', ')}`,
    ).toBe(0);
    // Duplicates are allowed (a batch re-sent after a kill): counted, reported.
    const s3Dups = [...s3ids.values()].reduce((a, c) => a + c - 1, 0);
    const chDups = (await clickhouseRows(ch, `${database}.events`, `${run}-`)) - chIds.size;
    console.log(
      `[chaos] acked ${acked.length}; stored S3 ${s3ids.size} distinct + ${s3Dups} duplicates; ClickHouse ${chIds.size} distinct + ${chDups} duplicate rows before merges`,
    );
    // Nothing invented: every stored id is one the test sent.
    expect([...chIds].every((id) => id.startsWith(`${run}-r`))).toBe(true);
    const dropped = [
      ...(await (await fetch(`${g.url}/metrics`)).text()).matchAll(
        /^dlq_events_dropped_total\{[^}]*\} (\S+)$/gm,
      ),
    ].reduce((a, m) => a + Number(m[1]), 0);
    expect(dropped).toBe(0);
    g.kill('SIGTERM');
    expect(await g.exited).toBe(0);
  }, 900_000);
});
