/**
 * The credentials Elasticsearch clients send, as ferry tokens: `Bearer <token>`, `ApiKey <token>`
 * (also `ApiKey base64(id:token)`, the form clients build from an id and a key) and
 * `Basic base64(user:token)` (any user name; the password is the token). Each candidate is offered
 * to the one AuthGuard as a bearer header, so tokens, routes and rate limits stay ferry's own.
 */
import { Buffer } from 'node:buffer';

/** Bearer headers to try, in order (empty when the header carries none of the forms). */
export function bearerCandidates(authorization: string | undefined | null): string[] {
  if (!authorization) return [];
  const m = /^\s*(Bearer|ApiKey|Basic)\s+(\S+)\s*$/i.exec(authorization);
  if (!m) return [];
  const scheme = m[1].toLowerCase();
  const value = m[2];
  if (scheme === 'bearer') return [`Bearer ${value}`];
  if (scheme === 'apikey') {
    const out = [`Bearer ${value}`];
    const pair = decodeBase64Pair(value);
    if (pair?.secret) out.push(`Bearer ${pair.secret}`);
    return out;
  }
  const pair = decodeBase64Pair(value);
  return pair?.secret ? [`Bearer ${pair.secret}`] : [];
}

/** `base64(name:secret)` → its halves (split at the first colon), or undefined. */
function decodeBase64Pair(b64: string): { name: string; secret: string } | undefined {
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(b64)) return undefined;
  const text = Buffer.from(b64, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return undefined;
  const secret = text.slice(colon + 1);
  if (/\s/.test(secret)) return undefined;
  return { name: text.slice(0, colon), secret };
}
