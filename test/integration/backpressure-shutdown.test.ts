import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createClient } from '@clickhouse/client';
import { rig } from '../setup/rig.js';
import { startFerryProcess, post, makeEvents } from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';

const run = `b${Date.now().toString(36)}`;
const database = `ferry_bs_${run}`;
const ch = createClient({ url: rig.clickhouse.url });

afterAll(async () => {
  await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
  await ch.close();
});

describe('backpressure', () => {
  it('full rings → 503 with Retry-After, counted; memory stays bounded by the ring', async () => {
    // A sink that never answers (nothing listens on port 9): batches stay in flight, the
    // worker stops draining its ring, and the ring fills.
    const f = await startFerryProcess({
      workers: { threads: 1, max_inflight_batches: 1, ring_bytes: 65536 },
      http: { max_body_bytes: 16384, max_decompressed_bytes: 16384, retry_after_s: 7 },
      batch: { max_events: 10, max_age_ms: 20 },
      retry: { initial_ms: 1000, max_ms: 5000, max_elapsed_ms: 600000, attempt_timeout_ms: 2000 },
      sinks: [
        {
          name: 'blackhole',
          type: 's3',
          bucket: 'nope',
          endpoint: 'http://127.0.0.1:9',
          force_path_style: true,
          access_key_id: 'x',
          secret_access_key: 'y',
        },
      ],
    });
    try {
      const body = makeEvents(20, `${run}-bp`).lines.join('\n'); // ~7 KiB
      // Fire without waiting: requests already in the ring wait for the sink (their batches
      // cannot leave), the rest must be refused at once.
      const results: Awaited<ReturnType<typeof post>>[] = [];
      for (let i = 0; i < 40; i++)
        void post(f.url, body, { ack: 'accepted' }).then(
          (r) => results.push(r),
          () => {},
        );
      const deadline = Date.now() + 20000;
      while (results.length < 30 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 100));
      const rejections = results.filter((r) => r.status === 503);
      // a 64 KiB ring holds at most ~9 requests of 7 KiB: most of the 40 are refused
      expect(rejections.length, JSON.stringify(results.map((r) => r.status))).toBeGreaterThan(25);
      expect(rejections[0].headers.get('retry-after')).toBe('7');
      expect(rejections[0].json).toMatchObject({ error: 'queue_full' });
      const metrics = await (await fetch(`${f.url}/metrics`)).text();
      expect(metrics).toMatch(/^http_requests_rejected_queue_full_total [1-9]\d*$/m);
      expect((await fetch(`${f.url}/readyz`)).status).toBe(503);
      // Blocked on the sink with a full ring, ferry must sleep, not spin.
      const ticks = () => {
        const st = readFileSync(`/proc/${f.proc.pid}/stat`, 'utf8');
        const rest = st.slice(st.lastIndexOf(')') + 2).split(' ');
        return Number(rest[11]) + Number(rest[12]);
      };
      const t0 = ticks();
      await new Promise((r) => setTimeout(r, 2000));
      expect(ticks() - t0, 'CPU ticks (1/100 s) used in 2 s while blocked').toBeLessThan(40);
    } finally {
      f.kill('SIGKILL');
      await f.exited;
    }
  });
});

describe('graceful shutdown', () => {
  it('SIGTERM under load: exits 0 and every acknowledged event is in every sink', async () => {
    const f = await startFerryProcess({
      batch: { max_events: 1000, max_age_ms: 300, codec: 'gzip' },
      sinks: [
        { name: 'local', type: 'directory', path: '${STATE_DIR}/out' },
        {
          name: 'warehouse',
          type: 'clickhouse',
          url: rig.clickhouse.url,
          database,
          table: 'events',
        },
      ],
    });
    const { execFileSync } = await import('node:child_process');
    execFileSync(process.execPath, [
      'dist/src/cli.js',
      'migrate',
      '--config',
      join(f.stateDir, 'ferry.yaml'),
    ]);

    const acked = new Set<string>();
    const statuses = new Map<number | string, number>();
    let stop = false;
    const loop = async (w: number) => {
      for (let i = 0; !stop && i < 10000; i++) {
        const ev = makeEvents(100, `${run}-sd-${w}-${i}`);
        try {
          const r = await post(f.url, ev.lines.join('\n'));
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) for (const id of ev.ids) acked.add(id);
        } catch {
          statuses.set('conn', (statuses.get('conn') ?? 0) + 1);
          return; // listener closed
        }
      }
    };
    const loops = Array.from({ length: 6 }, (_, w) => loop(w));
    await new Promise((r) => setTimeout(r, 1500));
    f.kill('SIGTERM');
    const code = await f.exited;
    stop = true;
    await Promise.all(loops);
    expect(code).toBe(0);
    expect(acked.size).toBeGreaterThan(1000);

    const inDir = new Set(envelopesIn(join(f.stateDir, 'out')).map((e) => e.event_id));
    const missingDir = [...acked].filter((id) => !inDir.has(id));
    expect(
      missingDir.length,
      `acked but missing in directory sink: ${missingDir.slice(0, 5)}`,
    ).toBe(0);

    const rows = await (
      await ch.query({
        query: `SELECT event_id FROM ${database}.events FINAL`,
        format: 'JSONEachRow',
      })
    ).json<{ event_id: string }>();
    const inCh = new Set(rows.map((r) => r.event_id));
    const missingCh = [...acked].filter((id) => !inCh.has(id));
    expect(missingCh.length, `acked but missing in ClickHouse: ${missingCh.slice(0, 5)}`).toBe(0);
    const log = f.logs().map((l) => l.msg);
    expect(log).toContain('shutdown complete');
  }, 120000);
});
