import * as nodeBuffer from 'node:buffer';
import { Buffer } from 'node:buffer';
import { Unpackr, C1 } from 'msgpackr';
import { locateJsonError } from './json-locate.js';
import { BodyFormat } from '../src/rings/record.js';
import { eventIdOf, DerivedIdEvent, MAX_EVENT_ID_LENGTH } from './event-id.js';
import { scanObject, IdKind, type ScanLimits, type ScanResult } from './json-scan.js';
import { toLosslessJson, msgpackTooDeep } from './msgpack-json.js';
import { parseOtlpProtobuf, parseOtlpJson } from './otlp-logs.js';

/** One validated event: its JSON (as text, or as the body's bytes) and its event_id. */
export interface ParsedEvent {
  /** The event's JSON text; absent when `bytes` hold it (see eventText). */
  text?: string;
  id: string;
  /**
   * The same text as UTF-8 bytes, when they can be taken from the body as they are
   * (an ASCII body, where string and byte offsets agree). A view: valid only while
   * the body is (the worker appends events to the batch before releasing the ring slot).
   */
  bytes?: Uint8Array;
  /**
   * id is ferry's own sha256 hex of the event's bytes as archived (no event_id in the payload):
   * plain ASCII, no escaping needed.
   */
  hashed?: boolean;
  /** The Elasticsearch `_index` it was sent to (the `_bulk` door): kept in the envelope. */
  index?: string;
  /**
   * id is the payload's own top-level `event_id` (eventIdOf's rule). With `hashed`, the two cases
   * archive format 2 recomputes on replay; any other id (e.g. an OTLP attribute's) is stored.
   */
  idField?: boolean;
}

export type ParseResult =
  | {
      ok: true;
      events: ParsedEvent[];
      /** Events refused one by one while the rest are taken (OTLP's partial success). */
      rejected?: number;
      rejectMessage?: string;
    }
  | { ok: false; error: 'malformed_body'; message: string; line?: number; offset?: number };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const utf8Lax = new TextDecoder('utf-8');
/** Node, Bun and Deno have Buffer.isUtf8 (simdutf); the decoder is the fallback. */
export const isUtf8: (b: Uint8Array) => boolean =
  typeof (nodeBuffer as { isUtf8?: unknown }).isUtf8 === 'function'
    ? (nodeBuffer as unknown as { isUtf8: (b: Uint8Array) => boolean }).isUtf8
    : (b) => {
        try {
          utf8.decode(b);
          return true;
        } catch {
          return false;
        }
      };

/** The event's JSON text (decoded from its bytes when it came that way). */
export function eventText(ev: ParsedEvent): string {
  return ev.text ?? utf8Lax.decode(ev.bytes!);
}
// int64/uint64 beyond 2^53 come back as BigInt (written as their exact digits), smaller ones as numbers.
// Maps as Map, not objects: an object would turn a `__proto__` key into `__proto_` (msgpackr's
// prototype-pollution guard), and the archive must keep every key as it came.
const unpackr = new Unpackr({
  mapsAsObjects: false,
  useRecords: false, // 'auto' (msgpackr ≥ 1.10) is missing from its type definitions.
  int64AsType: 'auto' as 'bigint',
});

/**
 * Per-event limits, the same for every Content-Type (README, "Sending events"). A body
 * passing one is refused with 400 and a message naming the limit.
 */
export const MAX_EVENT_DEPTH = 512;
export const MAX_EVENT_KEYS = 10_000;
export const MAX_EVENT_BYTES = 1 << 20;
export const LIMITS: ScanLimits = { maxDepth: MAX_EVENT_DEPTH, maxKeys: MAX_EVENT_KEYS };
const OTLP_LIMITS = { ...LIMITS, maxBytes: MAX_EVENT_BYTES };

export function limitMessage(limit: 'depth' | 'keys' | 'bytes', bytes = 0): string {
  if (limit === 'depth') return `nested deeper than ${MAX_EVENT_DEPTH} levels (max_event_depth)`;
  if (limit === 'keys') return `more than ${MAX_EVENT_KEYS} keys (max_event_keys)`;
  return `${bytes} bytes, over ${MAX_EVENT_BYTES} (max_event_bytes)`;
}

/** Line number (1-based) of byte offset `at`: counted only on the error path. */
function lineAt(body: Uint8Array, at: number): number {
  let line = 1;
  for (let i = 0; i < at; i++) if (body[i] === 0x0a) line++;
  return line;
}

function fail(message: string, line?: number, offset?: number): ParseResult {
  return { ok: false, error: 'malformed_body', message, line, offset };
}

/**
 * Parse a whole request body. All or nothing: the first bad event rejects the
 * request, and the message names where (line and byte offset from the start of
 * the decompressed body) so the producer can find it.
 */
export function parseBody(format: BodyFormat, body: Uint8Array): ParseResult {
  switch (format) {
    case BodyFormat.Ndjson:
      return scanNdjson(body) ?? parseNdjson(body);
    case BodyFormat.Json:
      return scanJson(body);
    case BodyFormat.Msgpack:
      return parseMsgpack(body);
    case BodyFormat.OtlpLogsProtobuf:
      return parseOtlpProtobuf(body, OTLP_LIMITS);
    case BodyFormat.OtlpLogsJson:
      return parseOtlpJson(body, OTLP_LIMITS);
    default:
      return fail(`unsupported body format ${format}`);
  }
}

/**
 * The fast path: validate each line in place (json-scan.ts) and take its bytes as
 * they are — no string, no object tree. Returns undefined whenever anything is
 * off (bad UTF-8 or JSON, an unusual event_id): parseNdjson then decides and words
 * the error, so both paths accept and reject exactly the same bodies.
 */
export function scanNdjson(body: Uint8Array): ParseResult | undefined {
  if (!isUtf8(body)) return undefined;
  const n = body.length;
  // A UTF-8 BOM is dropped, as the TextDecoder of the slow path does.
  const start = n >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  const events: ParsedEvent[] = [];
  let buf: Buffer | undefined;
  // Objects separated by whitespace with a newline between any two: the scanner finds
  // each object's end, so lines need no separate split.
  let i = start;
  while (true) {
    while (i < n && isJsonWs(body[i])) i++;
    if (i >= n) break;
    const s = i;
    const r = scanObject(body, s, n, LIMITS);
    if (!r.ok) return r.limit === undefined ? undefined : ndjsonLimit(body, s, r.limit);
    const e = r.end;
    if (e - s > MAX_EVENT_BYTES) return ndjsonLimit(body, s, 'bytes', e - s);
    if (r.idUnsure) return undefined;
    i = e;
    while (i < n && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0d)) i++;
    if (i < n && body[i] !== 0x0a) return undefined; // more on the same line
    const bytes = body.subarray(s, e);
    let id: string;
    switch (r.idKind) {
      case IdKind.None:
      case IdKind.Null:
        events.push(new DerivedIdEvent(bytes));
        continue;
      case IdKind.Plain:
        if (r.idEnd - r.idStart <= 2 || r.idEnd - r.idStart - 2 > MAX_EVENT_ID_LENGTH)
          return undefined;
        if (r.idHigh) id = utf8Lax.decode(body.subarray(r.idStart + 1, r.idEnd - 1));
        else {
          buf ??= Buffer.from(body.buffer, body.byteOffset, body.byteLength);
          id = buf.toString('latin1', r.idStart + 1, r.idEnd - 1);
        }
        break;
      case IdKind.Number: {
        buf ??= Buffer.from(body.buffer, body.byteOffset, body.byteLength);
        const v = Number(buf.toString('latin1', r.idStart, r.idEnd));
        if (!Number.isSafeInteger(v)) return undefined;
        id = String(v);
        break;
      }
      default:
        return undefined; // escaped or unusable: the slow path decides
    }
    events.push({ id, bytes, idField: true });
  }
  if (events.length === 0) return undefined;
  return { ok: true, events };
}

function ndjsonLimit(
  body: Uint8Array,
  s: number,
  limit: 'depth' | 'keys' | 'bytes',
  bytes = 0,
): ParseResult {
  const line = lineAt(body, s);
  return fail(`line ${line} (byte offset ${s}): event ${limitMessage(limit, bytes)}`, line, s);
}

/**
 * The per-event limits over an NDJSON body, line by line with the scanner, for the
 * JSON.parse path: it refuses what scanNdjson refuses, in the same words, and
 * JSON.parse never sees an event deeper than the limit.
 */
function ndjsonLimitFailure(body: Uint8Array): ParseResult | undefined {
  const n = body.length;
  let i = n >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (i < n) {
    while (i < n && (body[i] === 0x20 || body[i] === 0x09 || body[i] === 0x0d)) i++;
    if (i < n && body[i] === 0x7b) {
      const r = scanObject(body, i, n, LIMITS);
      if (r.limit !== undefined) return ndjsonLimit(body, i, r.limit);
      if (r.ok && r.end - i > MAX_EVENT_BYTES) return ndjsonLimit(body, i, 'bytes', r.end - i);
    }
    const nl = body.indexOf(0x0a, i);
    if (nl < 0) break;
    i = nl + 1;
  }
  return undefined;
}

function isJsonWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;
}

/**
 * One fatal UTF-8 decode of the whole body, then lines by indexOf: byte offsets
 * are only computed on the error path. Exported (as is scanNdjson) for the
 * differential test that holds the two paths to the same answers.
 */
export function parseNdjson(body: Uint8Array): ParseResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    const at = locateInvalidUtf8(body);
    return fail(`line ${at.line} (byte offset ${at.offset}): invalid UTF-8`, at.line, at.offset);
  }
  const limited = ndjsonLimitFailure(body);
  if (limited) return limited;
  const events: ParsedEvent[] = [];
  const n = text.length;
  // UTF-8 of pure ASCII has one byte per character: payload bytes can then be sliced from the body.
  const ascii = n === body.length;
  let start = 0;
  let line = 1;
  while (start < n) {
    let nl = text.indexOf('\n', start);
    if (nl < 0) nl = n;
    let end = nl;
    if (end > start && text.charCodeAt(end - 1) === 13) end--;
    if (!isBlank(text, start, end)) {
      const lineText = text.slice(start, end);
      let value: unknown;
      try {
        value = JSON.parse(lineText);
      } catch (err) {
        const at =
          Buffer.byteLength(text.slice(0, start)) +
          Buffer.byteLength(lineText.slice(0, locateJsonError(lineText) ?? 0));
        return fail(
          `line ${line} (byte offset ${at}): ${cleanJsonMessage(err as Error)}`,
          line,
          at,
        );
      }
      const trimmed = lineText.trim();
      let bytes: Uint8Array | undefined;
      if (ascii) {
        const from = trimmed.length === lineText.length ? start : start + lineText.indexOf(trimmed);
        bytes = body.subarray(from, from + trimmed.length);
      }
      const r = toEvent(value, trimmed, `line ${line}`, bytes);
      if (typeof r === 'string') {
        const at = Buffer.byteLength(text.slice(0, start));
        return fail(r.replace(`line ${line}`, `line ${line} (byte offset ${at})`), line, at);
      }
      events.push(r);
    }
    start = nl + 1;
    line++;
  }
  if (events.length === 0) return fail('empty body: no events');
  return { ok: true, events };
}

/**
 * application/json: one object, or an array of objects, each element validated in
 * place by the same scanner as NDJSON and archived as the bytes it arrived as. The
 * one change: a line break between an element's tokens becomes a space (same length,
 * same value), as the archive holds one event per line. Anything the scanner does not
 * accept goes to parseJsonError, which only words the refusal.
 */
export function scanJson(body: Uint8Array): ParseResult {
  if (!isUtf8(body)) return parseJsonError(body);
  const n = body.length;
  let i = n >= 3 && body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
  while (i < n && isJsonWs(body[i])) i++;
  const array = body[i] === 0x5b;
  if (array) {
    i++;
    while (i < n && isJsonWs(body[i])) i++;
    if (body[i] === 0x5d) {
      i++;
      while (i < n && isJsonWs(body[i])) i++;
      return i === n ? fail('empty body: no events') : parseJsonError(body);
    }
  }
  const events: ParsedEvent[] = [];
  for (;;) {
    const s = i;
    const where = array ? `event ${events.length}` : 'event';
    const r = scanObject(body, s, n, LIMITS, true);
    if (!r.ok) {
      if (r.limit === undefined) return parseJsonError(body);
      return fail(`${where} (byte offset ${s}): ${limitMessage(r.limit)}`, lineAt(body, s), s);
    }
    const e = r.end;
    if (e - s > MAX_EVENT_BYTES)
      return fail(
        `${where} (byte offset ${s}): ${limitMessage('bytes', e - s)}`,
        lineAt(body, s),
        s,
      );
    let bytes = body.subarray(s, e);
    if (r.newlines) bytes = bytes.map((c) => (c === 0x0a ? 0x20 : c));
    const ev = scannedEvent(r, body, bytes);
    if (typeof ev === 'string')
      return fail(`${where} (byte offset ${s}): ${ev}`, lineAt(body, s), s);
    events.push(ev);
    i = e;
    while (i < n && isJsonWs(body[i])) i++;
    if (!array) break;
    if (body[i] === 0x2c) {
      i++;
      while (i < n && isJsonWs(body[i])) i++;
      continue;
    }
    if (body[i] !== 0x5d) return parseJsonError(body);
    i++;
    while (i < n && isJsonWs(body[i])) i++;
    break;
  }
  if (i !== n) return parseJsonError(body);
  return { ok: true, events };
}

/**
 * The event_id of a scanned event (bytes: the event as archived). The scanner's plain
 * cases are read from the bytes; escaped ids and keys are decoded by JSON.parse of the
 * event alone (its depth already bounded), under the same rules (eventIdOf).
 */
export function scannedEvent(
  r: ScanResult,
  body: Uint8Array,
  bytes: Uint8Array,
): ParsedEvent | string {
  if (!r.idUnsure) {
    switch (r.idKind) {
      case IdKind.None:
      case IdKind.Null:
        return new DerivedIdEvent(bytes);
      case IdKind.Plain: {
        const len = r.idEnd - r.idStart - 2;
        if (len > 0 && len <= MAX_EVENT_ID_LENGTH)
          return {
            id: utf8Lax.decode(body.subarray(r.idStart + 1, r.idEnd - 1)),
            bytes,
            idField: true,
          };
        break;
      }
      case IdKind.Number: {
        const v = Number(utf8Lax.decode(body.subarray(r.idStart, r.idEnd)));
        if (Number.isSafeInteger(v)) return { id: String(v), bytes, idField: true };
        break;
      }
    }
  }
  const value = JSON.parse(utf8Lax.decode(bytes)) as Record<string, unknown>;
  const id = eventIdOf(value, bytes);
  if (typeof id !== 'string') return id.error;
  return { id, bytes, hashed: value.event_id == null, idField: value.event_id != null };
}

/** Words why scanJson refused a body (JSON.parse's reading, or not an object). */
function parseJsonError(body: Uint8Array): ParseResult {
  const r = parseJson(body);
  return r.ok ? fail('not a JSON object or an array of JSON objects') : r;
}

/** The reference reading of a JSON body: scanJson's error wording, and tests' differential. */
export function parseJson(body: Uint8Array): ParseResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    const at = locateInvalidUtf8(body);
    return fail(`line ${at.line} (byte offset ${at.offset}): invalid UTF-8`, at.line, at.offset);
  }
  const deep = tooDeepAt(body, MAX_EVENT_DEPTH + 1);
  if (deep >= 0) {
    const line = lineAt(body, deep);
    return fail(`line ${line} (byte offset ${deep}): ${limitMessage('depth')}`, line, deep);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const before = text.slice(0, locateJsonError(text) ?? 0);
    const line = before.split('\n').length;
    const offset = Buffer.byteLength(before);
    return fail(
      `line ${line} (byte offset ${offset}): ${cleanJsonMessage(err as Error)}`,
      line,
      offset,
    );
  }
  return fromValues(Array.isArray(value) ? value : [value], Array.isArray(value));
}

function parseMsgpack(body: Uint8Array): ParseResult {
  // msgpackr decodes recursively: bound the depth first (one level more for a wrapping array).
  const deep = msgpackTooDeep(body, MAX_EVENT_DEPTH + 1);
  if (deep === 'malformed') return fail('msgpack: truncated or malformed body');
  if (deep) return fail(`msgpack: ${limitMessage('depth')}`);
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(
      Buffer.from(body.buffer, body.byteOffset, body.byteLength),
    ) as unknown[];
  } catch (err) {
    return fail(`msgpack: ${(err as Error).message}`);
  }
  if (values.some((v) => v === C1 || (v as object)?.constructor === (C1 as object).constructor))
    return fail('msgpack: reserved byte 0xc1 in body');
  if (values.length === 1 && Array.isArray(values[0]))
    return fromMsgpack(values[0] as unknown[], true);
  return fromMsgpack(values, values.length > 1);
}

/** Decoded msgpack values → events, through the one lossless conversion (msgpack-json.ts). */
function fromMsgpack(values: unknown[], indexed: boolean): ParseResult {
  if (values.length === 0) return fail('empty body: no events');
  const events: ParsedEvent[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const where = indexed ? `event ${i}` : 'event';
    const v = values[i];
    if (!(v instanceof Map)) return fail(`${where}: an event must be a map (a JSON object)`);
    const json = toLosslessJson(v, LIMITS);
    if (typeof json !== 'string') {
      const why = 'limit' in json ? limitMessage(json.limit) : json.error;
      return fail(`${where}: ${why}`);
    }
    const size = Buffer.byteLength(json);
    if (size > MAX_EVENT_BYTES) return fail(`${where}: ${limitMessage('bytes', size)}`);
    // Only the top-level event_id counts (a string key: a number key's text cannot be it).
    const r = toEvent({ event_id: v.get('event_id') }, json, where);
    if (typeof r === 'string') return fail(r);
    events[i] = r;
  }
  return { ok: true, events };
}

/**
 * Byte offset where JSON text nests deeper than `max` (strings skipped), or -1.
 * Iterative: guards JSON.parse (and the error locator) against deep bodies.
 */
function tooDeepAt(b: Uint8Array, max: number): number {
  let depth = 0;
  for (let i = 0; i < b.length; i++) {
    const c = b[i];
    if (c === 0x22) {
      for (i++; i < b.length && b[i] !== 0x22; i++) if (b[i] === 0x5c) i++;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return i;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return -1;
}

function fromValues(values: unknown[], indexed: boolean): ParseResult {
  if (values.length === 0) return fail('empty body: no events');
  const events: ParsedEvent[] = new Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const where = indexed ? `event ${i}` : 'event';
    let text: string;
    try {
      text = JSON.stringify(values[i]);
    } catch (err) {
      return fail(`${where}: cannot be represented as JSON: ${(err as Error).message}`);
    }
    const r = toEvent(values[i], text, where);
    if (typeof r === 'string') return fail(r);
    events[i] = r;
  }
  return { ok: true, events };
}

/** bytes, when given, are text's UTF-8 (hashing them skips an encode). */
function toEvent(
  value: unknown,
  text: string,
  where: string,
  bytes?: Uint8Array,
): ParsedEvent | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `${where}: an event must be a JSON object`;
  }
  const id = eventIdOf(value as Record<string, unknown>, bytes ?? text);
  if (typeof id !== 'string') return `${where}: ${id.error}`;
  const hashed = (value as Record<string, unknown>).event_id == null;
  return bytes
    ? { text, id, bytes, hashed, idField: !hashed }
    : { text, id, hashed, idField: !hashed };
}

function isBlank(t: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = t.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** Runtimes word JSON errors differently; keep the gist, drop the echoed input and position. */
export function cleanJsonMessage(err: Error): string {
  return err.message
    .replace(/, ".*" is not valid JSON$/s, '')
    .replace(/^JSON Parse error: /, '')
    .replace(/ in JSON at position \d+.*$/, '')
    .replace(/\s*\(line \d+ column \d+\)$/, '');
}

function locateInvalidUtf8(body: Uint8Array): { line: number; offset: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === 10) {
      try {
        utf8.decode(body.subarray(lineStart, i));
      } catch {
        return { line, offset: lineStart };
      }
      line++;
      lineStart = i + 1;
    }
  }
  return { line, offset: lineStart };
}
