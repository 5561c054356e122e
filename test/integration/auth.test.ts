import { describe, it, expect, afterAll } from 'vitest';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import {
  startFerryProcess,
  post,
  makeEvents,
  type FerryProc,
  type Runtime,
} from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';
import { rewriteConfig, reloadAndWait, metric } from '../helpers/reload.js';

const run = `au${Date.now().toString(36)}`;
const procs: FerryProc[] = [];
afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

/** A real token and hash from the CLI, as an operator would make them. */
function tokenFromCli(args: string[]): { token: string; sha256: string; yaml: string } {
  const out = execFileSync(process.execPath, ['dist/src/cli.js', 'token', 'new', ...args], {
    encoding: 'utf8',
  });
  const token = /^token:\s+(\S+)$/m.exec(out)![1];
  const sha256 = /^sha256:\s+([0-9a-f]{64})$/m.exec(out)![1];
  return { token, sha256, yaml: out.slice(out.indexOf('auth:')) };
}

const producer = tokenFromCli(['--name', 'edge-a', '--source', 'edge-eu-1']);
const scraper = tokenFromCli(['--name', 'prom', '--routes', 'metrics']);
const limited = tokenFromCli(['--name', 'slow', '--source', 'slow-src', '--rate', '0.5']);

function authConfig() {
  return {
    // ack=delivered: the tests read the directory sink the moment a request is answered (the
    // `durable` of before the write-ahead log; durable now answers from the log first).
    http: { ack: 'delivered' },
    // gzip: on Bun, lz4 archive batches currently fail the worker ("Cannot transfer object marked as untransferable").
    batch: { max_age_ms: 50, codec: 'gzip' },
    sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    auth: {
      enabled: true,
      tokens: [
        { name: 'edge-a', sha256: producer.sha256, source: 'edge-eu-1', routes: ['ingest'] },
        { name: 'prom', sha256: scraper.sha256, routes: ['metrics'] },
        {
          name: 'slow',
          sha256: limited.sha256,
          source: 'slow-src',
          routes: ['ingest'],
          rate_limit: { requests_per_s: 0.5, burst: 2 },
        },
      ],
    },
  };
}

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('ferry token new', () => {
  it('prints a token whose sha256 is the printed hash, and a YAML snippet ferry accepts', async () => {
    const { createHash } = await import('node:crypto');
    expect(producer.token).toMatch(/^fry_[A-Za-z0-9_-]{43}$/);
    expect(createHash('sha256').update(producer.token).digest('hex')).toBe(producer.sha256);
    expect(tokenFromCli([]).token).not.toBe(producer.token);
    expect(producer.yaml).toContain('source: edge-eu-1');
    expect(limited.yaml).toContain('requests_per_s: 0.5');
  });
});

describe.each<Runtime>(['node', 'bun', 'deno'])('auth on %s', (runtime) => {
  it('401 without or with an unknown token, 403 on a route not allowed, 200 with the source stamped; /metrics needs a metrics token; health stays open', async () => {
    const f = await startFerryProcess(authConfig(), { runtime });
    procs.push(f);
    const body = makeEvents(3, `${run}-${runtime}`);

    const none = await post(f.url, body.lines.join('\n'));
    expect(none.status).toBe(401);
    expect(none.json.error).toBe('unauthorized');
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm="ferry"/);
    const basic = await post(f.url, body.lines.join('\n'), {
      headers: { authorization: 'Basic Zm9vOmJhcg==' },
    });
    expect(basic.status).toBe(401);
    const unknown = await post(f.url, body.lines.join('\n'), {
      headers: bearer('fry_not-a-configured-token'),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get('www-authenticate')).toContain('invalid_token');
    const wrongRoute = await post(f.url, body.lines.join('\n'), { headers: bearer(scraper.token) });
    expect(wrongRoute.status).toBe(403);
    expect(wrongRoute.json.error).toBe('forbidden');

    const ok = await post(f.url, body.lines.join('\n'), { headers: bearer(producer.token) });
    expect(ok.status, JSON.stringify(ok.json)).toBe(200);
    const envs = envelopesIn(join(f.stateDir, 'out'));
    // only the authorised request's events were accepted, stamped with the token's source
    expect(envs.map((e) => e.event_id).sort()).toEqual([...body.ids].sort());
    expect(new Set(envs.map((e) => e.source))).toEqual(new Set(['edge-eu-1']));

    expect((await fetch(`${f.url}/metrics`)).status).toBe(401);
    expect((await fetch(`${f.url}/metrics`, { headers: bearer(producer.token) })).status).toBe(403);
    const scraped = await fetch(`${f.url}/metrics`, { headers: bearer(scraper.token) });
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    expect(metric(text, 'http_requests_rejected_auth_total', '{reason="unauthorized"}')).toBe(4);
    expect(metric(text, 'http_requests_rejected_auth_total', '{reason="forbidden"}')).toBe(2);
    // Counted under the token's source; the refused requests count nothing.
    expect(metric(text, 'events_received_total', '{source="edge-eu-1"}')).toBe(3);
    expect(text).not.toMatch(/^events_received_total\{source="http"\}/m);
    expect((await fetch(`${f.url}/healthz`)).status).toBe(200);
    expect((await fetch(`${f.url}/readyz`)).status).toBe(200);

    // over the rate: burst 2, then 429 with Retry-After (0.5 req/s → 2 s)
    const codes: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 3; i++) {
      const r = await post(f.url, makeEvents(1, `${run}-${runtime}-rl${i}`).lines[0], {
        headers: bearer(limited.token),
      });
      codes.push(r.status);
      if (r.status === 429) retryAfter = r.headers.get('retry-after');
    }
    expect(codes).toEqual([200, 200, 429]);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(2);
    // another token is not affected by that bucket
    expect(
      (
        await post(f.url, makeEvents(1, `${run}-${runtime}-other`).lines[0], {
          headers: bearer(producer.token),
        })
      ).status,
    ).toBe(200);
    // the keep-alive connection still works after a refused request with a body
    expect((await post(f.url, body.lines.join('\n'))).status).toBe(401);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 90000);
});

describe('auth and reload', () => {
  it('tokens apply live: a token added by SIGHUP works, a removed one gets 401 right away', async () => {
    const f = await startFerryProcess(authConfig());
    procs.push(f);
    const fresh = tokenFromCli(['--name', 'new-edge', '--source', 'edge-new']);
    const line = makeEvents(1, `${run}-live`).lines[0];
    expect((await post(f.url, line, { headers: bearer(fresh.token) })).status).toBe(401);
    const cfg = authConfig();
    cfg.auth.tokens = [
      { name: 'new-edge', sha256: fresh.sha256, source: 'edge-new', routes: ['ingest'] },
      cfg.auth.tokens[1],
    ];
    rewriteConfig(f, cfg);
    const outcome = await reloadAndWait(f);
    expect(outcome.applied).toEqual(['auth.tokens']);
    expect((await post(f.url, line, { headers: bearer(fresh.token) })).status).toBe(200);
    expect((await post(f.url, line, { headers: bearer(producer.token) })).status).toBe(401);
    expect(envelopesIn(join(f.stateDir, 'out')).map((e) => e.source)).toEqual(['edge-new']);
    // and the token never reaches the logs
    expect(JSON.stringify(f.logs())).not.toContain(fresh.token);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);
});

describe('auth off', () => {
  const warning = (f: FerryProc) => f.logs().find((l) => String(l.msg).startsWith('AUTH IS OFF'));
  it('warns loudly when the listener is reachable from other machines', async () => {
    const f = await startFerryProcess({
      listen: { host: '0.0.0.0', port: 0 },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    });
    procs.push(f);
    const w = warning(f);
    expect(w).toBeDefined();
    expect(w!.level).toBe(40);
    expect(w!.host).toBe('0.0.0.0');
    // and it still serves without a token (off means off)
    expect((await post(f.url, makeEvents(1, `${run}-open`).lines[0])).status).toBe(200);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  });
  it('stays quiet on loopback', async () => {
    const f = await startFerryProcess({
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    });
    procs.push(f);
    expect(warning(f)).toBeUndefined();
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  });
});
