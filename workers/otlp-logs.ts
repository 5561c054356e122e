/**
 * OTLP logs (ExportLogsServiceRequest, protobuf or OTLP/JSON) → one ferry event per LogRecord.
 * Runs on the pipeline workers. The mapping is documented field by field in docs/protocols.md
 * ("OTLP"); keep the two in step. Every event has every top-level key, always in the same
 * order, so the same record always maps to the same bytes (its event_id hash relies on it).
 */
import { Buffer } from 'node:buffer';
import {
  otlpLogsProto,
  type LongLike,
  type PbAnyValue,
  type PbKeyValue,
  type PbExportLogsServiceRequest,
  type PbLogRecord,
  type PbResourceLogs,
  type PbScopeLogs,
} from '../src/sources/otlp/proto.js';
import { sha256Hex, MAX_EVENT_ID_LENGTH } from './event-id.js';
import { parseOtlpProtobufBytes } from './otlp-protobuf.js';
import type { ParseResult, ParsedEvent } from './parse.js';

/** Per-event limits shared with the other formats (parse.ts). */
export interface OtlpLimits {
  maxDepth: number;
  maxKeys: number;
  maxBytes: number;
}

/** The attributes whose value becomes the event_id, first found wins. */
export const EVENT_ID_ATTRIBUTES = ['event_id', 'log.record.uid'] as const;

class RecordRefused extends Error {
  override readonly name = 'RecordRefused';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * application/x-protobuf: ExportLogsServiceRequest, mapped straight from its bytes
 * (workers/otlp-protobuf.ts). The events' bytes are valid until the next call.
 */
export function parseOtlpProtobuf(body: Uint8Array, limits: OtlpLimits): ParseResult {
  return parseOtlpProtobufBytes(body, limits);
}

/**
 * The same through protobufjs's objects and the mapping below: what the byte mapper must equal
 * (the unit tests' reference; bench/otlp-decode.mjs's "before").
 */
export function parseOtlpProtobufReference(body: Uint8Array, limits: OtlpLimits): ParseResult {
  let req: PbExportLogsServiceRequest;
  try {
    req = otlpLogsProto().ExportLogsServiceRequest.decode(body);
  } catch (err) {
    return {
      ok: false,
      error: 'malformed_body',
      message: `not an OTLP ExportLogsServiceRequest: ${(err as Error).message}`,
    };
  }
  return mapRequest(req.resourceLogs, limits, false);
}

/** application/json: ExportLogsServiceRequest in the OTLP/JSON encoding. */
export function parseOtlpJson(body: Uint8Array, limits: OtlpLimits): ParseResult {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(body));
  } catch (err) {
    return {
      ok: false,
      error: 'malformed_body',
      message: `not OTLP/JSON: ${(err as Error).message}`,
    };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    return { ok: false, error: 'malformed_body', message: 'OTLP/JSON: not a JSON object' };
  const rl = (value as { resourceLogs?: unknown }).resourceLogs;
  if (rl !== undefined && rl !== null && !Array.isArray(rl))
    return {
      ok: false,
      error: 'malformed_body',
      message: 'OTLP/JSON: resourceLogs is not an array',
    };
  return mapRequest((rl ?? []) as PbResourceLogs[], limits, true);
}

function mapRequest(
  resourceLogs: PbResourceLogs[],
  limits: OtlpLimits,
  json: boolean,
): ParseResult {
  const events: ParsedEvent[] = [];
  let rejected = 0;
  let firstReason: string | undefined;
  const refuse = (why: string, count = 1) => {
    rejected += count;
    firstReason ??= why;
  };
  const w = new Writer(limits, json);
  for (let r = 0; r < resourceLogs.length; r++) {
    const rl = resourceLogs[r];
    if (!isObject(rl)) {
      return { ok: false, error: 'malformed_body', message: `resourceLogs[${r}] is not an object` };
    }
    const scopes = (rl.scopeLogs ?? []) as PbScopeLogs[];
    if (!Array.isArray(scopes))
      return {
        ok: false,
        error: 'malformed_body',
        message: `resourceLogs[${r}].scopeLogs is not an array`,
      };
    let resourceJson: string;
    try {
      resourceJson = w.resource(rl);
    } catch (err) {
      if (!(err instanceof RecordRefused)) throw err;
      refuse(`resourceLogs[${r}].resource: ${err.message}`, countRecords(scopes));
      continue;
    }
    for (let s = 0; s < scopes.length; s++) {
      const sl = scopes[s];
      if (!isObject(sl))
        return {
          ok: false,
          error: 'malformed_body',
          message: `resourceLogs[${r}].scopeLogs[${s}] is not an object`,
        };
      const records = (sl.logRecords ?? []) as PbLogRecord[];
      if (!Array.isArray(records))
        return {
          ok: false,
          error: 'malformed_body',
          message: `resourceLogs[${r}].scopeLogs[${s}].logRecords is not an array`,
        };
      let tail: string;
      try {
        tail = `,"resource":${resourceJson},"scope":${w.scope(sl)}}`;
      } catch (err) {
        if (!(err instanceof RecordRefused)) throw err;
        refuse(`resourceLogs[${r}].scopeLogs[${s}].scope: ${err.message}`, records.length);
        continue;
      }
      for (let i = 0; i < records.length; i++) {
        try {
          events.push(w.record(records[i], tail));
        } catch (err) {
          if (!(err instanceof RecordRefused)) throw err;
          refuse(`resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}]: ${err.message}`);
        }
      }
    }
  }
  if (rejected === 0) return { ok: true, events };
  const message =
    rejected === 1 ? firstReason! : `${rejected} log records refused; the first: ${firstReason}`;
  return { ok: true, events, rejected, rejectMessage: message };
}

/** list[i].key appears before i. */
function repeated(list: PbKeyValue[], i: number): boolean {
  const k = list[i].key;
  for (let j = 0; j < i; j++) if (list[j].key === k) return true;
  return false;
}

function countRecords(scopes: PbScopeLogs[]): number {
  let n = 0;
  for (const s of scopes) if (isObject(s) && Array.isArray(s.logRecords)) n += s.logRecords.length;
  return n;
}

function isObject(v: unknown): v is Record<string, unknown> & object {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Writes the JSON of one request's records; `json` = the input came as OTLP/JSON. */
class Writer {
  private keys = 0;
  constructor(
    private readonly limits: OtlpLimits,
    private readonly json: boolean,
  ) {}

  resource(rl: PbResourceLogs): string {
    const res = rl.resource;
    this.keys = 0;
    if (res != null && !isObject(res)) throw new RecordRefused('resource is not an object');
    return `{"attributes":${this.attributes(res?.attributes, 1)},"dropped_attributes_count":${this.uint(res?.droppedAttributesCount, 'droppedAttributesCount')},"schema_url":${this.str(rl.schemaUrl, 'schemaUrl')}}`;
  }

  scope(sl: PbScopeLogs): string {
    const sc = sl.scope;
    this.keys = 0;
    if (sc != null && !isObject(sc)) throw new RecordRefused('scope is not an object');
    return `{"name":${this.str(sc?.name, 'name')},"version":${this.str(sc?.version, 'version')},"attributes":${this.attributes(sc?.attributes, 1)},"dropped_attributes_count":${this.uint(sc?.droppedAttributesCount, 'droppedAttributesCount')},"schema_url":${this.str(sl.schemaUrl, 'schemaUrl')}}`;
  }

  record(lr: PbLogRecord, tail: string): ParsedEvent {
    if (!isObject(lr)) throw new RecordRefused('not an object');
    this.keys = 0;
    const time = this.nanos(lr.timeUnixNano, 'timeUnixNano');
    const observed = this.nanos(lr.observedTimeUnixNano, 'observedTimeUnixNano');
    // The spec's rule for consumers: the observed time stands in when the event time is unset.
    const shown = time !== '0' ? time : observed;
    const text =
      `{"timestamp":${shown === '0' ? 'null' : `"${isoOfNanos(shown)}"`}` +
      `,"time_unix_nano":"${time}","observed_time_unix_nano":"${observed}"` +
      `,"severity_number":${this.uint(lr.severityNumber, 'severityNumber')}` +
      `,"severity_text":${this.str(lr.severityText, 'severityText')}` +
      `,"body":${lr.body == null ? 'null' : this.any(lr.body, 1)}` +
      `,"attributes":${this.attributes(lr.attributes, 1)}` +
      `,"dropped_attributes_count":${this.uint(lr.droppedAttributesCount, 'droppedAttributesCount')}` +
      `,"flags":${this.uint(lr.flags, 'flags')}` +
      `,"trace_id":"${this.id(lr.traceId, 16, 'traceId')}","span_id":"${this.id(lr.spanId, 8, 'spanId')}"` +
      `,"event_name":${this.str(lr.eventName, 'eventName')}${tail}`;
    if (text.length > this.limits.maxBytes || text.length * 3 > this.limits.maxBytes) {
      const bytes = Buffer.byteLength(text);
      if (bytes > this.limits.maxBytes)
        throw new RecordRefused(
          `${bytes} bytes as an event, over ${this.limits.maxBytes} (max_event_bytes)`,
        );
    }
    const given = eventIdAttribute(lr.attributes, this.json);
    if (given !== undefined) return { text, id: given };
    return { text, id: sha256Hex(text), hashed: true };
  }

  private attributes(list: PbKeyValue[] | null | undefined, depth: number): string {
    if (list == null) return '{}';
    if (!Array.isArray(list)) throw new RecordRefused('attributes is not an array');
    if (list.length === 0) return '{}';
    if (depth > this.limits.maxDepth)
      throw new RecordRefused(
        `nested deeper than ${this.limits.maxDepth} levels (max_event_depth)`,
      );
    this.keys += list.length;
    if (this.keys > this.limits.maxKeys)
      throw new RecordRefused(`more than ${this.limits.maxKeys} keys (max_event_keys)`);
    let out = '{';
    // Keys must be unique (OTLP); if not, the first one counts, so the event stays valid JSON for
    // every reader. Short lists (the usual) are checked by a scan, long ones with a Set.
    const seen = list.length > 16 ? new Set<string>() : undefined;
    for (let i = 0; i < list.length; i++) {
      const kv = list[i];
      if (!isObject(kv) || typeof kv.key !== 'string')
        throw new RecordRefused('an attribute without a string key');
      if (seen) {
        if (seen.has(kv.key)) continue;
        seen.add(kv.key);
      } else if (i > 0 && repeated(list, i)) continue;
      if (out.length > 1) out += ',';
      out += JSON.stringify(kv.key);
      out += ':';
      out += kv.value == null ? 'null' : this.any(kv.value, depth + 1);
    }
    return `${out}}`;
  }

  private any(v: PbAnyValue, depth: number): string {
    if (!isObject(v)) throw new RecordRefused('an AnyValue that is not an object');
    if (depth > this.limits.maxDepth)
      throw new RecordRefused(
        `nested deeper than ${this.limits.maxDepth} levels (max_event_depth)`,
      );
    if (v.stringValue != null) return this.str(v.stringValue, 'stringValue');
    if (v.boolValue != null) {
      if (typeof v.boolValue !== 'boolean') throw new RecordRefused('boolValue is not a boolean');
      return v.boolValue ? 'true' : 'false';
    }
    if (v.intValue != null) return this.int(v.intValue);
    if (v.doubleValue != null) return this.double(v.doubleValue);
    if (v.arrayValue != null) {
      const values = (v.arrayValue as { values?: PbAnyValue[] }).values ?? [];
      if (!Array.isArray(values)) throw new RecordRefused('arrayValue.values is not an array');
      let out = '[';
      for (let i = 0; i < values.length; i++) {
        if (i > 0) out += ',';
        out += values[i] == null ? 'null' : this.any(values[i], depth + 1);
      }
      return `${out}]`;
    }
    if (v.kvlistValue != null)
      return this.attributes((v.kvlistValue as { values?: PbKeyValue[] }).values, depth);
    if (v.bytesValue != null) {
      // OTLP/JSON carries bytes as base64 already; protobuf gives the bytes.
      if (typeof v.bytesValue === 'string') return this.str(v.bytesValue, 'bytesValue');
      const b = v.bytesValue as Uint8Array;
      return `"${Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64')}"`;
    }
    return 'null';
  }

  private str(v: unknown, field: string): string {
    if (v == null) return '""';
    if (typeof v !== 'string') throw new RecordRefused(`${field} is not a string`);
    return JSON.stringify(v);
  }

  private uint(v: unknown, field: string): string {
    if (v == null) return '0';
    if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff) return String(v);
    if (this.json && typeof v === 'string' && /^\d{1,10}$/.test(v) && Number(v) <= 0xffffffff)
      return String(Number(v));
    throw new RecordRefused(`${field} is not an unsigned 32-bit integer`);
  }

  /** int64 AnyValue: its exact decimal digits, as a JSON number. */
  private int(v: unknown): string {
    if (typeof v === 'number') {
      if (!Number.isInteger(v)) throw new RecordRefused('intValue is not an integer');
      return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
    }
    if (typeof v === 'string') {
      if (!/^-?\d{1,19}$/.test(v)) throw new RecordRefused('intValue is not an integer');
      const n = BigInt(v);
      if (n > 0x7fffffffffffffffn || n < -0x8000000000000000n)
        throw new RecordRefused('intValue is out of the int64 range');
      return n.toString();
    }
    if (isObject(v) && typeof (v as unknown as LongLike).low === 'number')
      return longToString(v as unknown as LongLike, false);
    throw new RecordRefused('intValue is not an integer');
  }

  private double(v: unknown): string {
    let n: number;
    if (typeof v === 'number') n = v;
    else if (this.json && typeof v === 'string' && /^(NaN|-?Infinity|-?\d[\d.eE+-]*)$/.test(v))
      n = Number(v);
    else throw new RecordRefused('doubleValue is not a number');
    // JSON has no NaN or Infinity: those three are written as strings.
    return Number.isFinite(n) ? String(n) : `"${n}"`;
  }

  /** fixed64 nanoseconds → decimal digits ('0' when unset). */
  private nanos(v: unknown, field: string): string {
    if (v == null) return '0';
    if (typeof v === 'number') {
      if (!Number.isInteger(v) || v < 0)
        throw new RecordRefused(`${field} is not an unsigned integer`);
      return Number.isSafeInteger(v) ? String(v) : BigInt(v).toString();
    }
    if (typeof v === 'string') {
      if (!/^\d{1,20}$/.test(v) || BigInt(v) > 0xffffffffffffffffn)
        throw new RecordRefused(`${field} is not an unsigned 64-bit integer`);
      return BigInt(v).toString();
    }
    if (isObject(v) && typeof (v as unknown as LongLike).low === 'number')
      return longToString(v as unknown as LongLike, true);
    throw new RecordRefused(`${field} is not an unsigned 64-bit integer`);
  }

  /** trace_id / span_id as lowercase hex; '' when absent. */
  private id(v: unknown, size: number, field: string): string {
    if (v == null) return '';
    if (this.json) {
      if (typeof v !== 'string') throw new RecordRefused(`${field} is not a hex string`);
      if (v.length === 0) return '';
      if (v.length !== size * 2 || !/^[0-9a-fA-F]+$/.test(v))
        throw new RecordRefused(`${field} must be ${size * 2} hex digits`);
      return v.toLowerCase();
    }
    const b = v as Uint8Array;
    if (b.length === 0) return '';
    if (b.length !== size)
      throw new RecordRefused(`${field} must be ${size} bytes, got ${b.length}`);
    return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
  }
}

/** The event_id a record carries in its attributes (EVENT_ID_ATTRIBUTES), if any. */
function eventIdAttribute(
  list: PbKeyValue[] | null | undefined,
  json: boolean,
): string | undefined {
  if (!list || list.length === 0) return undefined;
  for (const name of EVENT_ID_ATTRIBUTES) {
    for (const kv of list) {
      if (kv.key !== name || kv.value == null) continue;
      const v = kv.value;
      if (typeof v.stringValue === 'string') {
        if (v.stringValue.length === 0)
          throw new RecordRefused(`attribute ${name} is an empty string`);
        if (v.stringValue.length > MAX_EVENT_ID_LENGTH)
          throw new RecordRefused(
            `attribute ${name} longer than ${MAX_EVENT_ID_LENGTH} characters`,
          );
        return v.stringValue;
      }
      if (v.intValue != null) {
        const n = v.intValue;
        if (typeof n === 'number') return String(n);
        if (json && typeof n === 'string') return BigInt(n).toString();
        return longToString(n as LongLike, false);
      }
      throw new RecordRefused(`attribute ${name} must be a string or an integer`);
    }
  }
  return undefined;
}

function longToString(l: LongLike, unsigned: boolean): string {
  if (l.high === 0 && l.low >= 0) return String(l.low);
  if (l.high === 0) return String(l.low >>> 0);
  const n = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
  return (unsigned || l.unsigned ? n : BigInt.asIntN(64, n)).toString();
}

let lastSeconds = '';
let lastPrefix = '';

/**
 * Decimal nanoseconds since the epoch → RFC 3339 with nine fractional digits (UTC). Exact: the
 * fraction is the last nine digits of the text; the seconds before it go through Date (cached,
 * as the records of one export mostly share their second).
 */
export function isoOfNanos(nanos: string): string {
  const cut = nanos.length - 9;
  const seconds = cut > 0 ? nanos.slice(0, cut) : '0';
  const frac = cut > 0 ? nanos.slice(cut) : nanos.padStart(9, '0');
  if (seconds !== lastSeconds) {
    const d = new Date(Number(seconds) * 1000);
    if (Number.isNaN(d.getTime())) return `${nanos}ns`;
    lastPrefix = d.toISOString().slice(0, 19);
    lastSeconds = seconds;
  }
  return `${lastPrefix}.${frac}Z`;
}
