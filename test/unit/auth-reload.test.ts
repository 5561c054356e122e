import { describe, it, expect } from 'vitest';
import { AuthGuard, isLoopback, openListenerWarning } from '../../src/auth/guard.js';
import { TokenBucket } from '../../src/auth/token-bucket.js';
import { bearerToken, digestsEqual, hashTokenHex, newToken } from '../../src/auth/token-hash.js';
import { diffConfig, liveConfig } from '../../src/config/diff.js';
import { parseConfigText } from '../../src/config/load.js';
import type { AuthConfig } from '../../src/config/types.js';

describe('TokenBucket (requests per second)', () => {
  it('grants the burst, then refuses with the wait until the next token, and refills with time', () => {
    const b = new TokenBucket(2, 3, 0);
    expect([b.take(0), b.take(0), b.take(0)]).toEqual([0, 0, 0]);
    expect(b.take(0)).toBeCloseTo(0.5);
    expect(b.take(250)).toBeCloseTo(0.25);
    expect(b.take(500)).toBe(0);
    expect(b.take(10_000)).toBe(0); // refilled but capped at burst
    expect([b.take(10_000), b.take(10_000), b.take(10_000)].filter((w) => w === 0)).toHaveLength(2);
  });
  it('a reload keeps what was saved, capped at the new burst', () => {
    const b = new TokenBucket(1, 10, 0);
    b.reconfigure(1, 1, 0);
    expect(b.take(0)).toBe(0);
    expect(b.take(0)).toBeGreaterThan(0);
  });
});

describe('AuthGuard', () => {
  const tok = newToken();
  const other = newToken();
  let now = 0;
  const cfg: AuthConfig = {
    enabled: true,
    tokens: [
      {
        name: 'a',
        sha256: hashTokenHex(tok),
        source: 'src-a',
        routes: ['ingest'],
        rate_limit: { requests_per_s: 1, burst: 1 },
      },
      { name: 'm', sha256: hashTokenHex(other), routes: ['metrics'] },
    ],
  };
  const g = new AuthGuard(cfg, () => now);
  it('decides 401 / 403 / 429 / ok', () => {
    expect(g.check('ingest', undefined)).toMatchObject({ ok: false, status: 401 });
    expect(g.check('ingest', `Bearer ${tok}x`)).toMatchObject({ ok: false, status: 401 });
    expect(g.check('ingest', `Token ${tok}`)).toMatchObject({ ok: false, status: 401 });
    expect(g.check('ingest', `Bearer ${other}`)).toMatchObject({ ok: false, status: 403 });
    expect(g.check('metrics', `Bearer ${other}`)).toMatchObject({ ok: true, source: 'm' });
    expect(g.check('ingest', `bearer  ${tok} `)).toEqual({ ok: true, token: 'a', source: 'src-a' });
    expect(g.check('ingest', `Bearer ${tok}`)).toMatchObject({
      ok: false,
      status: 429,
      headers: { 'Retry-After': '1' },
    });
    now = 1000;
    expect(g.check('ingest', `Bearer ${tok}`)).toMatchObject({ ok: true });
  });
  it('off lets everything through; configure swaps tokens live', () => {
    const off = new AuthGuard({ enabled: false, tokens: [] });
    expect(off.check('metrics', undefined)).toEqual({ ok: true });
    off.configure(cfg);
    expect(off.check('metrics', undefined)).toMatchObject({ status: 401 });
  });
  it('helpers', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('Bearer a b')).toBeUndefined();
    expect(digestsEqual(new Uint8Array([1, 2]), new Uint8Array([1, 2]))).toBe(true);
    expect(digestsEqual(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(digestsEqual(new Uint8Array([1]), new Uint8Array([1, 3]))).toBe(false);
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])
      expect(isLoopback(h), h).toBe(true);
    for (const h of ['0.0.0.0', '::', '10.0.0.5', '192.168.1.1', 'ferry.example'])
      expect(isLoopback(h), h).toBe(false);
    expect(openListenerWarning({ listen: { host: '0.0.0.0' }, auth: { enabled: false } })).toMatch(
      /^AUTH IS OFF/,
    );
    expect(
      openListenerWarning({ listen: { host: '0.0.0.0' }, auth: { enabled: true } }),
    ).toBeUndefined();
    expect(
      openListenerWarning({ listen: { host: '127.0.0.1' }, auth: { enabled: false } }),
    ).toBeUndefined();
  });
});

describe('auth and TLS config validation', () => {
  const bad = (text: string) => {
    try {
      parseConfigText(text, 'f.yaml', {});
    } catch (err) {
      return (err as Error).message;
    }
    return 'valid';
  };
  it('names the key and line', () => {
    expect(bad('auth:\n  enabled: true\n')).toContain('auth.tokens');
    expect(bad('auth:\n  tokens:\n    - name: a\n      sha256: nothex\n')).toMatch(
      /f\.yaml:4:\d+: auth\.tokens\.0\.sha256/,
    );
    const h = 'a'.repeat(64);
    expect(
      bad(
        `auth:\n  tokens:\n    - { name: a, sha256: ${h} }\n    - { name: a, sha256: ${'b'.repeat(64)} }\n`,
      ),
    ).toContain('duplicate token name');
    expect(bad(`auth:\n  tokens:\n    - { name: a, sha256: ${h}, routes: [admin] }\n`)).toContain(
      'auth.tokens.0.routes.0',
    );
    expect(bad('listen:\n  tls:\n    cert: /nonexistent.crt\n    key: /nonexistent.key\n')).toMatch(
      /f\.yaml:3:\d+: listen\.tls\.cert: cannot read/,
    );
    expect(bad(`auth:\n  tokens:\n    - { name: a, sha256: ${h} }\n`)).toBe('valid');
  });
  it('defaults: auth off, token routes [ingest]', () => {
    const cfg = parseConfigText(
      `auth:\n  tokens:\n    - { name: a, sha256: ${'a'.repeat(64)} }\n`,
      'f.yaml',
      {},
    );
    expect(cfg.auth.enabled).toBe(false);
    expect(cfg.auth.tokens[0].routes).toEqual(['ingest']);
  });
});

describe('config diff', () => {
  const base = (extra = '') =>
    parseConfigText(
      `workers: { threads: 2 }\nsinks:\n  - { name: d, type: directory, path: /tmp/d }\n  - { name: s, type: s3, bucket: bkt, secret_access_key: x }\n${extra}`,
      'f.yaml',
      {},
    );
  it('sorts changes into live and restart, by sink name, without values', () => {
    const a = base();
    const b = parseConfigText(
      `listen: { port: 9999 }\nworkers: { threads: 3 }\nbatch: { max_events: 7, codec: gzip }\nsinks:\n  - { name: s, type: s3, bucket: bkt, secret_access_key: y }\n  - { name: d, type: directory, path: /tmp/d }\n  - { name: n, type: directory, path: /tmp/n }\n`,
      'f.yaml',
      {},
    );
    const d = diffConfig(a, b);
    expect(d.live.sort()).toEqual(['batch.codec', 'batch.max_events', 'sinks.s.secret_access_key']);
    expect(d.restart.sort()).toEqual(['listen.port', 'sinks.n (added)', 'workers.threads']);
    const eff = liveConfig(a, b);
    expect(eff.listen.port).toBe(a.listen.port);
    expect(eff.workers.threads).toBe(2);
    expect(eff.batch.max_events).toBe(7);
    expect(eff.sinks.map((s) => s.name)).toEqual(['d', 's']);
    expect((eff.sinks[1] as { secret_access_key: string }).secret_access_key).toBe('y');
  });
  it('no change → nothing; a removed sink and TLS on/off need a restart', () => {
    expect(diffConfig(base(), base())).toEqual({ live: [], restart: [] });
    const fewer = parseConfigText(
      `workers: { threads: 2 }\nsinks:\n  - { name: d, type: directory, path: /tmp/d }\n`,
      'f.yaml',
      {},
    );
    expect(diffConfig(base(), fewer).restart).toEqual(['sinks.s (removed)']);
    const b = base();
    b.listen.tls = { cert: '/x', key: '/y' };
    expect(diffConfig(base(), b).restart).toEqual(['listen.tls']);
    expect(liveConfig(base(), b).listen.tls).toBeUndefined();
  });
});
