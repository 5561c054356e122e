/**
 * Columns mode, on the worker thread: one event → one JSONEachRow line for the operator's table,
 * each value converted to what its column takes, or the reason it cannot be (that row becomes a
 * poison row; the rest of the batch goes in). The plan comes from src/sinks/clickhouse/row-plan.
 *
 * Output forms are the ones both 18.16 and current servers read in JSONEachRow: integers as JSON
 * numbers (64-bit and wider as digits, never through a double), DateTime as Unix seconds,
 * DateTime64 as a `"seconds.fraction"` string, Date as `"YYYY-MM-DD"`.
 */
import type { ColumnType } from '../src/sinks/clickhouse/column-type.js';
import type { PlanColumn, RowPlan } from '../src/sinks/clickhouse/row-plan.js';

/** Why a value does not fit its column. */
export class Misfit extends Error {}

export interface RowMeta {
  idJson: string;
  /** ms since epoch. */
  receivedAt: number;
  sourceJson: string;
}

export type RowResult = { ok: true; line: string } | { ok: false; column: string; reason: string };

const INT_RE = /^[+-]?\d+$/;
const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
/** RFC 3339 (and ISO 8601 with a space): date, time, optional fraction, Z or an offset. */
const RFC3339_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:?\d{2})$/;
const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;
const utf8 = new TextEncoder();
const FLOAT32_MAX = 3.4028234663852886e38;
const bounds = new Map<string, [bigint, bigint]>();

function intBounds(bits: number, signed: boolean): [bigint, bigint] {
  const key = `${bits}${signed}`;
  let b = bounds.get(key);
  if (!b) {
    const n = BigInt(bits);
    b = signed ? [-(1n << (n - 1n)), (1n << (n - 1n)) - 1n] : [0n, (1n << n) - 1n];
    bounds.set(key, b);
  }
  return b;
}

/** Look up a dotted path: nested objects first, then a literal dotted key at any level (`attributes["http.status_code"]`). */
export function lookup(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (let i = 0; i < path.length; i++) {
    if (cur === null || typeof cur !== 'object') return undefined;
    const o = cur as Record<string, unknown>;
    const next = o[path[i]];
    if (next === undefined && i < path.length - 1) {
      const rest = path.slice(i).join('.');
      return Object.hasOwn(o, rest) ? o[rest] : undefined;
    }
    cur = next;
  }
  return cur;
}

/** Nanoseconds since epoch as [seconds, nanos] from RFC 3339 or epoch s/ms/µs/ns (by magnitude). */
function instant(v: unknown): [number, number] {
  if (typeof v === 'string') {
    const m = RFC3339_RE.exec(v);
    if (!m) {
      if (/^-?\d+(\.\d+)?$/.test(v)) return instant(Number(v));
      throw new Misfit(`"${v.slice(0, 40)}" is neither RFC 3339 nor an epoch number`);
    }
    const off =
      m[8].toUpperCase() === 'Z'
        ? 'Z'
        : m[8].includes(':')
          ? m[8]
          : `${m[8].slice(0, 3)}:${m[8].slice(3)}`;
    const ms = Date.parse(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}${off}`);
    if (Number.isNaN(ms)) throw new Misfit(`"${v.slice(0, 40)}" is not a valid date-time`);
    const frac = (m[7] ?? '').padEnd(9, '0');
    return [Math.floor(ms / 1000), Number(frac)];
  }
  if (typeof v === 'number' && Number.isFinite(v)) {
    const a = Math.abs(v);
    // Epoch seconds until year 5138, then ms, µs, ns.
    const scale = a < 1e11 ? 1 : a < 1e14 ? 1e3 : a < 1e17 ? 1e6 : 1e9;
    const secs = Math.floor(v / scale);
    const nanos = Math.round((v - secs * scale) * (1e9 / scale));
    return [secs, Math.min(nanos, 999_999_999)];
  }
  throw new Misfit(`${typeName(v)} is not a date-time`);
}

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'an array' : `a ${typeof v}`;
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** The JSON text of `v` converted to `t`; throws Misfit. `undefined` only for a missing Nullable/omittable value. */
export function convert(v: unknown, t: ColumnType): string {
  switch (t.k) {
    case 'nullable':
      return v === null || v === undefined ? 'null' : convert(v, t.of);
    case 'string':
      return JSON.stringify(str(v));
    case 'int': {
      let n: bigint;
      if (typeof v === 'number') {
        if (!Number.isInteger(v)) throw new Misfit(`${v} is not an integer`);
        if (!Number.isSafeInteger(v) && t.bits <= 64)
          throw new Misfit(`${v} is beyond 2^53 as a JSON number (send it as a string)`);
        n = BigInt(v);
      } else if (typeof v === 'string' && INT_RE.test(v)) n = BigInt(v);
      else if (typeof v === 'boolean') n = v ? 1n : 0n;
      else throw new Misfit(`${typeName(v)} is not an integer`);
      const [lo, hi] = intBounds(t.bits, t.signed);
      if (n < lo || n > hi)
        throw new Misfit(
          `${n} is out of range for ${t.signed ? '' : 'U'}Int${t.bits} [${lo}, ${hi}]`,
        );
      return n.toString();
    }
    case 'float': {
      const n =
        typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
      if (!Number.isFinite(n))
        throw new Misfit(`${typeName(v)} ${str(v).slice(0, 40)} is not a number`);
      if (t.bits === 32 && Math.abs(n) > FLOAT32_MAX)
        throw new Misfit(`${n} is out of range for Float32`);
      return JSON.stringify(n);
    }
    case 'bool':
      if (v === true || v === 'true' || v === 1) return 'true';
      if (v === false || v === 'false' || v === 0) return 'false';
      throw new Misfit(`${typeName(v)} ${str(v).slice(0, 40)} is not a boolean`);
    case 'fixed': {
      const s = str(v);
      const n = utf8.encode(s).length;
      if (n > t.n) throw new Misfit(`${n} bytes do not fit FixedString(${t.n})`);
      return JSON.stringify(s);
    }
    case 'uuid':
      if (typeof v === 'string' && UUID_RE.test(v)) return `"${v.toLowerCase()}"`;
      throw new Misfit(`${str(v).slice(0, 40)} is not a UUID`);
    case 'datetime': {
      const [s] = instant(v);
      if (s < 0 || s > 4294967295)
        throw new Misfit(`${s} s is out of DateTime's range (1970–2106)`);
      return String(s);
    }
    case 'datetime64': {
      const [s, ns] = instant(v);
      // DateTime64's own range: 1900-01-01 to 2299-12-31.
      if (s < -2208988800 || s > 10413791999)
        throw new Misfit(`${s} s is out of DateTime64's range`);
      if (t.precision === 0) return `"${s}"`;
      const frac = String(ns).padStart(9, '0').slice(0, Math.min(t.precision, 9));
      return `"${s}.${frac}"`;
    }
    case 'date': {
      if (typeof v === 'string' && DATE_RE.test(v)) return `"${v}"`;
      const [s] = instant(v);
      // Beyond what a JS Date holds (±8.64e15 ms): a poison row, not a RangeError out of the worker.
      if (!(Math.abs(s) <= 8.64e12)) throw new Misfit(`${s} s is out of Date's range`);
      return `"${new Date(s * 1000).toISOString().slice(0, 10)}"`;
    }
    case 'ipv4':
      if (typeof v === 'string' && IPV4_RE.test(v)) return `"${v}"`;
      throw new Misfit(`${str(v).slice(0, 40)} is not an IPv4 address`);
    case 'ipv6':
      if (typeof v === 'string' && isIPv6(v)) return `"${v}"`;
      if (typeof v === 'string' && IPV4_RE.test(v)) return `"::ffff:${v}"`;
      throw new Misfit(`${str(v).slice(0, 40)} is not an IPv6 address`);
    case 'enum':
      if (typeof v === 'string' && t.values.includes(v)) return JSON.stringify(v);
      throw new Misfit(`${str(v).slice(0, 40)} is not one of the enum's values`);
    case 'array': {
      if (!Array.isArray(v)) throw new Misfit(`${typeName(v)} is not an array`);
      return `[${v.map((x) => convert(x, t.of)).join(',')}]`;
    }
    case 'map': {
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw new Misfit(`${typeName(v)} is not an object`);
      const parts: string[] = [];
      for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
        if (x === undefined) continue;
        parts.push(`${convert(k, t.key)}:${convert(x, t.value)}`);
      }
      return `{${parts.join(',')}}`;
    }
    case 'json':
      if (v === null || typeof v !== 'object' || Array.isArray(v))
        throw new Misfit(`${typeName(v)} is not an object`);
      return JSON.stringify(v);
    case 'raw':
      return JSON.stringify(v);
  }
}

/** Loose IPv6 check: hex groups and at most one `::`, an optional trailing IPv4. */
function isIPv6(s: string): boolean {
  if (s.length > 45 || !/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  const dbl = s.split('::');
  if (dbl.length > 2) return false;
  let groups = 0;
  for (const half of dbl) {
    if (half === '') continue;
    const parts = half.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i];
      if (i === parts.length - 1 && p.includes('.') && half === dbl[dbl.length - 1]) {
        if (!IPV4_RE.test(p)) return false;
        groups += 2;
      } else if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return false;
      else groups++;
    }
  }
  return dbl.length === 2 ? groups < 8 : groups === 8;
}

function ferryValue(
  c: PlanColumn,
  field: 'event_id' | 'received_at' | 'source',
  meta: RowMeta,
): string {
  if (field === 'event_id')
    return c.type.k === 'string' ? meta.idJson : convert(JSON.parse(meta.idJson), c.type);
  if (field === 'source') return meta.sourceJson;
  return convert(meta.receivedAt, c.type);
}

/** One event (already JSON-parsed) → its row, or the first column it does not fit. */
export function encodeRow(ev: unknown, meta: RowMeta, plan: RowPlan): RowResult {
  let out = '{';
  let first = true;
  for (const c of plan.columns) {
    let text: string;
    try {
      if ('ferry' in c.from) text = ferryValue(c, c.from.ferry, meta);
      else {
        const v = lookup(ev, c.from.path);
        // Missing: the column's default (JSONEachRow fills omitted fields); null too unless Nullable.
        if (v === undefined || (v === null && c.type.k !== 'nullable')) continue;
        text = convert(v, c.type);
      }
    } catch (err) {
      if (err instanceof Misfit) return { ok: false, column: c.name, reason: err.message };
      throw err;
    }
    out += (first ? '' : ',') + c.keyJson + text;
    first = false;
  }
  const ca = plan.catchAll;
  if (ca && ev !== null && typeof ev === 'object' && !Array.isArray(ev)) {
    const rest: Record<string, unknown> = {};
    let any = false;
    for (const k of Object.keys(ev)) {
      if (plan.consumed.includes(k)) continue;
      rest[k] = (ev as Record<string, unknown>)[k];
      any = true;
    }
    if (any || ca.type.k !== 'string') {
      const text =
        ca.type.k === 'string'
          ? JSON.stringify(JSON.stringify(rest))
          : ca.type.k === 'json'
            ? JSON.stringify(rest)
            : `{${Object.entries(rest)
                .map(([k, x]) => `${JSON.stringify(k)}:${JSON.stringify(str(x))}`)
                .join(',')}}`;
      out += (first ? '' : ',') + ca.keyJson + text;
    }
  }
  return { ok: true, line: `${out}}\n` };
}
