import { Buffer } from 'node:buffer';
import type { BulkItem } from './bulk-parse.js';
import { filterValue, parseFilterPath } from '../src/sources/bulk/filter-path.js';

/**
 * The `_bulk` answer, rendered on the worker (it has the items; the main thread only adds `took`):
 * `{"took","errors","items":[{<op>:{_index,_id,…,status[,error]}}]}`, the shape of Elasticsearch's.
 * Stored documents are `result: "created"`, status 201 (ferry appends; a repeated `_id` is
 * deduplicated downstream by event_id, not refused with 409). `filter_path` is applied here.
 */
export interface BulkAnswer {
  /**
   * The members after `took`, without the braces: `"errors":…,"items":[…]` (filtered). A string:
   * it is cloned onto the main thread's heap, where a short-lived string costs a scavenge, while a
   * buffer each request is external memory that drives the platform's GC threads (measured:
   * ~+10 % CPU per request).
   */
  rest: string;
  /** The filter keeps `took`: the main thread puts it first (only it knows the time). */
  took: boolean;
  /** Items by `<action> <status>`, for the metrics. */
  counts: Record<string, number>;
}

/**
 * A stored document's item tail. Elasticsearch also sends `_shards`, `_seq_no` and `_primary_term`;
 * ferry has neither shards nor sequence numbers, no client reads them, and they would double the
 * answer's size (docs/protocols.md, "What is emulated").
 */
const CREATED_TAIL = ',"_version":1,"result":"created","status":201}}';
/** Printable ASCII without `"` and `\`: its own JSON string body. */
const SAFE = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;
const str = (s: string) => (SAFE.test(s) ? `"${s}"` : JSON.stringify(s));

export function renderBulkAnswer(items: readonly BulkItem[], filterPath?: string): BulkAnswer {
  const counts: Record<string, number> = {};
  let errors = false;
  // Counted by runs of equal (action, status): no key string per item.
  let run = 0;
  for (let i = 0; i <= items.length; i++) {
    const it = items[i];
    const prev = items[i - 1];
    if (i > 0 && (it === undefined || it.op !== prev.op || it.status !== prev.status)) {
      const k = `${prev.op} ${prev.status}`;
      counts[k] = (counts[k] ?? 0) + run;
      run = 0;
    }
    if (it === undefined) break;
    run++;
    if (it.status >= 300) errors = true;
  }
  const paths = parseFilterPath(filterPath);
  if (!paths) {
    // Pieces joined once: a flat string, which postMessage copies as it is, where a rope of
    // `+=` pieces is flattened first (that cost more than rendering it).
    const parts: string[] = [`"errors":${errors},"items":[`];
    // The item head repeats (same action, same index): render it once per run of equal ones.
    let lastOp = '';
    let lastIndex: string | undefined;
    let head = '';
    for (let i = 0; i < items.length; i++) {
      const it = items[i];
      if (it.op !== lastOp || it.index !== lastIndex) {
        lastOp = it.op;
        lastIndex = it.index;
        head = `{"${it.op}":{"_index":${str(it.index)}`;
      }
      if (i > 0) parts.push(',');
      if (it.type === undefined && it.id !== undefined) {
        // A stored document (the common item).
        parts.push(head, ',"_id":', it.plainId ? `"${it.id}"` : str(it.id), CREATED_TAIL);
      } else parts.push(itemText(it, head));
    }
    parts.push(']');
    return { rest: parts.join(''), took: true, counts };
  }
  const whole = {
    took: 0,
    errors,
    items: items.map((it) => JSON.parse(itemText(it, `{"${it.op}":{"_index":${str(it.index)}`))),
  };
  const value = (filterValue(whole, paths) ?? {}) as Record<string, unknown>;
  const took = 'took' in value;
  delete value.took;
  return { rest: JSON.stringify(value).slice(1, -1), took, counts };
}

function itemText(it: BulkItem, head: string): string {
  const withId = it.id === undefined ? head : `${head},"_id":${str(it.id)}`;
  if (it.type === undefined) return withId + CREATED_TAIL;
  return `${withId},"status":${it.status},"error":${JSON.stringify({ type: it.type, reason: it.reason })}}}`;
}

/**
 * The whole answer: `took` (when kept) first, then what the worker rendered, written into one
 * buffer: joining the text with `took` (and node:http with its header) made two more copies of it
 * on the main thread's heap per request.
 */
export function wrapBulkAnswer(
  a: Pick<BulkAnswer, 'rest' | 'took'>,
  tookMs: number,
  pretty = false,
): Uint8Array {
  const n = Buffer.byteLength(a.rest);
  const head = a.took ? (n > 0 ? `{"took":${tookMs},` : `{"took":${tookMs}`) : '{';
  const out = Buffer.allocUnsafe(head.length + n + 1);
  const o = out.write(head, 0, 'latin1');
  out.write(a.rest, o, 'utf8');
  out[o + n] = 0x7d; // }
  return pretty ? Buffer.from(JSON.stringify(JSON.parse(out.toString()), null, 2)) : out;
}
