/**
 * Columns mode without JSON.parse of the event: the event's bytes (already validated by the
 * parser) are walked once for their top-level fields, and each column's value is copied from the
 * bytes where the type allows it as it is — a JSON string into a String column, a JSON number
 * into a Float column, an integer token into an Int column after a range check. Anything else
 * (nested paths, dates given as strings, arrays of non-strings, Maps, …) takes the general
 * conversion of row-convert.ts on that value alone. The result is the same row as encodeRow
 * builds, except that objects kept as text keep the spacing they arrived with.
 */
import type { ByteSink } from './byte-sink.js';
import type { ColumnType } from '../src/sinks/clickhouse/column-type.js';
import type { RowPlan } from '../src/sinks/clickhouse/row-plan.js';
import { convert, lookup, Misfit, type RowMeta } from './row-convert.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const QUOTE = 0x22;

interface Compiled {
  /** Distinct top-level keys the plan reads, as bytes. */
  keys: Uint8Array[];
  /** By key length: the indices into keys. */
  byLen: Map<number, number[]>;
  /** Per column: index into keys (-1 for ferry fields). */
  slot: Int32Array;
  keyBytes: Uint8Array[];
  catchAllKey: Uint8Array | undefined;
  /** The received_at text last rendered, per column (one request's events share it). */
  recvAt: Float64Array;
  recvText: string[];
}

const compiledPlans = new WeakMap<RowPlan, Compiled>();

function compile(plan: RowPlan): Compiled {
  let c = compiledPlans.get(plan);
  if (c) return c;
  const keys: Uint8Array[] = [];
  const names: string[] = [];
  const slot = new Int32Array(plan.columns.length);
  plan.columns.forEach((col, i) => {
    if ('ferry' in col.from) {
      slot[i] = -1;
      return;
    }
    const k = col.from.path[0];
    let at = names.indexOf(k);
    if (at < 0) {
      at = names.length;
      names.push(k);
      keys.push(enc.encode(k));
    }
    slot[i] = at;
  });
  for (const k of plan.consumed)
    if (!names.includes(k)) {
      names.push(k);
      keys.push(enc.encode(k));
    }
  const byLen = new Map<number, number[]>();
  keys.forEach((k, i) => {
    const l = byLen.get(k.length) ?? [];
    l.push(i);
    byLen.set(k.length, l);
  });
  c = {
    keys,
    byLen,
    slot,
    keyBytes: plan.columns.map((col) => enc.encode(col.keyJson)),
    catchAllKey: plan.catchAll ? enc.encode(plan.catchAll.keyJson) : undefined,
    recvAt: new Float64Array(plan.columns.length).fill(Number.NaN),
    recvText: plan.columns.map(() => ''),
  };
  compiledPlans.set(plan, c);
  return c;
}

// Per event: value ranges by key slot (start, end), -1 = absent. Grown as plans need.
let starts = new Int32Array(64);
let ends = new Int32Array(64);
/** Top-level pairs no column reads: [keyStart, valueEnd) ranges, for the catch-all column. */
let rest = new Int32Array(128);
let restN = 0;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** End of the (valid) JSON value starting at b[i]. */
function skipValue(b: Uint8Array, i: number, n: number): number {
  const c = b[i];
  if (c === QUOTE) return skipString(b, i, n);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    while (i < n) {
      const x = b[i];
      if (x === QUOTE) {
        i = skipString(b, i, n);
        continue;
      }
      if (x === 0x7b || x === 0x5b) depth++;
      else if (x === 0x7d || x === 0x5d) {
        depth--;
        if (depth === 0) return i + 1;
      }
      i++;
    }
    return n;
  }
  while (i < n) {
    const x = b[i];
    if (x === 0x2c || x === 0x7d || x === 0x5d || isWs(x)) return i;
    i++;
  }
  return n;
}

function skipString(b: Uint8Array, i: number, n: number): number {
  // The closing quote by the runtime's own (vectorised) search, then: is it escaped?
  i++;
  for (;;) {
    const q = b.indexOf(QUOTE, i);
    if (q < 0 || q >= n) return n;
    let k = q - 1;
    while (k >= i && b[k] === 0x5c) k--;
    if ((q - 1 - k) % 2 === 0) return q + 1;
    i = q + 1;
  }
}

/** Fill starts/ends for the plan's keys; false when the event is not an object or a key has escapes. */
function locate(b: Uint8Array, c: Compiled, withRest: boolean): boolean {
  const n = b.length;
  if (starts.length < c.keys.length) {
    starts = new Int32Array(c.keys.length * 2);
    ends = new Int32Array(c.keys.length * 2);
  }
  starts.fill(-1, 0, c.keys.length);
  restN = 0;
  let i = 0;
  while (i < n && isWs(b[i])) i++;
  if (b[i] !== 0x7b) return false;
  i++;
  for (;;) {
    while (i < n && isWs(b[i])) i++;
    if (b[i] === 0x7d) return true;
    if (b[i] !== QUOTE) return false;
    const ks = i + 1;
    const kEnd = skipString(b, i, n);
    const ke = kEnd - 1;
    for (let j = ks; j < ke; j++) if (b[j] === 0x5c) return false;
    i = kEnd;
    while (i < n && b[i] !== 0x3a) i++;
    i++;
    while (i < n && isWs(b[i])) i++;
    const vs = i;
    i = skipValue(b, i, n);
    let found = -1;
    const cands = c.byLen.get(ke - ks);
    if (cands)
      for (const k of cands) {
        const key = c.keys[k];
        let same = true;
        for (let j = 0; j < key.length; j++)
          if (key[j] !== b[ks + j]) {
            same = false;
            break;
          }
        if (same) {
          found = k;
          break;
        }
      }
    if (found >= 0) {
      starts[found] = vs;
      ends[found] = i;
    } else if (withRest) {
      if (rest.length < restN + 2) {
        const next = new Int32Array(rest.length * 2);
        next.set(rest);
        rest = next;
      }
      rest[restN++] = ks - 1;
      rest[restN++] = i;
    }
    while (i < n && isWs(b[i])) i++;
    if (b[i] === 0x2c) i++;
    else return b[i] === 0x7d;
  }
}

/** b[s, e) holds an integer token (no fraction, no exponent). */
function isIntToken(b: Uint8Array, s: number, e: number): boolean {
  let i = b[s] === 0x2d ? s + 1 : s;
  if (i >= e) return false;
  for (; i < e; i++) if (b[i] < 0x30 || b[i] > 0x39) return false;
  return true;
}

const INT_MAX: Record<number, [number, number]> = {
  8: [-128, 127],
  16: [-32768, 32767],
  32: [-2147483648, 2147483647],
};
const UINT_MAX: Record<number, number> = { 8: 255, 16: 65535, 32: 4294967295 };

/** The value of an integer token of at most 15 digits, without a string. */
function digits(b: Uint8Array, s: number, e: number): number {
  const neg = b[s] === 0x2d;
  let v = 0;
  for (let i = neg ? s + 1 : s; i < e; i++) v = v * 10 + (b[i] - 0x30);
  return neg ? -v : v;
}

function latin1(b: Uint8Array, s: number, e: number): string {
  return String.fromCharCode.apply(null, b.subarray(s, e) as unknown as number[]);
}

/**
 * Write the value b[s, e) for a column of type t, or throw Misfit. The fast cases copy bytes;
 * the rest parse the value alone and use the general conversion.
 */
function writeValue(out: ByteSink, b: Uint8Array, s: number, e: number, t: ColumnType): void {
  const c0 = b[s];
  const inner = t.k === 'nullable' ? t.of : t;
  if (c0 === 0x6e /* null */) {
    out.ascii(convert(null, t));
    return;
  }
  switch (inner.k) {
    case 'string':
      if (c0 === QUOTE) out.range(b, s, e);
      else if (c0 === 0x7b || c0 === 0x5b) {
        out.byte(QUOTE);
        out.jsonStringBody(b, s, e);
        out.byte(QUOTE);
      } else {
        out.byte(QUOTE);
        out.range(b, s, e);
        out.byte(QUOTE);
      }
      return;
    case 'float':
      if (c0 !== QUOTE && c0 !== 0x74 && c0 !== 0x66 && c0 !== 0x7b && c0 !== 0x5b) {
        if (inner.bits === 32) convert(Number(latin1(b, s, e)), inner); // range check
        out.range(b, s, e);
        return;
      }
      break;
    case 'int':
      if (inner.bits <= 32 && e - s <= 12 && isIntToken(b, s, e)) {
        const v = digits(b, s, e);
        const ok = inner.signed
          ? v >= INT_MAX[inner.bits][0] && v <= INT_MAX[inner.bits][1]
          : v >= 0 && v <= UINT_MAX[inner.bits];
        if (!ok) convert(v, inner); // throws the range Misfit
        out.range(b, s, e);
        return;
      }
      break;
    case 'datetime':
    case 'datetime64':
    case 'date':
      if (c0 !== QUOTE && c0 !== 0x7b && c0 !== 0x5b && c0 !== 0x74 && c0 !== 0x66) {
        out.ascii(
          convert(
            e - s <= 15 && isIntToken(b, s, e) ? digits(b, s, e) : Number(latin1(b, s, e)),
            inner,
          ),
        );
        return;
      }
      break;
    case 'array':
      if (inner.of.k === 'string' && c0 === 0x5b && arrayOfStrings(b, s, e)) {
        out.range(b, s, e);
        return;
      }
      break;
  }
  out.utf8(convert(JSON.parse(dec.decode(b.subarray(s, e))), t));
}

/** b[s, e) is an array whose elements are all strings. */
function arrayOfStrings(b: Uint8Array, s: number, e: number): boolean {
  let i = s + 1;
  for (;;) {
    while (i < e && isWs(b[i])) i++;
    if (b[i] === 0x5d) return true;
    if (b[i] !== QUOTE) return false;
    i = skipString(b, i, e);
    while (i < e && isWs(b[i])) i++;
    if (b[i] === 0x2c) i++;
    else return b[i] === 0x5d;
  }
}

export type BytesRowResult = { ok: true } | { ok: false; column: string; reason: string };

/**
 * Append the event's row to `out`, or leave `out` as it was and say which column the event does
 * not fit. `ev`: the event's UTF-8 bytes (valid JSON); undefined return means "not an object the
 * walker reads" — the caller uses encodeRow instead.
 */
export function writeColumnsRow(
  out: ByteSink,
  ev: Uint8Array,
  meta: RowMeta,
  plan: RowPlan,
): BytesRowResult | undefined {
  const c = compile(plan);
  if (!locate(ev, c, plan.catchAll !== undefined)) return undefined;
  const mark = out.len;
  out.byte(0x7b);
  let first = true;
  const cols = plan.columns;
  for (let i = 0; i < cols.length; i++) {
    const col = cols[i];
    const slot = c.slot[i];
    try {
      if (slot < 0) {
        const f = (col.from as { ferry: 'event_id' | 'received_at' | 'source' }).ferry;
        const text =
          f === 'source'
            ? meta.sourceJson
            : f === 'event_id'
              ? col.type.k === 'string'
                ? meta.idJson
                : convert(JSON.parse(meta.idJson), col.type)
              : c.recvAt[i] === meta.receivedAt
                ? c.recvText[i]
                : ((c.recvAt[i] = meta.receivedAt),
                  (c.recvText[i] = convert(meta.receivedAt, col.type)));
        if (!first) out.byte(0x2c);
        out.range(c.keyBytes[i], 0, c.keyBytes[i].length);
        // received_at renders as digits or a date: ASCII; ids and sources may not be.
        out.text(text, f === 'received_at');
        first = false;
        continue;
      }
      const s = starts[slot];
      if (s < 0) continue;
      const e = ends[slot];
      const path = (col.from as { path: string[] }).path;
      if (path.length > 1) {
        const v = lookup(JSON.parse(dec.decode(ev.subarray(s, e))), path.slice(1));
        if (v === undefined || (v === null && col.type.k !== 'nullable')) continue;
        const text = convert(v, col.type);
        if (!first) out.byte(0x2c);
        out.range(c.keyBytes[i], 0, c.keyBytes[i].length);
        out.utf8(text);
        first = false;
        continue;
      }
      if (ev[s] === 0x6e && col.type.k !== 'nullable') continue; // null: the column's default
      if (!first) out.byte(0x2c);
      out.range(c.keyBytes[i], 0, c.keyBytes[i].length);
      writeValue(out, ev, s, e, col.type);
      first = false;
    } catch (err) {
      if (err instanceof Misfit) {
        out.len = mark;
        return { ok: false, column: col.name, reason: err.message };
      }
      throw err;
    }
  }
  const ca = plan.catchAll;
  if (ca && (restN > 0 || ca.type.k !== 'string')) {
    if (!first) out.byte(0x2c);
    out.bytes(c.catchAllKey!);
    if (ca.type.k === 'string') {
      out.ascii('"{');
      for (let r = 0; r < restN; r += 2) {
        if (r > 0) out.ascii(',');
        out.jsonStringBody(ev, rest[r], rest[r + 1]);
      }
      out.ascii('}"');
    } else if (ca.type.k === 'json') {
      out.ascii('{');
      for (let r = 0; r < restN; r += 2) {
        if (r > 0) out.ascii(',');
        out.range(ev, rest[r], rest[r + 1]);
      }
      out.ascii('}');
    } else {
      // Map(String, String): each value as a string.
      out.ascii('{');
      for (let r = 0; r < restN; r += 2) {
        if (r > 0) out.ascii(',');
        const ks = rest[r];
        const ke = skipString(ev, ks, rest[r + 1]);
        out.range(ev, ks, ke);
        out.ascii(':');
        let vs = ke;
        while (ev[vs] !== 0x3a) vs++;
        vs++;
        while (isWs(ev[vs])) vs++;
        writeValue(out, ev, vs, rest[r + 1], { k: 'string' });
      }
      out.ascii('}');
    }
  }
  out.pair(0x7d, 0x0a);
  return { ok: true };
}
