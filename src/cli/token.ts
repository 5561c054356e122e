/** `ferry token new`: a fresh bearer token, its sha256 (what the config stores) and the YAML to paste. */
import { stringify } from 'yaml';
import { hashTokenHex, newToken } from '../auth/token-hash.js';

export interface TokenOptions {
  name?: string;
  source?: string;
  routes?: string;
  rate?: string;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function tokenCommand(
  sub: string | undefined,
  opts: TokenOptions,
  out: (s: string) => void = (s) => process.stdout.write(s),
  err: (s: string) => void = (s) => process.stderr.write(s),
): number {
  if (sub !== 'new') {
    err(
      'usage: ferry token new [--name NAME] [--source SOURCE] [--routes ingest,metrics] [--rate REQUESTS_PER_S]\n',
    );
    return 2;
  }
  const source = opts.source;
  const name =
    opts.name ??
    (source
      ? source
          .replace(/[^A-Za-z0-9_.-]/g, '-')
          .replace(/^[^A-Za-z0-9]+/, '')
          .slice(0, 63)
      : '') ??
    '';
  const finalName = name || `token-${Date.now().toString(36)}`;
  if (!NAME.test(finalName)) {
    err(`ferry token new: --name "${finalName}" must match ${NAME.source}\n`);
    return 2;
  }
  const routes = (opts.routes ?? 'ingest')
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = routes.find((r) => r !== 'ingest' && r !== 'metrics');
  if (bad) {
    err(`ferry token new: unknown route "${bad}" (ingest, metrics)\n`);
    return 2;
  }
  const rate = opts.rate === undefined ? undefined : Number(opts.rate);
  if (rate !== undefined && !(rate > 0)) {
    err(`ferry token new: --rate must be a positive number of requests per second\n`);
    return 2;
  }
  const token = newToken();
  const sha256 = hashTokenHex(token);
  const entry: Record<string, unknown> = { name: finalName, sha256 };
  if (source) entry.source = source;
  entry.routes = routes;
  if (rate !== undefined) entry.rate_limit = { requests_per_s: rate };
  const yaml = stringify({ auth: { enabled: true, tokens: [entry] } });
  out(
    `token:  ${token}\n` +
      `sha256: ${sha256}\n\n` +
      `Give the token to the producer (Authorization: Bearer <token>); it is shown only now.\n` +
      `Put the hash in /etc/ferry/ferry.yaml, then \`systemctl reload ferry\`:\n\n` +
      yaml,
  );
  return 0;
}
