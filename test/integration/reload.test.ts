import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { S3Client, ListObjectsV2Command, GetObjectCommand } from '@aws-sdk/client-s3';
import { rig } from '../setup/rig.js';
import { s3SinkConfig } from '../helpers/stores.js';
import { startFerryProcess, post, makeEvents, type FerryProc } from '../helpers/ferry-proc.js';
import { decodeObject, linesOf, readDirectorySink, type Envelope } from '../helpers/archive.js';
import { rewriteConfig, reloadAndWait, metric, waitForLog } from '../helpers/reload.js';

const run = `rl${Date.now().toString(36)}`;
const s3 = new S3Client({
  endpoint: rig.s3.endpoint,
  region: rig.s3.region,
  forcePathStyle: true,
  credentials: { accessKeyId: rig.s3.accessKeyId, secretAccessKey: rig.s3.secretAccessKey },
});
const procs: FerryProc[] = [];
afterAll(async () => {
  for (const f of procs) f.kill('SIGKILL');
});

async function s3Objects(prefix: string): Promise<Map<string, Buffer>> {
  const out = new Map<string, Buffer>();
  let token: string | undefined;
  do {
    const page = await s3.send(
      new ListObjectsV2Command({
        Bucket: rig.s3.bucket,
        Prefix: `${prefix}/`,
        ContinuationToken: token,
      }),
    );
    for (const o of page.Contents ?? []) {
      const got = await s3.send(new GetObjectCommand({ Bucket: rig.s3.bucket, Key: o.Key! }));
      out.set(o.Key!, Buffer.from(await got.Body!.transformToByteArray()));
    }
    token = page.NextContinuationToken;
  } while (token);
  return out;
}

/** key → event_ids of each archived object. */
function objectEvents(objects: Map<string, Buffer>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, body] of objects)
    out.set(
      key,
      linesOf(decodeObject(key, body)).map((l) => (JSON.parse(l) as Envelope).event_id),
    );
  return out;
}

async function scrape(f: FerryProc): Promise<string> {
  return (await fetch(`${f.url}/metrics`)).text();
}

function s3Sink(prefix: string, secret: string = rig.s3.secretAccessKey) {
  return { ...s3SinkConfig(`${prefix}/{batch_id}{ext}`), secret_access_key: secret };
}

describe('SIGHUP reload', () => {
  it('under load: the next objects on S3 and the directory sink have the new batch size and codec; no failed request, no lost event', async () => {
    const prefix = `reload-${run}`;
    const base = (maxEvents: number, codec: string) => ({
      // ack=delivered (the `durable` of before the write-ahead log): an event answered before the
      // SIGHUP must be in a batch sealed before it, which is what the phases below rely on.
      http: { ack: 'delivered' },
      // One worker and four producers of 50 events: 200 in flight fill exactly one old-size batch.
      workers: { threads: 1 },
      batch: { max_events: maxEvents, max_age_ms: 500, codec },
      sinks: [
        s3Sink(prefix),
        {
          name: 'local',
          type: 'directory',
          path: '${STATE_DIR}/out',
          key_template: `${prefix}/{batch_id}{ext}`,
        },
      ],
    });
    const f = await startFerryProcess(base(200, 'gzip'));
    procs.push(f);
    const statuses: number[] = [];
    // Each event's phase: 'a' = its request was answered before SIGHUP, 'b' = sent after the
    // reload was logged, 'x' = in flight across the reload (may land in either kind of batch).
    const phaseOf = new Map<string, 'a' | 'b' | 'x'>();
    let hupAt = Infinity;
    let reloadedAt = Infinity;
    let stop = false;
    let seq = 0;
    // Four producers sending 50 events per durable request, without pause, across the reload.
    const producer = async (p: number) => {
      while (!stop) {
        const started = Date.now();
        const ev = makeEvents(50, `${run}-p${p}-${seq++}`);
        const r = await post(f.url, ev.lines.join('\n'));
        statuses.push(r.status);
        const ph = Date.now() < hupAt ? 'a' : started > reloadedAt ? 'b' : 'x';
        for (const id of ev.ids) phaseOf.set(id, ph);
      }
    };
    const producers = [0, 1, 2, 3].map(producer);
    await new Promise((r) => setTimeout(r, 2500));
    rewriteConfig(f, base(70, 'lz4'));
    hupAt = Date.now();
    const outcome = await reloadAndWait(f);
    reloadedAt = Date.now();
    expect(outcome.msg).toBe('config reloaded');
    expect(outcome.applied).toEqual(expect.arrayContaining(['batch.max_events', 'batch.codec']));
    expect(outcome.restart_required).toEqual([]);
    await new Promise((r) => setTimeout(r, 2500));
    stop = true;
    await Promise.all(producers);

    expect(statuses.length).toBeGreaterThan(20);
    expect(statuses.filter((s) => s !== 200)).toEqual([]);
    const count = (p: string) => [...phaseOf.values()].filter((x) => x === p).length;
    expect(count('a')).toBeGreaterThan(0);
    expect(count('b')).toBeGreaterThan(0);

    for (const [where, objects] of [
      ['s3', await s3Objects(prefix)],
      ['directory', readDirectorySink(join(f.stateDir, 'out'))],
    ] as const) {
      const byObject = objectEvents(objects as Map<string, Buffer>);
      const seen = new Map<string, number>();
      for (const ids of byObject.values())
        for (const id of ids) seen.set(id, (seen.get(id) ?? 0) + 1);
      // every acknowledged event exactly once
      expect(seen.size, where).toBe(phaseOf.size);
      for (const id of phaseOf.keys()) expect(seen.get(id), `${where} ${id}`).toBe(1);

      const only = (p: string) =>
        [...byObject].filter(([, ids]) => ids.every((id) => phaseOf.get(id) === p));
      const before = only('a');
      const after = only('b');
      // before: full batches of the old size (gzip); after: the new size (lz4)
      expect(
        before.some(([, ids]) => ids.length === 200),
        where,
      ).toBe(true);
      for (const [key, ids] of before) {
        expect(key, where).toMatch(/\.ndjson\.gz$/);
        expect(ids.length, where).toBeLessThanOrEqual(200);
      }
      expect(after.length, where).toBeGreaterThanOrEqual(3);
      for (const [key, ids] of after) {
        expect(ids.length, `${where} ${key}`).toBeLessThanOrEqual(70);
        expect(key, where).toMatch(/\.ndjson\.lz4$/);
      }
      expect(
        after.some(([, ids]) => ids.length === 70),
        where,
      ).toBe(true);
      for (const [key, ids] of byObject)
        expect(ids.length, `${where} ${key}`).toBeLessThanOrEqual(200);
    }
    const m = await scrape(f);
    expect(metric(m, 'config_reloads_total', '{result="ok"}')).toBe(1);
    expect(metric(m, 'config_reload_failures_total')).toBe(0);
    expect(metric(m, 'config_reload_restart_required')).toBe(0);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 120000);

  it('an invalid file changes nothing: logged with key path and line, counted, old limits still in force', async () => {
    const cfg = {
      batch: { max_events: 10, max_age_ms: 60000, codec: 'gzip' },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    };
    const f = await startFerryProcess(cfg);
    procs.push(f);
    const before = metric(await scrape(f), 'config_last_reload_success_timestamp_seconds')!;
    expect(before).toBeGreaterThan(1.7e9);

    rewriteConfig(
      f,
      `state_dir: ${f.stateDir}\nlisten:\n  host: 127.0.0.1\n  port: 0\nbatch:\n  max_events: 3\n  codec: brotli\n  max_evnets: 4\n`,
    );
    const outcome = await reloadAndWait(f);
    expect(outcome.msg).toBe('config reload failed; the running config is kept');
    const issues = outcome.issues as { path: string; line?: number; message: string }[];
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'batch.codec', line: 7 }),
        expect.objectContaining({ path: 'batch.max_evnets', line: 8 }),
      ]),
    );
    expect(String(outcome.err)).toContain('ferry.yaml:7');

    // YAML that does not parse at all is refused the same way
    rewriteConfig(f, 'batch: [unclosed\n');
    expect((await reloadAndWait(f)).msg).toBe('config reload failed; the running config is kept');

    // still batching by 10 (not 3): 25 events with a 60 s max age → two sealed batches of 10, 5 still open
    const ev = makeEvents(25, `${run}-inv`);
    const r = await post(f.url, ev.lines.join('\n'), { ack: 'accepted' });
    expect(r.status).toBe(202);
    await waitForObjects(join(f.stateDir, 'out'), 2);
    const objects = objectEvents(readDirectorySink(join(f.stateDir, 'out')));
    expect([...objects.values()].map((ids) => ids.length)).toEqual([10, 10]);
    expect([...objects.keys()].every((k) => k.endsWith('.ndjson.gz'))).toBe(true);

    const m = await scrape(f);
    expect(metric(m, 'config_reload_failures_total')).toBe(2);
    expect(metric(m, 'config_reloads_total', '{result="failed"}')).toBe(2);
    expect(metric(m, 'config_last_reload_success_timestamp_seconds')).toBe(before);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
    // the open batch of 5 was delivered at shutdown: nothing accepted was lost
    expect(
      [...objectEvents(readDirectorySink(join(f.stateDir, 'out'))).values()].flat().sort(),
    ).toEqual([...ev.ids].sort());
  }, 60000);

  it('listener, thread-count and sink-set changes are reported as needing a restart; the rest applies', async () => {
    const cfg = {
      workers: { threads: 1 },
      batch: { max_events: 100 },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    };
    const f = await startFerryProcess(cfg);
    procs.push(f);
    rewriteConfig(f, {
      listen: { host: '127.0.0.1', port: f.port + 1, path: '/v2/events' },
      workers: { threads: 2 },
      batch: { max_events: 50 },
      http: { max_body_bytes: 2 * 1024 * 1024 },
      sinks: [
        { name: 'local', type: 'directory', path: '${STATE_DIR}/out' },
        { name: 'extra', type: 'directory', path: '${STATE_DIR}/extra' },
      ],
    });
    const outcome = await reloadAndWait(f);
    expect(outcome.msg).toBe('config reloaded');
    expect(outcome.restart_required).toEqual(
      expect.arrayContaining([
        'listen.port',
        'listen.path',
        'workers.threads',
        'sinks.extra (added)',
      ]),
    );
    expect(outcome.applied).toEqual(
      expect.arrayContaining(['batch.max_events', 'http.max_body_bytes']),
    );
    const warn = await waitForLog(
      f,
      (l) =>
        l.msg ===
        'config changes need a restart to take effect; running with the old values for these keys',
    );
    expect(warn.line.level).toBe(40);
    expect(metric(await scrape(f), 'config_reload_restart_required')).toBe(1);
    // still on the old port and path; the new body limit is live
    const ok = await post(f.url, makeEvents(3, `${run}-rs`).lines.join('\n'));
    expect(ok.status).toBe(200);
    const big = await post(f.url, 'x'.repeat(3 * 1024 * 1024));
    expect(big.status).toBe(413);
    expect(String(big.json.message)).toContain('2097152');

    // reverting the restart-only keys clears the gauge
    rewriteConfig(f, { ...cfg, batch: { max_events: 50 } });
    const back = await reloadAndWait(f);
    expect(back.restart_required).toEqual([]);
    expect(metric(await scrape(f), 'config_reload_restart_required')).toBe(0);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);

  it('sink credentials apply live: with a wrong S3 secret batches wait in the DLQ (still 200), the right one ships them', async () => {
    const prefix = `creds-${run}`;
    // ack=delivered: the subject is a 200 answered from the DLQ while the sink refuses.
    const cfg = (secret: string) => ({
      http: { ack: 'delivered' },
      batch: { max_age_ms: 50 },
      retry: { initial_ms: 50, max_ms: 200, max_elapsed_ms: 2000 },
      dlq: { probe_interval_ms: 200 },
      sinks: [s3Sink(prefix, secret)],
    });
    const f = await startFerryProcess(cfg(rig.s3.secretAccessKey));
    procs.push(f);
    expect((await post(f.url, makeEvents(5, `${run}-c1`).lines.join('\n'))).status).toBe(200);
    rewriteConfig(f, cfg('not-the-secret'));
    expect((await reloadAndWait(f)).applied).toEqual(['sinks.archive.secret_access_key']);
    // A refusal that is about the sink (403), not the batch: kept in the DLQ, not poisoned.
    const c2 = makeEvents(5, `${run}-c2`);
    expect((await post(f.url, c2.lines.join('\n'))).status).toBe(200);
    expect(metric(await scrape(f), 'dlq_events_current', '{sink="archive"}')).toBe(5);
    expect(metric(await scrape(f), 'dlq_poison_batches_total', '{sink="archive"}') ?? 0).toBe(0);
    rewriteConfig(f, cfg(rig.s3.secretAccessKey));
    await reloadAndWait(f);
    const c3 = makeEvents(5, `${run}-c3`);
    expect((await post(f.url, c3.lines.join('\n'))).status).toBe(200);
    const deadline = Date.now() + 30000;
    let stored: string[] = [];
    while (Date.now() < deadline) {
      stored = [...objectEvents(await s3Objects(prefix)).values()].flat();
      if ([...c2.ids, ...c3.ids].every((id) => stored.includes(id))) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(stored).toEqual(expect.arrayContaining([...c2.ids, ...c3.ids]));
    await waitForLog(
      f,
      (l) => typeof l.msg === 'string' && l.msg.startsWith('DLQ → archive success:'),
    );
    // the secret never reaches the logs
    expect(JSON.stringify(f.logs())).not.toContain('not-the-secret');
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);
});

async function waitForObjects(dir: string, n: number): Promise<void> {
  const deadline = Date.now() + 15000;
  while (readDirectorySink(dir).size < n) {
    if (Date.now() > deadline) throw new Error(`fewer than ${n} objects in ${dir}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
