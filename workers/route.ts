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
  /** `"<first key>` as bytes (open: a literal dotted key starts so too): an event without it cannot have the field. */
  keyBytes?: Uint8Array;
}

const compiled = new WeakMap<RoutePlan, Compiled>();
const enc = new TextEncoder();
const dec = new TextDecoder();

function compile(plan: RoutePlan): Compiled {
  let c = compiled.get(plan);
  if (!c) {
    c = { values: new Map(Object.entries(plan.values)) };
    if (plan.by.kind === 'field' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]+$/.test(plan.by.path[0]))
      c.keyBytes = enc.encode(`"${plan.by.path[0]}`);
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
      // No backslash: the key cannot be spelled with escapes either.
      if (c.keyBytes && ev.bytes && indexOf(ev.bytes, c.keyBytes) < 0 && !ev.bytes.includes(0x5c)) {
        absent = ' (absent)';
        break;
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

/** First index of needle in hay, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  const first = needle[0];
  const last = hay.length - needle.length;
  outer: for (let i = hay.indexOf(first); i >= 0 && i <= last; i = hay.indexOf(first, i + 1)) {
    for (let j = 1; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
