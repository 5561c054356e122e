/**
 * ClickHouse routing on the worker: the table an event's row goes to (an index into
 * `RoutePlan.tables`), or why no route takes it. `_index` and the source cost nothing; a field of
 * the event costs a JSON.parse of the events that may hold it (a byte search rules out the rest).
 */
import type { RoutePlan } from '../src/sinks/clickhouse/route-plan.js';
import { lookup } from './row-convert.js';

export type RouteResult = { table: number } | { table: -1; reason: string };

interface Compiled {
  values: Map<string, number>;
  /** The path's keys as UTF-8 bytes (compared with the event's keys as they are). */
  pathBytes?: Uint8Array[];
}

const compiled = new WeakMap<RoutePlan, Compiled>();
const enc = new TextEncoder();
const dec = new TextDecoder();

function compile(plan: RoutePlan): Compiled {
  let c = compiled.get(plan);
  if (!c) {
    c = { values: new Map(Object.entries(plan.values)) };
    if (plan.by.kind === 'field') c.pathBytes = plan.by.path.map((k) => enc.encode(k));
    compiled.set(plan, c);
  }
  return c;
}

/** The event's route value: a string, a number or a boolean as its JSON text. */
function scalarText(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

export function routeEvent(
  plan: RoutePlan,
  ev: { text?: string; bytes?: Uint8Array; index?: string },
  source: string,
): RouteResult {
  const c = compile(plan);
  let value: string | undefined;
  let absent = '';
  switch (plan.by.kind) {
    case 'index':
      value = ev.index;
      if (value === undefined) absent = ' (the event came through no _bulk index)';
      break;
    case 'source':
      value = source;
      break;
    case 'field': {
      if (ev.bytes) {
        const found = fieldFromBytes(ev.bytes, plan.by.path, c.pathBytes!);
        if (found === ABSENT) {
          absent = ' (absent)';
          break;
        }
        if (found !== FALLBACK) {
          value = found;
          break;
        }
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(ev.text ?? dec.decode(ev.bytes));
      } catch {
        parsed = undefined;
      }
      const v = lookup(parsed, plan.by.path);
      value = scalarText(v);
      if (value === undefined)
        absent =
          v === undefined ? ' (absent)' : ` (${v === null ? 'null' : typeof v}, not a scalar)`;
      break;
    }
  }
  if (value !== undefined) {
    const t = c.values.get(value);
    if (t !== undefined) return { table: t };
  }
  if (plan.unmatched !== 'refuse') return { table: plan.unmatched };
  return {
    table: -1,
    reason:
      value === undefined
        ? `no route for ${plan.what}${absent}`
        : `no route for ${plan.what} = ${JSON.stringify(value).slice(0, 200)}`,
  };
}

const ABSENT = 0;
const FALLBACK = 1;

/**
 * The value at `path` read from the event's bytes (already validated JSON) without building
 * objects: a string without escapes, a number or true/false as its text. ABSENT only when that
 * is certain (no key at the first level, none spelled with escapes); FALLBACK for everything the
 * slow path words better or decides differently (null, objects, escapes, a missing nested key that
 * a literal dotted key could stand for). Duplicate keys: the last one wins, as in JSON.parse.
 */
function fieldFromBytes(
  b: Uint8Array,
  path: readonly string[],
  keys: readonly Uint8Array[],
): string | typeof ABSENT | typeof FALLBACK {
  let p = ws(b, 0);
  for (let i = 0; i < path.length; i++) {
    if (b[p] !== 0x7b) return FALLBACK; // not an object
    let match = -1;
    let escapedKey = false;
    p = ws(b, p + 1);
    while (b[p] !== 0x7d) {
      if (p >= b.length || b[p] !== 0x22) return FALLBACK;
      // A key.
      const kStart = p + 1;
      const kEnd = stringEnd(b, p);
      if (b.subarray(kStart, kEnd).includes(0x5c)) escapedKey = true;
      else if (sameBytes(b, kStart, kEnd, keys[i])) match = -2;
      p = ws(b, kEnd + 1);
      p = ws(b, p + 1); // the colon
      if (match === -2) match = p;
      p = ws(b, valueEnd(b, p));
      if (b[p] === 0x2c) p = ws(b, p + 1);
    }
    if (match < 0) return i === 0 && path.length === 1 && !escapedKey ? ABSENT : FALLBACK;
    if (escapedKey) return FALLBACK;
    p = match;
  }
  const c = b[p];
  if (c === 0x22) {
    const end = stringEnd(b, p);
    const s = b.subarray(p + 1, end);
    return s.includes(0x5c) ? FALLBACK : dec.decode(s);
  }
  if (c === 0x74 || c === 0x66) return c === 0x74 ? 'true' : 'false';
  if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
    // Only a plain integer reads the same as JSON.parse then String() (not 7.0, 1e2, -0).
    const text = dec.decode(b.subarray(p, valueEnd(b, p)));
    return /^(0|-?[1-9]\d{0,14})$/.test(text) ? text : FALLBACK;
  }
  return FALLBACK;
}

function ws(b: Uint8Array, p: number): number {
  while (p < b.length) {
    const c = b[p];
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    p++;
  }
  return p;
}

/** The index of the quote closing the string that opens at p. */
function stringEnd(b: Uint8Array, p: number): number {
  for (let i = p + 1; i < b.length; i++) {
    const c = b[i];
    if (c === 0x5c) i++;
    else if (c === 0x22) return i;
  }
  return b.length;
}

/** The index just past the value that starts at p. */
function valueEnd(b: Uint8Array, p: number): number {
  const c = b[p];
  if (c === 0x22) return stringEnd(b, p) + 1;
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (let i = p; i < b.length; i++) {
      const d = b[i];
      if (d === 0x22) i = stringEnd(b, i);
      else if (d === 0x7b || d === 0x5b) depth++;
      else if ((d === 0x7d || d === 0x5d) && --depth === 0) return i + 1;
    }
    return b.length;
  }
  let i = p;
  while (i < b.length) {
    const d = b[i];
    if (
      d === 0x2c ||
      d === 0x7d ||
      d === 0x5d ||
      d === 0x20 ||
      d === 0x0a ||
      d === 0x0d ||
      d === 0x09
    )
      break;
    i++;
  }
  return i;
}

function sameBytes(b: Uint8Array, from: number, to: number, key: Uint8Array): boolean {
  if (to - from !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (b[from + i] !== key[i]) return false;
  return true;
}
