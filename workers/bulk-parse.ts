/**
 * The Elasticsearch `_bulk` body, decoded on the worker: NDJSON pairs of an action/metadata line
 * and (for index, create and update) a source line. What Elasticsearch refuses as a whole (an
 * action line that is not an action, a missing index, no final newline) refuses the request; what
 * it refuses per document (a source that is not a JSON object, a bad index name) fails only that
 * item, and the other documents become events. `update` and `delete` cannot apply to an
 * append-only archive: each is answered as a failed item, never dropped.
 * Mapping and wording: docs/protocols.md, "Elasticsearch _bulk".
 */
import { Buffer } from 'node:buffer';
import { scanObject } from './json-scan.js';
import {
  isUtf8,
  LIMITS,
  limitMessage,
  scannedEvent,
  cleanJsonMessage,
  MAX_EVENT_BYTES,
  type ParsedEvent,
} from './parse.js';
import { eventIdOf, MAX_EVENT_ID_LENGTH } from './event-id.js';

export type BulkOp = 'index' | 'create' | 'update' | 'delete';

/** One item of the answer, in request order (the main thread renders it as Elasticsearch does). */
export interface BulkItem {
  op: BulkOp;
  index: string;
  /** The `_id` sent, or the event_id ferry gave the document. */
  id?: string;
  /**
   * The id needs no JSON escaping: the sha256 hex ferry derived, or an `_id` read from the
   * request's bytes between quotes with no escape in it.
   */
  plainId?: boolean;
  status: number;
  /** Set when the item failed: Elasticsearch's error `type` and `reason`. */
  type?: string;
  reason?: string;
}

export type BulkParseResult =
  | { ok: true; events: ParsedEvent[]; items: BulkItem[] }
  /** The whole request is refused (400), with Elasticsearch's error type and reason. */
  | { ok: false; type: string; reason: string };

const OPS: ReadonlySet<string> = new Set(['index', 'create', 'update', 'delete']);
const utf8Lax = new TextDecoder('utf-8');

function refuse(type: string, reason: string): BulkParseResult {
  return { ok: false, type, reason };
}

interface Action {
  op: BulkOp;
  index: string | undefined;
  id: string | undefined;
  /** Why the `_id` cannot be an event_id (item error), if so. */
  idError?: string;
  /** The `_id` came from the bytes without escapes (BulkItem.plainId). */
  plainId?: boolean;
}

export function parseBulk(body: Uint8Array, defaultIndex: string | undefined): BulkParseResult {
  const n = body.length;
  if (n === 0)
    return refuse(
      'action_request_validation_exception',
      'Validation Failed: 1: no requests added;',
    );
  if (body[n - 1] !== 0x0a)
    return refuse(
      'illegal_argument_exception',
      'The bulk request must be terminated by a newline [\\n]',
    );
  const allUtf8 = isUtf8(body);
  const buf = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const events: ParsedEvent[] = [];
  const items: BulkItem[] = [];
  let i = 0;
  let line = 0;
  let indexMissing = false;
  let prev: Action | undefined;
  let prevStart = 0;
  let prevEnd = 0;
  let checkedIndex: string | undefined;
  let checkedError: string | undefined;
  const indexCache: IndexCache = { bytes: new Uint8Array(0), value: '' };
  // Buffer#indexOf (memchr) and a byte loop for the short action lines: Uint8Array#indexOf and
  // Buffer#compare cost more per call than the rest of an item's parse (bench/RESULTS.md, WB).
  while (i < n) {
    const nl = buf.indexOf(0x0a, i);
    line++;
    const aStart = i;
    const aEnd = trimEnd(body, aStart, nl);
    i = nl + 1;
    if (isBlank(body, aStart, aEnd)) continue;
    if (!allUtf8 && !isUtf8(body.subarray(aStart, aEnd)))
      return refuse(
        'illegal_argument_exception',
        `Malformed action/metadata line [${line}], invalid UTF-8`,
      );
    // Shippers repeat one action line (`{"index":{"_index":"logs"}}`) for every document: reuse it.
    const same =
      prev !== undefined &&
      aEnd - aStart === prevEnd - prevStart &&
      sameBytes(body, prevStart, aStart, aEnd - aStart);
    const action = same
      ? prev!
      : (quickAction(body, buf, aStart, aEnd, defaultIndex, indexCache) ??
        parseAction(buf.toString('utf8', aStart, aEnd), line, defaultIndex));
    if ('type' in action) return action;
    prev = action;
    prevStart = aStart;
    prevEnd = aEnd;
    const { op, id } = action;
    // Elasticsearch validates after parsing the whole body: a later malformed line wins.
    if (action.index === undefined) indexMissing = true;
    const index = action.index ?? '';
    if (op === 'delete') {
      items.push(unsupported(op, index, id));
      continue;
    }
    if (i >= n)
      return refuse(
        'illegal_argument_exception',
        `Malformed action/metadata line [${line}], the [${op}] action has no source line after it`,
      );
    const sNl = buf.indexOf(0x0a, i);
    line++;
    const sStart = skipWs(body, i, sNl);
    const sEnd = trimEnd(body, sStart, sNl);
    i = sNl + 1;
    if (op === 'update') {
      items.push(unsupported(op, index, id));
      continue;
    }
    // Checked once per run of one index: shippers send one index for many documents.
    if (index !== checkedIndex) {
      checkedIndex = index;
      checkedError = indexNameError(index);
    }
    const badIndex = checkedError;
    if (badIndex) {
      items.push(
        failed(
          op,
          index,
          id,
          'invalid_index_name_exception',
          `Invalid index name [${index}], ${badIndex}`,
        ),
      );
      continue;
    }
    if (action.idError) {
      items.push(failed(op, index, id, 'illegal_argument_exception', action.idError));
      continue;
    }
    const ev = sourceEvent(body, sStart, sEnd, allUtf8, line, id);
    if (typeof ev === 'string') {
      items.push(failed(op, index, id, 'document_parsing_exception', ev));
      continue;
    }
    ev.index = index;
    events.push(ev);
    items.push({
      op,
      index,
      id: ev.id,
      status: 201,
      plainId: ev.hashed === true || (id !== undefined && action.plainId === true),
    });
  }
  if (indexMissing)
    return refuse('action_request_validation_exception', 'Validation Failed: 1: index is missing;');
  if (items.length === 0)
    return refuse(
      'action_request_validation_exception',
      'Validation Failed: 1: no requests added;',
    );
  return { ok: true, events, items };
}

function parseAction(
  text: string,
  line: number,
  defaultIndex: string | undefined,
): Action | (BulkParseResult & { ok: false }) {
  const malformed = (why: string) =>
    refuse(
      'illegal_argument_exception',
      `Malformed action/metadata line [${line}], ${why}`,
    ) as BulkParseResult & {
      ok: false;
    };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return malformed(`not JSON: ${cleanJsonMessage(err as Error)}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return malformed('expected START_OBJECT');
  const keys = Object.keys(value);
  if (keys.length !== 1)
    return malformed(
      keys.length === 0
        ? 'expected FIELD_NAME but found [END_OBJECT]'
        : 'expected END_OBJECT but found [FIELD_NAME]',
    );
  const op = keys[0];
  if (!OPS.has(op))
    return malformed(`expected field [create], [delete], [index] or [update] but found [${op}]`);
  const meta = (value as Record<string, unknown>)[op];
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta))
    return malformed(
      `expected START_OBJECT but found [${meta === null ? 'VALUE_NULL' : Array.isArray(meta) ? 'START_ARRAY' : 'VALUE'}]`,
    );
  const m = meta as Record<string, unknown>;
  let index = defaultIndex;
  if (m._index !== undefined) {
    if (typeof m._index !== 'string') return malformed('[_index] must be a string');
    index = m._index;
  }
  let id: string | undefined;
  let idError: string | undefined;
  if (m._id !== undefined && m._id !== null) {
    if (typeof m._id === 'string') id = m._id;
    else if (typeof m._id === 'number' && Number.isFinite(m._id)) id = String(m._id);
    else return malformed('[_id] must be a string');
    if (id.length === 0) idError = 'if _id is specified it must not be empty';
    else if (id.length > MAX_EVENT_ID_LENGTH)
      idError = `id [${id.slice(0, 32)}…] is too long, must be no longer than ${MAX_EVENT_ID_LENGTH} characters (ferry's event_id limit)`;
  }
  return { op: op as BulkOp, index, id, idError };
}

/** The actions by their name's bytes (`index` is 5 long, the others 6). */
const OP_BYTES: readonly [BulkOp, Uint8Array][] = (
  ['index', 'create', 'update', 'delete'] as const
).map((op) => [op, Buffer.from(op, 'latin1')]);
const KEY_INDEX = Buffer.from('_index', 'latin1');
const KEY_ID = Buffer.from('_id', 'latin1');

/** The last `_index` value quickAction read, by its bytes: shippers send one index for many lines. */
interface IndexCache {
  bytes: Uint8Array;
  value: string;
}

/**
 * The action lines clients write (`{"index":{"_index":"logs","_id":"abc"}}`: compact, only
 * `_index`/`_id`, strings without escapes) read straight from the bytes; undefined for anything
 * else, which parseAction reads with JSON.parse — the two agree on every line this accepts.
 * Names are matched as bytes and a repeated `_index` reuses its string: a string per name cost
 * more than the rest of the line (bench/bulk-parse.mjs, WB with `_id`).
 */
function quickAction(
  b: Uint8Array,
  buf: Buffer,
  s: number,
  e: number,
  defaultIndex: string | undefined,
  cache: IndexCache,
): Action | undefined {
  // {"
  if (b[s] !== 0x7b || b[s + 1] !== 0x22 || b[e - 1] !== 0x7d || b[e - 2] !== 0x7d)
    return undefined;
  let i = s + 2;
  const opEnd = quote(b, i, e);
  if (opEnd < 0) return undefined;
  let op: BulkOp | undefined;
  for (const [name, bytes] of OP_BYTES)
    if (equalAt(b, i, opEnd, bytes)) {
      op = name;
      break;
    }
  if (op === undefined) return undefined;
  i = opEnd + 1;
  if (b[i] !== 0x3a || b[i + 1] !== 0x7b) return undefined; // :{
  i += 2;
  let index = defaultIndex;
  let indexSeen = false;
  let id: string | undefined;
  const close = e - 2; // the inner object's }
  let first = true;
  while (i < close) {
    if (!first) {
      if (b[i] !== 0x2c) return undefined; // ,
      i++;
    }
    first = false;
    if (b[i] !== 0x22) return undefined;
    const kEnd = quote(b, i + 1, close);
    if (kEnd < 0) return undefined;
    const isIndex = equalAt(b, i + 1, kEnd, KEY_INDEX);
    if (!isIndex && !equalAt(b, i + 1, kEnd, KEY_ID)) return undefined;
    if (b[kEnd + 1] !== 0x3a || b[kEnd + 2] !== 0x22) return undefined; // :"
    const vStart = kEnd + 3;
    let j = vStart;
    while (j < close && b[j] !== 0x22) {
      if (b[j] === 0x5c || b[j] < 0x20) return undefined; // an escape or a control byte
      j++;
    }
    if (j >= close) return undefined;
    if (isIndex) {
      if (indexSeen) return undefined; // a repeated key: JSON.parse's rules decide
      indexSeen = true;
      if (!equalAt(b, vStart, j, cache.bytes)) {
        cache.bytes = b.slice(vStart, j);
        cache.value = buf.toString('utf8', vStart, j);
      }
      index = cache.value;
    } else {
      if (id !== undefined) return undefined;
      id = buf.toString('utf8', vStart, j);
    }
    i = j + 1;
  }
  if (i !== close) return undefined;
  let idError: string | undefined;
  if (id !== undefined) {
    if (id.length === 0) idError = 'if _id is specified it must not be empty';
    else if (id.length > MAX_EVENT_ID_LENGTH) return undefined;
  }
  // Read between quotes with no escape or control byte: the id is its own JSON string body.
  return { op, index, id, idError, plainId: true };
}

/** The next `"` in b[i, end), or -1. */
function quote(b: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) if (b[i] === 0x22) return i;
  return -1;
}

/** b[s, e) holds exactly `bytes`. */
function equalAt(b: Uint8Array, s: number, e: number, bytes: Uint8Array): boolean {
  if (e - s !== bytes.length) return false;
  for (let k = 0; k < bytes.length; k++) if (b[s + k] !== bytes[k]) return false;
  return true;
}

/** The source line as an event, or why the document cannot be one (an item error). */
function sourceEvent(
  body: Uint8Array,
  s: number,
  e: number,
  allUtf8: boolean,
  line: number,
  id: string | undefined,
): ParsedEvent | string {
  if (s >= e) return 'failed to parse, document is empty';
  const bytes = body.subarray(s, e);
  if (!allUtf8 && !isUtf8(bytes)) return `[${line}:1] failed to parse: invalid UTF-8`;
  if (e - s > MAX_EVENT_BYTES) return `failed to parse: document ${limitMessage('bytes', e - s)}`;
  const r = scanObject(body, s, e, LIMITS);
  if (r.ok && r.end === e) {
    if (id !== undefined) return { id, bytes };
    const ev = scannedEvent(r, body, bytes);
    return typeof ev === 'string' ? `failed to parse: ${ev}` : ev;
  }
  if (!r.ok && r.limit !== undefined) return `failed to parse: document ${limitMessage(r.limit)}`;
  // The scanner is stricter than JSON (see json-scan.ts): JSON.parse decides, and words the error.
  const text = utf8Lax.decode(bytes);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `[${line}:1] failed to parse: ${cleanJsonMessage(err as Error)}`;
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return `[${line}:1] failed to parse: the document must be a JSON object`;
  if (id !== undefined) return { id, bytes };
  const eid = eventIdOf(value as Record<string, unknown>, bytes);
  if (typeof eid !== 'string') return `failed to parse: ${eid.error}`;
  return { id: eid, bytes, hashed: (value as Record<string, unknown>).event_id == null };
}

function unsupported(op: BulkOp, index: string, id: string | undefined): BulkItem {
  return failed(
    op,
    index,
    id,
    'illegal_argument_exception',
    `ferry keeps every document as an event and cannot apply [${op}]: only the index and create actions are accepted`,
  );
}

function failed(
  op: BulkOp,
  index: string,
  id: string | undefined,
  type: string,
  reason: string,
): BulkItem {
  return { op, index, id, status: 400, type, reason };
}

const FORBIDDEN = /[\\/*?"<>| ,#:]/;

/** Elasticsearch's rules for an index name (MetadataCreateIndexService), or undefined when valid. */
export function indexNameError(name: string): string | undefined {
  if (name.length === 0) return 'must not be empty';
  if (name !== name.toLowerCase()) return 'must be lowercase';
  if (FORBIDDEN.test(name))
    return 'must not contain the following characters [\\, /, *, ?, ", <, >, |, , ,, #, :]';
  if (name[0] === '_' || name[0] === '-' || name[0] === '+')
    return "must not start with '_', '-', or '+'";
  if (name === '.' || name === '..') return "must not be '.' or '..'";
  const bytes = Buffer.byteLength(name);
  if (bytes > 255) return `index name is too long, (${bytes} > 255)`;
  return undefined;
}

function sameBytes(b: Uint8Array, a: number, c: number, len: number): boolean {
  for (let k = 0; k < len; k++) if (b[a + k] !== b[c + k]) return false;
  return true;
}

function isBlank(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = b[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function skipWs(b: Uint8Array, s: number, e: number): number {
  while (s < e && (b[s] === 0x20 || b[s] === 0x09)) s++;
  return s;
}

function trimEnd(b: Uint8Array, s: number, e: number): number {
  while (e > s && (b[e - 1] === 0x20 || b[e - 1] === 0x09 || b[e - 1] === 0x0d)) e--;
  return e;
}
