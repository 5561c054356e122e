import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createClient } from '@clickhouse/client';
import { CH_TARGETS, startService, stopService } from '../setup/rig.js';
import { startFerryProcess, type FerryProc } from '../helpers/ferry-proc.js';
import { until, s3SinkConfig, s3Archived } from '../helpers/stores.js';
import { freePort } from '../helpers/net.js';
import { newToken } from '../helpers/cli.js';

/**
 * A real shipper nobody here wrote: Debian's rsyslog (8.2302 in Debian 12) with omelasticsearch
 * in bulk mode, installed by scripts/setup-test-deps.sh, run as its own rsyslogd (own config,
 * work directory and pid file; input imtcp on 127.0.0.1, no /dev/log). Lines sent to its imtcp
 * → `_bulk` requests to ferry → exactly the same events in S3 and in ClickHouse FINAL, on both
 * ClickHouse targets. What the test pins about omelasticsearch 8.2302 (plugins/omelasticsearch/
 * omelasticsearch.c at v8.2302.0):
 * - before sending, and to resume a suspended action, it GETs `/_cat/health` (checkConn; 8.2302
 *   takes any answer, 8.2606+ wants a 2xx, which ferry gives: src/sources/bulk/handshake.ts);
 * - a transport failure (connection refused, reset, no answer) suspends the action, and the action
 *   queue with `action.resumeRetryCount="-1"` resends the batch: an outage loses nothing;
 * - it does NOT look at the HTTP status of a `_bulk` answer: a whole-request 429/503 (a body
 *   without `items`) is a "data failure", written to `errorfile` and not retried (rsyslog fixed
 *   this in 8.2606.0, commit 2f29b1ccb: 429 and 5xx suspend the action). The test shows the
 *   batch lands in the errorfile, so stored ∪ errorfile is every line and nothing is doubled
 *   (ferry's write-ahead log full is a 429 es_rejected_execution_exception here).
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const run = `rs${Date.now().toString(36)}`;

/** rsyslogd and omelasticsearch, as Debian installs them; missing is a failure, never a skip. */
function rsyslogd(): string {
  const bin = ['/usr/sbin/rsyslogd', '/sbin/rsyslogd'].find((p) => existsSync(p));
  if (!bin) throw new Error('rsyslogd is not installed: run scripts/setup-test-deps.sh');
  const lib = '/usr/lib';
  const found = readdirSync(lib).some((d) =>
    existsSync(join(lib, d, 'rsyslog', 'omelasticsearch.so')),
  );
  if (!found)
    throw new Error(
      'omelasticsearch is not installed (Debian: rsyslog-elasticsearch): run scripts/setup-test-deps.sh',
    );
  return bin;
}

interface Rsyslog {
  proc: ChildProcess;
  dir: string;
  errorFile: string;
  /** Send RFC 5424 lines to its imtcp: app-name = prefix, msgid = m<seq>. */
  send(prefix: string, from: number, count: number, pad?: number): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

/** The document omelasticsearch sends for each line (a JSON template, as its docs show). */
const DOC_TEMPLATE = String.raw`{\"message\":\"%msg:::json%\",\"host\":\"%hostname:::json%\",\"app\":\"%app-name:::json%\",\"msgid\":\"%msgid:::json%\",\"severity\":\"%syslogseverity-text%\",\"timestamp\":\"%timereported:::date-rfc3339%\"}`;

function message(prefix: string, seq: number, pad = 0): string {
  return `${prefix} line ${seq} é ✓ "quoted"${pad ? ` ${'x'.repeat(pad)}` : ''}`;
}

/**
 * Start rsyslogd in the foreground with its own config: imtcp on a free loopback port, one
 * omelasticsearch action per `actions` entry (bulk mode, Basic auth with the ferry token as the
 * password, a LinkedList action queue retried forever).
 */
async function startRsyslog(
  ferryPort: number,
  token: string,
  actions: { index: string; withId: boolean; app?: string }[],
): Promise<Rsyslog> {
  const bin = rsyslogd();
  const dir = mkdtempSync(join(tmpdir(), 'ferry-rsyslog-'));
  const port = await freePort();
  const errorFile = join(dir, 'es-errors.json');
  const action = (a: { index: string; withId: boolean; app?: string }) => `
  ${a.app ? `if $app-name == "${a.app}" then ` : ''}action(type="omelasticsearch" name="es-${a.index}" server="127.0.0.1" serverport="${ferryPort}"
    uid="rsyslog" pwd="${token}" template="doc" searchIndex="${a.index}" esVersion.major="8"
    bulkmode="on" maxbytes="1m" ${a.withId ? 'dynbulkid="on" bulkid="docid"' : ''}
    errorfile="${errorFile}"
    queue.type="LinkedList" queue.size="100000" queue.dequeueBatchSize="200"
    action.resumeRetryCount="-1" action.resumeInterval="1")`;
  const conf = `
global(workDirectory="${dir}" maxMessageSize="64k")
module(load="imtcp" maxSessions="10")
module(load="omelasticsearch")
template(name="doc" type="string" string="${DOC_TEMPLATE}")
template(name="docid" type="string" string="%app-name%-%msgid%")
ruleset(name="ship") {${actions.map(action).join('')}
}
input(type="imtcp" address="127.0.0.1" port="${port}" ruleset="ship")
`;
  const confFile = join(dir, 'rsyslog.conf');
  writeFileSync(confFile, conf);
  execFileSync(bin, ['-N1', '-f', confFile], { stdio: 'pipe' });
  const proc = spawn(bin, ['-n', '-f', confFile, '-i', join(dir, 'rsyslogd.pid')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise((r) => proc.on('exit', r));
  await until(
    'rsyslogd listening on its imtcp port',
    () =>
      new Promise<boolean>((res) => {
        if (proc.exitCode !== null) throw new Error(`rsyslogd exited: ${out}`);
        const s = connect(port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          res(true);
        });
        s.on('error', () => res(false));
      }),
    20_000,
    100,
  );
  return {
    proc,
    dir,
    errorFile,
    log: () => out,
    send: (prefix, from, count, pad = 0) =>
      new Promise<void>((res, rej) => {
        const s = connect(port, '127.0.0.1', () => {
          const lines: string[] = [];
          for (let i = from; i < from + count; i++)
            lines.push(
              `<14>1 2026-12-02T07:00:00.${String(i % 1000).padStart(3, '0')}Z web-${i % 3} ${prefix} - m${i} - ${message(prefix, i, pad)}\n`,
            );
          s.end(lines.join(''));
        });
        s.on('error', rej);
        s.on('close', () => res());
      }),
    stop: async () => {
      if (proc.exitCode === null) proc.kill('SIGTERM');
      await exited;
    },
  };
}

interface Doc {
  message: string;
  host: string;
  app: string;
  msgid: string;
  severity: string;
  timestamp: string;
}
interface Archived {
  event_id: string;
  _index?: string;
  source: string;
  payload: Doc;
}

async function archived(keyPrefix: string, app: string): Promise<Archived[]> {
  return (await s3Archived<Archived>(keyPrefix)).filter((e) => e.payload.app === app);
}

/** One line of omelasticsearch's errorfile (default format: the request and the reply). */
interface ErrorRecord {
  request: { url: string; postdata: string };
  reply: { status?: number; error?: { type: string }; items?: unknown[] };
}

function errorRecords(file: string): ErrorRecord[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim().length > 0)
    .map((l) => JSON.parse(l) as ErrorRecord);
}

/** The documents of the `_bulk` bodies an errorfile holds. */
function docsIn(records: ErrorRecord[]): Doc[] {
  const out: Doc[] = [];
  for (const r of records) {
    const lines = r.request.postdata.split('\n').filter((l) => l.length > 0);
    for (let i = 1; i < lines.length; i += 2) out.push(JSON.parse(lines[i]) as Doc);
  }
  return out;
}

describe.each(CH_TARGETS)('rsyslog omelasticsearch (bulk mode) → _bulk on $name', (target) => {
  const database = `ferry_rsyslog_${run}_${target.service}`;
  const ch = createClient({ url: target.url });
  const token = newToken('rsyslog', 'rsyslog');
  let ferryPort: number;
  let f: FerryProc | undefined;
  let stateDir: string | undefined;
  let rs: Rsyslog | undefined;

  const config = (keyPrefix: string, extra: Record<string, unknown> = {}) => ({
    listen: { host: '127.0.0.1', port: ferryPort },
    sinks: [
      s3SinkConfig(`${keyPrefix}/{batch_id}{ext}`),
      { name: 'warehouse', type: 'clickhouse', url: target.url, database, table: 'events' },
    ],
    batch: { max_age_ms: 100, max_events: 500 },
    retry: { initial_ms: 100, max_ms: 1000, max_elapsed_ms: 600000, attempt_timeout_ms: 5000 },
    auth: {
      enabled: true,
      tokens: [
        { name: 'rsyslog', sha256: token.sha256, source: 'rsyslog', routes: ['ingest', 'metrics'] },
      ],
    },
    ...extra,
  });

  async function startFerry(keyPrefix: string, extra: Record<string, unknown> = {}) {
    f = await startFerryProcess(config(keyPrefix, extra), stateDir ? { stateDir } : {});
    stateDir = f.stateDir;
    execFileSync(
      process.execPath,
      ['dist/src/cli.js', 'migrate', '--config', join(f.stateDir, 'ferry.yaml')],
      { cwd: ROOT },
    );
  }

  async function stopAll() {
    await rs?.stop();
    rs = undefined;
    if (f && f.proc.exitCode === null && f.proc.signalCode === null) {
      f.kill('SIGTERM');
      await f.exited;
    }
    f = undefined;
    stateDir = undefined;
  }

  /** Distinct events in ClickHouse FINAL whose document's app is `app`: event_id → payload. */
  async function inClickhouse(app: string): Promise<Map<string, Doc>> {
    const rs = await ch.query({
      query: `SELECT event_id, source, payload FROM ${database}.events FINAL WHERE visitParamExtractString(payload, 'app') = '${app}'`,
      format: 'JSONEachRow',
    });
    const rows = await rs.json<{ event_id: string; source: string; payload: string }>();
    const out = new Map<string, Doc>();
    for (const r of rows) {
      expect(r.source).toBe('rsyslog');
      out.set(r.event_id, JSON.parse(r.payload) as Doc);
    }
    return out;
  }

  /**
   * Exactly the lines `seqs` of `app` as distinct events in S3 and ClickHouse FINAL, every
   * field as rsyslog rendered it; `_id` = `<app>-m<seq>` when the action sent bulkid.
   */
  async function expectStored(
    keyPrefix: string,
    app: string,
    index: string,
    seqs: Set<number>,
    withId: boolean,
    pad = 0,
  ) {
    const n = seqs.size;
    const bySeq = await until(
      `${n} distinct ${app} events in S3`,
      async () => {
        const m = new Map<number, Archived>();
        for (const e of await archived(keyPrefix, app)) m.set(Number(e.payload.msgid.slice(1)), e);
        if (m.size < n) throw new Error(`${m.size} of ${n} so far`);
        return m;
      },
      90_000,
      500,
    );
    expect([...bySeq.keys()].sort((a, b) => a - b)).toEqual([...seqs].sort((a, b) => a - b));
    const ids = new Set<string>();
    for (const [seq, e] of bySeq) {
      expect(e._index).toBe(index);
      expect(e.source).toBe('rsyslog');
      expect(e.payload).toEqual({
        message: message(app, seq, pad),
        host: `web-${seq % 3}`,
        app,
        msgid: `m${seq}`,
        severity: 'info',
        timestamp: `2026-12-02T07:00:00.${String(seq % 1000).padStart(3, '0')}Z`,
      });
      if (withId) expect(e.event_id).toBe(`${app}-m${seq}`);
      ids.add(e.event_id);
    }
    expect(ids.size, 'distinct event_ids in S3').toBe(n);
    const rows = await until(
      `${n} distinct ${app} events in ClickHouse FINAL`,
      async () => {
        const r = await inClickhouse(app);
        if (r.size < n) throw new Error(`${r.size} of ${n} so far`);
        return r;
      },
      90_000,
      500,
    );
    expect(rows.size).toBe(n);
    for (const [id, doc] of rows) {
      expect(ids.has(id)).toBe(true);
      expect(bySeq.get(Number(doc.msgid.slice(1)))?.event_id).toBe(id);
    }
  }

  beforeAll(async () => {
    rsyslogd();
    ferryPort = await freePort();
  });

  afterAll(async () => {
    await stopAll();
    await ch.command({ query: `DROP DATABASE IF EXISTS ${database}` }).catch(() => {});
    await ch.close();
  });

  it('N lines → N distinct events, with _id from bulkid and without (then ferry derives it)', async () => {
    const keyPrefix = `rsyslog-${run}-${target.service}-a`;
    const withId = `${run}i`;
    const noId = `${run}n`;
    const n = 1500;
    await startFerry(keyPrefix);
    try {
      rs = await startRsyslog(ferryPort, token.token, [
        { index: `${withId}-logs`, withId: true, app: withId },
        { index: `${noId}-logs`, withId: false, app: noId },
      ]);
      await Promise.all([rs.send(withId, 0, n), rs.send(noId, 0, n)]);
      const all = new Set(Array.from({ length: n }, (_, i) => i));
      await expectStored(keyPrefix, withId, `${withId}-logs`, all, true);
      await expectStored(keyPrefix, noId, `${noId}-logs`, all, false);
      expect(errorRecords(rs.errorFile), 'omelasticsearch errorfile').toEqual([]);
      const metrics = await (
        await fetch(`http://127.0.0.1:${ferryPort}/metrics`, {
          headers: { authorization: `Bearer ${token.token}` },
        })
      ).text();
      expect(metrics).toMatch(/^bulk_items_total\{action="index",status="201"\} \d+$/m);
      expect(metrics).toMatch(/^bulk_requests_total\{status="200"\} \d+$/m);
    } finally {
      await stopAll();
    }
  }, 240_000);
  it('ferry SIGKILLed mid-stream, restarted on its port and state: the action queue resends, nothing lost or doubled', async () => {
    const keyPrefix = `rsyslog-${run}-${target.service}-k`;
    const app = `${run}k`;
    const n = 2000;
    await startFerry(keyPrefix);
    try {
      rs = await startRsyslog(ferryPort, token.token, [{ index: `${app}-logs`, withId: true }]);
      await rs.send(app, 0, n / 2, 200);
      await until(
        `some of ${app} stored`,
        async () => (await archived(keyPrefix, app)).length > 0,
        60_000,
        200,
      );
      f!.kill('SIGKILL');
      await f!.exited;
      // rsyslog finds nobody listening: it suspends the action and keeps the batch queued.
      await rs.send(app, n / 2, n / 2, 200);
      await until(
        'rsyslog suspending the action',
        async () => /suspending ourselfs due to server failure/.test(rs!.log()),
        30_000,
        200,
      );
      await new Promise((r) => setTimeout(r, 2000));
      await startFerry(keyPrefix);
      await expectStored(
        keyPrefix,
        app,
        `${app}-logs`,
        new Set(Array.from({ length: n }, (_, i) => i)),
        true,
        200,
      );
      expect(errorRecords(rs.errorFile), 'omelasticsearch errorfile').toEqual([]);
    } finally {
      await stopAll();
    }
  }, 240_000);

  it('whole-request 429 (write-ahead log full while ClickHouse is down): 8.2302 writes the batch to its errorfile, not retried; stored ∪ errorfile = every line, once', async () => {
    const keyPrefix = `rsyslog-${run}-${target.service}-w`;
    const app = `${run}w`;
    const n = 2500;
    const pad = 1000;
    await startFerry(keyPrefix, {
      wal: { max_bytes: 1048576, segment_max_bytes: 65536, segment_max_age_ms: 100 },
    });
    let down = false;
    try {
      rs = await startRsyslog(ferryPort, token.token, [{ index: `${app}-logs`, withId: true }]);
      await stopService(target.service);
      down = true;
      // ~2.7 MB of documents against a 1 MiB log that cannot drain while ClickHouse is down.
      await rs.send(app, 0, n, pad);
      const split = await until(
        'every line either archived in S3 or in the errorfile',
        async () => {
          const refused = docsIn(errorRecords(rs!.errorFile));
          const stored = await archived(keyPrefix, app);
          if (refused.length + new Set(stored.map((e) => e.event_id)).size < n)
            throw new Error(`${stored.length} archived + ${refused.length} refused of ${n}`);
          return { refused, stored };
        },
        120_000,
        500,
      );
      const records = errorRecords(rs.errorFile);
      expect(records.length, 'refused _bulk requests in the errorfile').toBeGreaterThan(0);
      for (const r of records) {
        expect(r.request.url).toBe(`http://127.0.0.1:${ferryPort}/_bulk`);
        // The log full is a refusal (429 es_rejected_execution_exception), like a full DLQ.
        expect([429, 503]).toContain(r.reply.status);
        expect(r.reply.items).toBeUndefined();
      }
      const refusedSeqs = new Set(split.refused.map((d) => Number(d.msgid.slice(1))));
      expect(refusedSeqs.size, 'no line refused twice').toBe(split.refused.length);
      const storedSeqs = new Set<number>();
      for (const e of split.stored) storedSeqs.add(Number(e.payload.msgid.slice(1)));
      for (const s of storedSeqs)
        expect(refusedSeqs.has(s), `line ${s} both stored and refused`).toBe(false);
      expect(storedSeqs.size + refusedSeqs.size).toBe(n);
      expect(storedSeqs.size, 'lines accepted before the log filled').toBeGreaterThan(0);
      const metrics = await (
        await fetch(`http://127.0.0.1:${ferryPort}/metrics`, {
          headers: { authorization: `Bearer ${token.token}` },
        })
      ).text();
      const refusedRequests = ['429', '503']
        .map((st) =>
          Number(
            new RegExp(`^bulk_requests_total\\{status="${st}"\\} (\\d+)$`, 'm').exec(
              metrics,
            )?.[1] ?? 0,
          ),
        )
        .reduce((a, b) => a + b, 0);
      expect(refusedRequests, 'every refused request is in the errorfile').toBe(records.length);
      await startService(target.service);
      down = false;
      // What ferry accepted reaches ClickHouse once it is back; the refused lines never do.
      await expectStored(keyPrefix, app, `${app}-logs`, storedSeqs, true, pad);
    } finally {
      if (down) await startService(target.service);
      await stopAll();
    }
  }, 300_000);
});
