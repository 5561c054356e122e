/** Config rules for `auth` and `listen.tls` that JSON Schema cannot say (paths are dotted key paths). */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { FerryConfig } from './types.js';
import type { ConfigIssue } from './load.js';

export function checkAuthAndTls(cfg: FerryConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const auth = cfg.auth;
  if (auth.enabled && auth.tokens.length === 0) {
    issues.push({
      path: 'auth.tokens',
      message:
        'auth.enabled is true but no token is configured: every request would get 401 (add one with `ferry token new`)',
    });
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  auth.tokens.forEach((t, i) => {
    if (names.has(t.name))
      issues.push({ path: `auth.tokens.${i}.name`, message: `duplicate token name "${t.name}"` });
    if (hashes.has(t.sha256))
      issues.push({
        path: `auth.tokens.${i}.sha256`,
        message: `the same hash is already configured for another token`,
      });
    names.add(t.name);
    hashes.add(t.sha256);
    const source = t.source ?? t.name;
    if (new TextEncoder().encode(source).length > 255)
      issues.push({
        path: `auth.tokens.${i}.source`,
        message: 'must be at most 255 bytes of UTF-8',
      });
  });
  const tls = cfg.listen.tls;
  if (tls) {
    for (const k of ['cert', 'key'] as const) {
      try {
        const pem = readFileSync(resolve(tls[k]), 'utf8');
        if (!pem.includes('-----BEGIN '))
          issues.push({ path: `listen.tls.${k}`, message: `${tls[k]} is not a PEM file` });
      } catch (err) {
        issues.push({
          path: `listen.tls.${k}`,
          message: `cannot read ${tls[k]}: ${(err as Error).message}`,
        });
      }
    }
  }
  return issues;
}
