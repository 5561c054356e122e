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
import type { FerryField, PlanColumn, RowPlan } from '../src/sinks/clickhouse/row-plan.js';
import { convert, lookup, Misfit, type RowMeta } from './row-convert.js';

const enc = new TextEncoder();
const dec = new TextDecoder();
const QUOTE = 0x22;

/**
 * A plan made ready for the walker, with the per-event scratch state it fills. Kept on an object
 * (not module-level `let`s): the hot loops read it through locals.
 */
interface Compiled {
  /** Distinct top-level keys the plan reads, as bytes. */
  keys: Uint8Array[];
  /** By key length in bytes: the indices into keys (undefined: no key that long). */
  byLen: (number[] | undefined)[];
  /** Per column: index into keys (-1 for ferry fields). */
  slot: Int32Array;
  /** Per column: 1 when its path goes below the top level. */
  nested: Uint8Array;
  /** Per column: 1 when Nullable (a JSON null is written, not left to the default). */
  nullable: Uint8Array;
  /** Per column: 1 when String or Nullable(String) (a JSON string goes in as it is). */
  textual: Uint8Array;
  /** Per column: `,"name":` (the comma skipped for the row's first column). */
  keyBytes: Uint8Array[];
  catchAllKey: Uint8Array | undefined;
  /** The received_at text last rendered, per column (one request's events share it). */
  recvAt: Float64Array;
  recvBytes: Uint8Array[];
  /** The source last written, and its bytes. */
  sourceJson: string;
  sourceBytes: Uint8Array;
  /** Per event: value ranges by key slot (start, end), -1 = absent. */
  starts: Int32Array;
  ends: Int32Array;
  /** Top-level pairs no column reads: [keyStart, valueEnd) ranges, for the catch-all column. */
  rest: Int32Array;
  restN: number;
  /** Per key: 1 when it has no quote or backslash byte. */
  plainKey: Uint8Array;
  /** By key position in the event: the index into keys found there last time (-1: none). */
  guess: Int32Array;
}

const compiledPlans = new WeakMap<RowPlan, Compiled>();
/** The plan of the previous row: a batch's rows share one (skips the WeakMap per event). */
const last: { plan: RowPlan | undefined; c: Compiled | undefined } = {
  plan: undefined,
  c: undefined,
};

function compile(plan: RowPlan): Compiled {
  if (last.plan === plan) return last.c!;
  let c = compiledPlans.get(plan);
  if (!c) {
    c = build(plan);
    compiledPlans.set(plan, c);
  }
  last.plan = plan;
  last.c = c;
  return c;
}

function build(plan: RowPlan): Compiled {
  const keys: Uint8Array[] = [];
  const names: string[] = [];
  const slot = new Int32Array(plan.columns.length);
  const nested = new Uint8Array(plan.columns.length);
  plan.columns.forEach((col, i) => {
    if ('ferry' in col.from) {
      slot[i] = -1;
      return;
    }
    const k = col.from.path[0];
    nested[i] = col.from.path.length > 1 ? 1 : 0;
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
  const byLen: (number[] | undefined)[] = [];
  keys.forEach((k, i) => {
    while (byLen.length <= k.length) byLen.push(undefined);
    const l = byLen[k.length] ?? [];
    l.push(i);
    byLen[k.length] = l;
  });
  return {
    keys,
    byLen,
    slot,
    nested,
    nullable: Uint8Array.from(plan.columns, (col) => (col.type.k === 'nullable' ? 1 : 0)),
    textual: Uint8Array.from(plan.columns, ({ type: t }) =>
      t.k === 'string' || (t.k === 'nullable' && t.of.k === 'string') ? 1 : 0,
    ),
    keyBytes: plan.columns.map((col) => enc.encode(`,${col.keyJson}`)),
    catchAllKey: plan.catchAll ? enc.encode(plan.catchAll.keyJson) : undefined,
    recvAt: new Float64Array(plan.columns.length).fill(Number.NaN),
    recvBytes: plan.columns.map(() => new Uint8Array(0)),
    sourceJson: '',
    sourceBytes: new Uint8Array(0),
    starts: new Int32Array(Math.max(keys.length, 1)),
    ends: new Int32Array(Math.max(keys.length, 1)),
    rest: new Int32Array(128),
    restN: 0,
    plainKey: Uint8Array.from(keys, (k) => (k.includes(QUOTE) || k.includes(0x5c) ? 0 : 1)),
    guess: new Int32Array(32).fill(-1),
  };
}

/** Scratch for short strings on their way into the sink (a copy loop beats Buffer#write's overhead). */
let scratch = new Uint8Array(256);

/**
 * A string into the sink as UTF-8: ASCII by a loop through the scratch bytes, anything else by
 * the runtime's encoder. Short strings only pay off (ids, dates, numbers, the source).
 */
function writeText(out: ByteSink, s: string): void {
  const n = s.length;
  if (n > scratch.length) scratch = new Uint8Array(n * 2);
  const t = scratch;
  for (let i = 0; i < n; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 0x80) {
      out.utf8(s);
      return;
    }
    t[i] = ch;
  }
  out.range(t, 0, n);
}

/** A column's key, after a comma unless it is the row's first. */
function writeKey(out: ByteSink, key: Uint8Array, first: boolean): void {
  out.range(key, first ? 1 : 0, key.length);
}

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

/** Just past the closing quote of the (valid) string starting at b[i]. */
function skipString(b: Uint8Array, i: number, n: number): number {
  // Plain loops, four bytes a turn while none is a quote or a backslash: the values are short,
  // and TypedArray#indexOf costs a call into the runtime each time (it was the walker's largest
  // cost, bench/worker-path.mjs --columns).
  i++;
  while (i + 4 <= n) {
    const a = b[i];
    const c = b[i + 1];
    const d = b[i + 2];
    const e = b[i + 3];
    if (
      a === QUOTE ||
      a === 0x5c ||
      c === QUOTE ||
      c === 0x5c ||
      d === QUOTE ||
      d === 0x5c ||
      e === QUOTE ||
      e === 0x5c
    )
      break;
    i += 4;
  }
  while (i < n) {
    const x = b[i];
    if (x === QUOTE) return i + 1;
    i += x === 0x5c ? 2 : 1;
  }
  return n;
}

/** key equals b[ks, ks + kl) (the caller has checked the length). */
function sameKey(key: Uint8Array, b: Uint8Array, ks: number, kl: number): boolean {
  for (let j = 0; j < kl; j++) if (key[j] !== b[ks + j]) return false;
  return true;
}

/** Fill starts/ends for the plan's keys; false when the event is not an object or a key has escapes. */
function locate(b: Uint8Array, c: Compiled, withRest: boolean): boolean {
  const n = b.length;
  const starts = c.starts;
  const ends = c.ends;
  const keys = c.keys;
  const byLen = c.byLen;
  const guess = c.guess;
  let pos = 0;
  for (let k = 0; k < starts.length; k++) starts[k] = -1;
  c.restN = 0;
  let i = 0;
  while (i < n && isWs(b[i])) i++;
  if (b[i] !== 0x7b) return false;
  i++;
  for (;;) {
    while (i < n && isWs(b[i])) i++;
    if (b[i] === 0x7d) return true;
    if (b[i] !== QUOTE) return false;
    const ks = i + 1;
    let found = -1;
    let ke = -1;
    // Events from one sender list their keys in one order: the key found at this position in
    // the previous event is tried first, without looking for the key's end.
    const g = pos < guess.length ? guess[pos] : -1;
    if (g >= 0) {
      const key = keys[g];
      const kl = key.length;
      if (ks + kl < n && b[ks + kl] === QUOTE && sameKey(key, b, ks, kl)) {
        found = g;
        ke = ks + kl;
      }
    }
    if (ke < 0) {
      // The key: to its closing quote, refusing escapes (the general encoder decodes those).
      ke = ks;
      for (;;) {
        if (ke >= n) return false;
        const x = b[ke];
        if (x === QUOTE) break;
        if (x === 0x5c) return false;
        ke++;
      }
      const kl = ke - ks;
      const cands = kl < byLen.length ? byLen[kl] : undefined;
      if (cands !== undefined)
        for (let m = 0; m < cands.length; m++)
          if (sameKey(keys[cands[m]], b, ks, kl)) {
            found = cands[m];
            break;
          }
      // Only keys without a quote or backslash byte can be matched without the scan above.
      if (pos < guess.length) guess[pos] = found >= 0 && c.plainKey[found] === 1 ? found : -1;
    }
    i = ke + 1;
    while (i < n && b[i] !== 0x3a) i++;
    i++;
    while (i < n && isWs(b[i])) i++;
    const vs = i;
    i = skipValue(b, i, n);
    pos++;
    if (found >= 0) {
      starts[found] = vs;
      ends[found] = i;
    } else if (withRest) {
      let rest = c.rest;
      if (rest.length < c.restN + 2) {
        const next = new Int32Array(rest.length * 2);
        next.set(rest);
        c.rest = rest = next;
      }
      rest[c.restN++] = ks - 1;
      rest[c.restN++] = i;
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
        if (inner.k !== 'date' && e - s <= 15 && isIntToken(b, s, e)) {
          writeEpoch(out, digits(b, s, e), inner);
          return;
        }
        writeText(
          out,
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

/** The digits of a safe integer (a minus sign before a negative one; -0 is "0", as String()). */
function writeInt(out: ByteSink, n: number): void {
  const t = scratch;
  let o = t.length;
  let a = n < 0 ? -n : n;
  do {
    const q = Math.floor(a / 10);
    t[--o] = 0x30 + (a - q * 10);
    a = q;
  } while (a > 0);
  if (n < 0) t[--o] = 0x2d;
  out.range(t, o, t.length);
}

/** The seconds last written by writeEpoch, as digits: one sender's events share their second. */
const lastSecs = { v: Number.NaN, bytes: new Uint8Array(24), n: 0 };

function writeSecs(out: ByteSink, secs: number): void {
  if (secs !== lastSecs.v) {
    const mark = out.len;
    writeInt(out, secs);
    lastSecs.n = out.len - mark;
    lastSecs.bytes.set(out.buf.subarray(mark, out.len));
    lastSecs.v = secs;
    return;
  }
  out.range(lastSecs.bytes, 0, lastSecs.n);
}

const POW10 = [1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9];

/**
 * An epoch integer (s/ms/µs by magnitude, at most 15 digits) as DateTime or DateTime64: the
 * digits written straight into the row, by the same arithmetic as convert() (row-convert.ts),
 * which still words every misfit.
 */
function writeEpoch(
  out: ByteSink,
  v: number,
  t: { k: 'datetime' } | { k: 'datetime64'; precision: number },
): void {
  const a = Math.abs(v);
  const scale = a < 1e11 ? 1 : a < 1e14 ? 1e3 : a < 1e17 ? 1e6 : 1e9;
  const secs = Math.floor(v / scale);
  if (t.k === 'datetime') {
    if (secs < 0 || secs > 4294967295) convert(v, t); // throws the range Misfit
    writeSecs(out, secs);
    return;
  }
  const nanos = Math.min(Math.round((v - secs * scale) * (1e9 / scale)), 999_999_999);
  const p = t.precision;
  if (secs < -2208988800 || secs > 10413791999 || nanos < 0 || !Number.isInteger(p) || p < 0) {
    out.ascii(convert(v, t)); // the misfit, or a form this path does not write
    return;
  }
  out.byte(QUOTE);
  writeSecs(out, secs);
  if (p > 0) {
    // The fraction: the nanoseconds as 9 digits, the first `precision` of them.
    const n = Math.min(p, 9);
    const f = scratch;
    let x = Math.floor(nanos / POW10[9 - n]);
    for (let d = n; d >= 1; d--) {
      const q = Math.floor(x / 10);
      f[d] = 0x30 + (x - q * 10);
      x = q;
    }
    f[0] = 0x2e;
    out.range(f, 0, n + 1);
  }
  out.byte(QUOTE);
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

/** One of ferry's own fields (event_id, received_at, source), with its key; throws Misfit. */
function writeFerryField(
  out: ByteSink,
  c: Compiled,
  col: PlanColumn,
  i: number,
  meta: RowMeta,
  first: boolean,
): void {
  const f = (col.from as { ferry: FerryField }).ferry;
  if (f === 'received_at') {
    // One request's events share it: rendered once, and only remembered once it converted.
    if (c.recvAt[i] !== meta.receivedAt) {
      c.recvBytes[i] = enc.encode(convert(meta.receivedAt, col.type));
      c.recvAt[i] = meta.receivedAt;
    }
    writeKey(out, c.keyBytes[i], first);
    out.range(c.recvBytes[i], 0, c.recvBytes[i].length);
    return;
  }
  if (f === 'source') {
    if (c.sourceJson !== meta.sourceJson) {
      c.sourceJson = meta.sourceJson;
      c.sourceBytes = enc.encode(meta.sourceJson);
    }
    writeKey(out, c.keyBytes[i], first);
    out.range(c.sourceBytes, 0, c.sourceBytes.length);
    return;
  }
  const text = col.type.k === 'string' ? meta.idJson : convert(JSON.parse(meta.idJson), col.type);
  writeKey(out, c.keyBytes[i], first);
  // The runtime's encoder, not writeText: the batcher's idJson is a concatenation, which
  // charCodeAt would first flatten into a new string.
  out.utf8(text);
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
  const { slot: slots, starts, ends, keyBytes, nested, nullable, textual } = c;
  for (let i = 0; i < cols.length; i++) {
    const slot = slots[i];
    try {
      if (slot < 0) {
        writeFerryField(out, c, cols[i], i, meta, first);
        first = false;
        continue;
      }
      const s = starts[slot];
      if (s < 0) continue;
      const e = ends[slot];
      const col = cols[i];
      if (nested[i] === 1) {
        const path = (col.from as { path: string[] }).path;
        const v = lookup(JSON.parse(dec.decode(ev.subarray(s, e))), path.slice(1));
        if (v === undefined || (v === null && nullable[i] === 0)) continue;
        const text = convert(v, col.type);
        writeKey(out, keyBytes[i], first);
        out.utf8(text);
        first = false;
        continue;
      }
      const c0 = ev[s];
      if (c0 === 0x6e && nullable[i] === 0) continue; // null: the column's default
      writeKey(out, keyBytes[i], first);
      // The commonest case without a call: a JSON string into a String column, as it is.
      if (c0 === QUOTE && textual[i] === 1) out.range(ev, s, e);
      else writeValue(out, ev, s, e, col.type);
      first = false;
    } catch (err) {
      if (err instanceof Misfit) {
        out.len = mark;
        return { ok: false, column: cols[i].name, reason: err.message };
      }
      throw err;
    }
  }
  const rest = c.rest;
  const restN = c.restN;
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
