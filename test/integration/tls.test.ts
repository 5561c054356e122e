import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  startFerryProcess,
  makeEvents,
  type FerryProc,
  type Runtime,
} from '../helpers/ferry-proc.js';
import { envelopesIn } from '../helpers/archive.js';
import { reloadAndWait, metric } from '../helpers/reload.js';

const run = `tl${Date.now().toString(36)}`;
const procs: FerryProc[] = [];
afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

/** A self-signed certificate for 127.0.0.1, made with the openssl CLI (no network). */
function selfSigned(dir: string, name: string): { cert: string; key: string } {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=ferry-test-${name}`,
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      key,
      '-out',
      cert,
    ],
    { stdio: 'ignore' },
  );
  return { cert, key };
}

function fingerprint(certFile: string): string {
  return new X509Certificate(readFileSync(certFile)).fingerprint256;
}

/** One HTTPS request on a new connection, trusting only `ca`; resolves with status, body and the served certificate. */
function httpsCall(
  port: number,
  ca: string,
  opts: { method?: string; path?: string; body?: string } = {},
): Promise<{ status: number; body: string; fingerprint: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: opts.path ?? '/v1/events',
        method: opts.method ?? 'POST',
        ca: readFileSync(ca),
        agent: false,
        headers: { 'content-type': 'application/x-ndjson' },
      },
      (res) => {
        const fp = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().fingerprint256;
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body, fingerprint: fp }));
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

describe.each<Runtime>(['node', 'bun', 'deno'])('TLS listener on %s', (runtime) => {
  it('serves HTTPS with the configured certificate; plain HTTP gets no answer', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    const a = selfSigned(dir, 'a');
    const f = await startFerryProcess(
      {
        listen: { host: '127.0.0.1', port: 0, tls: { cert: a.cert, key: a.key } },
        // ack=delivered: the sink is read the moment the request is answered.
        http: { ack: 'delivered' },
        batch: { max_age_ms: 50, codec: 'gzip' },
        sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
      },
      { runtime },
    );
    procs.push(f);
    const ev = makeEvents(5, `${run}-${runtime}`);
    const r = await httpsCall(f.port, a.cert, { body: ev.lines.join('\n') });
    expect(r.status, r.body).toBe(200);
    expect(r.fingerprint).toBe(fingerprint(a.cert));
    expect(
      envelopesIn(join(f.stateDir, 'out'))
        .map((e) => e.event_id)
        .sort(),
    ).toEqual([...ev.ids].sort());
    expect((await httpsCall(f.port, a.cert, { method: 'GET', path: '/healthz' })).status).toBe(200);
    await expect(
      fetch(`http://127.0.0.1:${f.port}/healthz`, { signal: AbortSignal.timeout(5000) }),
    ).rejects.toThrow();
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);
});

describe('TLS certificate renewal (Node)', () => {
  it('SIGHUP serves renewed files to new connections; a mismatched pair is refused and the old one kept', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    const a = selfSigned(dir, 'a');
    const b = selfSigned(dir, 'b');
    const c = selfSigned(dir, 'c');
    const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key') };
    copyFileSync(a.cert, live.cert);
    copyFileSync(a.key, live.key);
    const f = await startFerryProcess({
      listen: { host: '127.0.0.1', port: 0, tls: live },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    });
    procs.push(f);
    expect((await httpsCall(f.port, a.cert, { method: 'GET', path: '/healthz' })).fingerprint).toBe(
      fingerprint(a.cert),
    );

    // renewal: same paths, new files (as certbot or an ACME client would leave them)
    copyFileSync(b.cert, live.cert);
    copyFileSync(b.key, live.key);
    const ok = await reloadAndWait(f);
    expect(ok.msg).toBe('config reloaded');
    expect(ok.applied).toEqual(['listen.tls (certificate re-read)']);
    const renewed = await httpsCall(f.port, b.cert, { method: 'GET', path: '/healthz' });
    expect(renewed.fingerprint).toBe(fingerprint(b.cert));
    // a client that trusts only the old certificate is now refused
    await expect(httpsCall(f.port, a.cert, { method: 'GET', path: '/healthz' })).rejects.toThrow();

    // a half-written renewal (new cert, old key) is refused; b is still served
    copyFileSync(c.cert, live.cert);
    const bad = await reloadAndWait(f);
    expect(bad.msg).toBe('config reload failed; the running config is kept');
    expect(String(bad.err)).toContain('not a usable certificate/key pair');
    expect((await httpsCall(f.port, b.cert, { method: 'GET', path: '/healthz' })).fingerprint).toBe(
      fingerprint(b.cert),
    );
    const m = await httpsCall(f.port, b.cert, { method: 'GET', path: '/metrics' });
    expect(metric(m.body, 'config_reload_failures_total')).toBe(1);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);
});
