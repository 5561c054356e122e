/**
 * msgpack is not JSON on the wire, so its events are archived through one documented,
 * lossless conversion (README, "Sending events"):
 *
 * - integers: exact decimal digits, int64/uint64 beyond 2^53 included (decoded as BigInt);
 * - floats: the shortest decimal that reads back as the same double; NaN and ±Infinity
 *   have no JSON form and are refused;
 * - bin: a base64 string (RFC 4648, with padding);
 * - timestamp (ext -1): an RFC 3339 string in UTC, millisecond precision;
 * - map keys: as strings — numbers and booleans by their text, `nil` as "null"; a key that is a
 *   map, an array or bin is refused (a duplicate key: the last value wins, in the first one's
 *   place). Maps are decoded as Map, not objects, so a key such as `__proto__` stays what it is;
 * - nil: null.
 */
import { Buffer } from 'node:buffer';
import type { ScanLimits } from './json-scan.js';

export type Lossless = string | { limit: 'depth' | 'keys' } | { error: string };

/** The JSON text of one decoded msgpack value, within `limits` (depth is bounded beforehand). */
export function toLosslessJson(value: unknown, limits: ScanLimits): Lossless {
  const out: string[] = [];
  let keys = 0;
  let problem: Lossless | undefined;
  const write = (v: unknown, depth: number): void => {
    if (problem) return;
    if (v === null || v === undefined) out.push('null');
    else if (typeof v === 'string') out.push(JSON.stringify(v));
    else if (typeof v === 'number') {
      if (!Number.isFinite(v)) problem = { error: `${v} has no JSON form` };
      else out.push(Object.is(v, -0) ? '-0' : String(v));
    } else if (typeof v === 'bigint') out.push(v.toString());
    else if (typeof v === 'boolean') out.push(v ? 'true' : 'false');
    else if (v instanceof Uint8Array)
      out.push(`"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"`);
    else if (v instanceof Date) {
      if (Number.isNaN(v.getTime())) problem = { error: 'a timestamp out of range' };
      else out.push(`"${v.toISOString()}"`);
    } else if (depth >= limits.maxDepth) problem = { limit: 'depth' };
    else if (Array.isArray(v)) {
      out.push('[');
      for (let i = 0; i < v.length; i++) {
        if (i) out.push(',');
        write(v[i], depth + 1);
      }
      out.push(']');
    } else if (v instanceof Map) {
      const entries = new Map<string, unknown>();
      for (const [k, x] of v) {
        const key = keyText(k);
        if (key === undefined) {
          problem = { error: `a map key that is ${describe(k)} has no JSON form` };
          return;
        }
        entries.set(key, x);
      }
      out.push('{');
      let first = true;
      for (const [k, x] of entries) {
        if (++keys > limits.maxKeys) {
          problem = { limit: 'keys' };
          return;
        }
        out.push(first ? '' : ',', JSON.stringify(k), ':');
        first = false;
        write(x, depth + 1);
      }
      out.push('}');
    } else problem = { error: `a ${typeof v} value has no JSON form` };
  };
  write(value, 0);
  return problem ?? out.join('');
}

/** A map key as a JSON object key: strings as they are, scalars by their text; else undefined. */
function keyText(k: unknown): string | undefined {
  if (typeof k === 'string') return k;
  if (typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return String(k);
  if (k === null || k === undefined) return 'null';
  return undefined;
}

function describe(v: unknown): string {
  if (v instanceof Map) return 'a map';
  if (Array.isArray(v)) return 'an array';
  if (v instanceof Uint8Array) return 'bin';
  return `a ${typeof v}`;
}

/**
 * Whether a msgpack body nests containers deeper than `max`, walked without recursion
 * (msgpackr's decoder recurses: a body 10^5 deep would overflow its stack).
 * 'malformed' when the body ends inside a value.
 */
export function msgpackTooDeep(b: Uint8Array, max: number): boolean | 'malformed' {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  // Items still to read in each open container.
  const pending: number[] = [];
  let i = 0;
  const n = b.length;
  while (i < n) {
    const c = b[i++];
    let skip = 0;
    let items = -1;
    if (c <= 0x7f || c >= 0xe0) skip = 0;
    else if (c <= 0x8f) items = (c & 0x0f) * 2;
    else if (c <= 0x9f) items = c & 0x0f;
    else if (c <= 0xbf) skip = c & 0x1f;
    if (c >= 0xc0 && c <= 0xdf) {
      switch (c) {
        case 0xc4:
        case 0xd9:
          if (i + 1 > n) return 'malformed';
          skip = 1 + b[i];
          break;
        case 0xc5:
        case 0xda:
          if (i + 2 > n) return 'malformed';
          skip = 2 + v.getUint16(i);
          break;
        case 0xc6:
        case 0xdb:
          if (i + 4 > n) return 'malformed';
          skip = 4 + v.getUint32(i);
          break;
        case 0xc7:
          if (i + 1 > n) return 'malformed';
          skip = 2 + b[i];
          break;
        case 0xc8:
          if (i + 2 > n) return 'malformed';
          skip = 3 + v.getUint16(i);
          break;
        case 0xc9:
          if (i + 4 > n) return 'malformed';
          skip = 5 + v.getUint32(i);
          break;
        case 0xca:
        case 0xce:
        case 0xd2:
          skip = 4;
          break;
        case 0xcb:
        case 0xcf:
        case 0xd3:
          skip = 8;
          break;
        case 0xcc:
        case 0xd0:
          skip = 1;
          break;
        case 0xcd:
        case 0xd1:
          skip = 2;
          break;
        case 0xd4:
          skip = 2;
          break;
        case 0xd5:
          skip = 3;
          break;
        case 0xd6:
          skip = 5;
          break;
        case 0xd7:
          skip = 9;
          break;
        case 0xd8:
          skip = 17;
          break;
        case 0xdc:
          if (i + 2 > n) return 'malformed';
          items = v.getUint16(i);
          skip = 2;
          break;
        case 0xdd:
          if (i + 4 > n) return 'malformed';
          items = v.getUint32(i);
          skip = 4;
          break;
        case 0xde:
          if (i + 2 > n) return 'malformed';
          items = v.getUint16(i) * 2;
          skip = 2;
          break;
        case 0xdf:
          if (i + 4 > n) return 'malformed';
          items = v.getUint32(i) * 2;
          skip = 4;
          break;
        default:
          skip = 0; // nil, false, true (0xc1 is msgpackr's to refuse)
      }
    }
    i += skip;
    if (i > n) return 'malformed';
    // This value fills one slot of the innermost container.
    if (pending.length) pending[pending.length - 1]--;
    if (items > 0) {
      if (pending.length >= max) return true;
      pending.push(items);
    }
    while (pending.length && pending[pending.length - 1] === 0) pending.pop();
  }
  return pending.length ? 'malformed' : false;
}
