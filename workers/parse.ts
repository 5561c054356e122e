import { Buffer } from 'node:buffer';
import { Unpackr, C1 } from 'msgpackr';
import { locateJsonError } from './json-locate.js';
import { BodyFormat } from '../src/rings/record.js';
import { eventIdOf } from './event-id.js';

/** One validated event: its compact single-line JSON text and its event_id. */
export interface ParsedEvent {
  text: string;
  id: string;
  /**
   * The same text as UTF-8 bytes, when they can be taken from the body as they are
   * (an ASCII body, where string and byte offsets agree). A view: valid only while
   * the body is (the worker appends events to the batch before releasing the ring slot).
   */
  bytes?: Uint8Array;
}

export type ParseResult =
  | { ok: true; events: ParsedEvent[] }
  | { ok: false; error: 'malformed_body'; message: string; line?: number; offset?: number };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const unpackr = new Unpackr({ mapsAsObjects: true, useRecords: false });

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
      return parseNdjson(body);
    case BodyFormat.Json:
      return parseJson(body);
    case BodyFormat.Msgpack:
      return parseMsgpack(body);
    default:
      return fail(`unsupported body format ${format}`);
  }
}

/**
 * One fatal UTF-8 decode of the whole body, then lines by indexOf: byte offsets
 * are only computed on the error path.
 */
function parseNdjson(body: Uint8Array): ParseResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    const at = locateInvalidUtf8(body);
    return fail(`line ${at.line} (byte offset ${at.offset}): invalid UTF-8`, at.line, at.offset);
  }
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
        const at = Buffer.byteLength(text.slice(0, start)) + Buffer.byteLength(lineText.slice(0, locateJsonError(lineText) ?? 0));
        return fail(`line ${line} (byte offset ${at}): ${cleanJsonMessage(err as Error)}`, line, at);
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

function parseJson(body: Uint8Array): ParseResult {
  let text: string;
  try {
    text = utf8.decode(body);
  } catch {
    const at = locateInvalidUtf8(body);
    return fail(`line ${at.line} (byte offset ${at.offset}): invalid UTF-8`, at.line, at.offset);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    const before = text.slice(0, locateJsonError(text) ?? 0);
    const line = before.split('\n').length;
    const offset = Buffer.byteLength(before);
    return fail(`line ${line} (byte offset ${offset}): ${cleanJsonMessage(err as Error)}`, line, offset);
  }
  return fromValues(Array.isArray(value) ? value : [value], Array.isArray(value));
}

function parseMsgpack(body: Uint8Array): ParseResult {
  let values: unknown[];
  try {
    values = unpackr.unpackMultiple(Buffer.from(body.buffer, body.byteOffset, body.byteLength)) as unknown[];
  } catch (err) {
    return fail(`msgpack: ${(err as Error).message}`);
  }
  if (values.some((v) => v === C1 || (v as object)?.constructor === (C1 as object).constructor)) return fail('msgpack: reserved byte 0xc1 in body');
  if (values.length === 1 && Array.isArray(values[0])) return fromValues(values[0] as unknown[], true);
  return fromValues(values, values.length > 1);
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
function toEvent(value: unknown, text: string, where: string, bytes?: Uint8Array): ParsedEvent | string {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    return `${where}: an event must be a JSON object`;
  }
  const id = eventIdOf(value as Record<string, unknown>, bytes ?? text);
  if (typeof id !== 'string') return `${where}: ${id.error}`;
  return bytes ? { text, id, bytes } : { text, id };
}

function isBlank(t: string, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = t.charCodeAt(i);
    if (c !== 32 && c !== 9 && c !== 13) return false;
  }
  return true;
}

/** Runtimes word JSON errors differently; keep the gist, drop the echoed input and position. */
function cleanJsonMessage(err: Error): string {
  return err.message.replace(/, ".*" is not valid JSON$/s, '').replace(/^JSON Parse error: /, '').replace(/ in JSON at position \d+.*$/, '').replace(/\s*\(line \d+ column \d+\)$/, '');
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
