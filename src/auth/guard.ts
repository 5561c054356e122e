/**
 * Who may call which route: bearer token → configured token (by constant-time
 * comparison of sha256 digests) → route allowed? → rate limit. One guard per
 * process, shared by every HTTP path (node:http fast path, hono on every
 * runtime), so they all answer the same way. `configure` swaps the tokens live
 * (a reload) and keeps the rate-limit state of tokens that stay.
 */
import type { AuthConfig, AuthRoute } from '../config/types.js';
import { bearerToken, digestsEqual, hashToken } from './token-hash.js';
import { TokenBucket, defaultBurst } from './token-bucket.js';

export type AuthDecision =
  | { ok: true; token?: string; source?: string }
  | {
      ok: false;
      status: 401 | 403 | 429;
      error: string;
      message: string;
      headers: Record<string, string>;
      token?: string;
    };

interface Entry {
  name: string;
  digest: Buffer;
  source: string;
  routes: ReadonlySet<AuthRoute>;
  bucket?: TokenBucket;
}

const CHALLENGE = { 'WWW-Authenticate': 'Bearer realm="ferry"' };

export class AuthGuard {
  private enabled = false;
  private entries: Entry[] = [];

  constructor(
    cfg: AuthConfig,
    private readonly clock: () => number = Date.now,
  ) {
    this.configure(cfg);
  }

  get on(): boolean {
    return this.enabled;
  }

  configure(cfg: AuthConfig): void {
    const now = this.clock();
    const previous = new Map(this.entries.map((e) => [e.name, e]));
    this.entries = cfg.tokens.map((t) => {
      const old = previous.get(t.name);
      let bucket: TokenBucket | undefined;
      if (t.rate_limit) {
        const burst = t.rate_limit.burst ?? defaultBurst(t.rate_limit.requests_per_s);
        bucket = old?.bucket ?? new TokenBucket(t.rate_limit.requests_per_s, burst, now);
        bucket.reconfigure(t.rate_limit.requests_per_s, burst, now);
      }
      return {
        name: t.name,
        digest: Buffer.from(t.sha256, 'hex'),
        source: t.source ?? t.name,
        routes: new Set(t.routes),
        bucket,
      };
    });
    this.enabled = cfg.enabled;
  }

  check(route: AuthRoute, authorization: string | undefined | null): AuthDecision {
    if (!this.enabled) return { ok: true };
    const token = bearerToken(authorization);
    if (token === undefined) {
      return {
        ok: false,
        status: 401,
        error: 'unauthorized',
        message: 'missing bearer token (Authorization: Bearer <token>)',
        headers: CHALLENGE,
      };
    }
    const digest = hashToken(token);
    // Compare against every entry, without stopping early, so timing says nothing about which matched.
    let found: Entry | undefined;
    for (const e of this.entries) if (digestsEqual(digest, e.digest) && !found) found = e;
    if (!found) {
      return {
        ok: false,
        status: 401,
        error: 'unauthorized',
        message: 'unknown bearer token',
        headers: { 'WWW-Authenticate': 'Bearer realm="ferry", error="invalid_token"' },
      };
    }
    if (!found.routes.has(route)) {
      return {
        ok: false,
        status: 403,
        error: 'forbidden',
        message: `token "${found.name}" is not allowed on the ${route} route`,
        headers: {},
        token: found.name,
      };
    }
    const wait = found.bucket?.take(this.clock()) ?? 0;
    if (wait > 0) {
      return {
        ok: false,
        status: 429,
        error: 'rate_limited',
        message: `token "${found.name}" is over its rate limit; retry after the Retry-After seconds`,
        headers: { 'Retry-After': String(Math.max(1, Math.ceil(wait))) },
        token: found.name,
      };
    }
    return { ok: true, token: found.name, source: found.source };
  }
}

/** True for addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return (
    h === 'localhost' ||
    h === '::1' ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '::ffff:127.0.0.1'
  );
}

/** The loud warning for a listener anyone on the network can reach without a token; undefined when fine. */
export function openListenerWarning(cfg: {
  listen: { host: string };
  auth: { enabled: boolean };
}): string | undefined {
  if (cfg.auth.enabled || isLoopback(cfg.listen.host)) return undefined;
  return `AUTH IS OFF on ${cfg.listen.host}, an address other machines can reach: anyone who can connect may send events and read /metrics. Set auth.enabled: true with tokens from \`ferry token new\`, or listen on 127.0.0.1 behind a proxy that authenticates.`;
}
