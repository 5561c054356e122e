/**
 * OTLP/HTTP protobuf (ExportLogsServiceRequest) → one event per LogRecord, straight from the
 * bytes: no message objects, no strings on the way. The body's structure is checked first as a
 * whole (workers/otlp-wire.ts), then each record's JSON is written into one reusable buffer and
 * hashed where it lies (when its id is read: DerivedIdEvent). The JSON is byte for byte what the object mapping in workers/otlp-logs.ts
 * writes for the protobufjs decoding of the same body (the reference, and the unit tests'
 * differential): same keys in the same order, same escaping, same numbers — so event_ids and
 * archives do not change. What protobufjs does that the mapping shows: the last occurrence of a
 * singular field wins (a sub-message too: replaced, not merged); an AnyValue with several members
 * set shows the first of string, bool, int, double, array, kvlist, bytes.
 *
 * Strings are checked to be UTF-8 as they are escaped; what is not written is checked by
 * checkStrings (otlp-wire.ts), so a body with a bad string anywhere is refused as a whole.
 *
 * The events' bytes are views of the buffer: valid until the next call (the worker appends them
 * to its batch, which copies them, before it parses the next body).
 */
import { Buffer } from 'node:buffer';
import { checkRequest, checkStrings, Malformed, Msg, notUtf8 } from './otlp-wire.js';
import { DerivedIdEvent, MAX_EVENT_ID_LENGTH } from './event-id.js';
import type { ParseResult, ParsedEvent } from './parse.js';
import { JSON_ESCAPE } from './byte-sink.js';

/** Per-event limits (the same as the other formats'). */
export interface OtlpByteLimits {
  maxDepth: number;
  maxKeys: number;
  maxBytes: number;
}

class RecordRefused extends Error {
  override readonly name = 'RecordRefused';
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const HEX = enc.encode('0123456789abcdef');
const B64 = enc.encode('ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/');
const EVENT_ID = enc.encode('event_id');
const RECORD_UID = enc.encode('log.record.uid');

/**
 * Per byte: 0 = as it is; else the letter after the backslash (1 = \u00XX), as JSON.stringify;
 * 2 = the lead of a multi-byte UTF-8 sequence (checked, copied as it is).
 */
const ESCAPE = JSON_ESCAPE.slice();
for (let c = 0x80; c < 0x100; c++) ESCAPE[c] = 2;

/** The JSON fragments between fields, as bytes. */
const K = {
  timestamp: enc.encode('{"timestamp":'),
  timeUnixNano: enc.encode(',"time_unix_nano":"'),
  observed: enc.encode('","observed_time_unix_nano":"'),
  severityNumber: enc.encode('","severity_number":'),
  severityText: enc.encode(',"severity_text":'),
  body: enc.encode(',"body":'),
  attributes: enc.encode(',"attributes":'),
  dropped: enc.encode(',"dropped_attributes_count":'),
  flags: enc.encode(',"flags":'),
  traceId: enc.encode(',"trace_id":"'),
  spanId: enc.encode('","span_id":"'),
  eventName: enc.encode('","event_name":'),
  resource: enc.encode(',"resource":{"attributes":'),
  schemaUrl: enc.encode(',"schema_url":'),
  scope: enc.encode(',"scope":{"name":'),
  version: enc.encode(',"version":'),
  null: enc.encode('null'),
  true: enc.encode('true'),
  false: enc.encode('false'),
};

/** float64 from 8 little-endian bytes, on any host. */
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function parseOtlpProtobufBytes(body: Uint8Array, limits: OtlpByteLimits): ParseResult {
  const bad = checkRequest(body);
  if (bad !== undefined)
    return {
      ok: false,
      error: 'malformed_body',
      message: `not an OTLP ExportLogsServiceRequest: ${bad}`,
    };
  try {
    return mapper.request(body, limits);
  } catch (err) {
    if (err instanceof Malformed)
      return {
        ok: false,
        error: 'malformed_body',
        message: `not an OTLP ExportLogsServiceRequest: ${err.message}`,
      };
    // Not reached for a checked body; if it is, the request is refused, the worker lives on.
    return {
      ok: false,
      error: 'malformed_body',
      message: `cannot map the OTLP request: ${(err as Error).message}`,
    };
  }
}

class Mapper {
  private src: Uint8Array = new Uint8Array(0);
  /** Read cursor in src. */
  private p = 0;
  out = Buffer.allocUnsafe(1 << 16);
  o = 0;
  /** `,"resource":{…},"scope":{…}}`: the part every record of a ScopeLogs ends with. */
  private tail = Buffer.allocUnsafe(1024);
  private tailLen = 0;
  private resourceLen = 0;
  private limits: OtlpByteLimits = { maxDepth: 0, maxKeys: 0, maxBytes: 0 };
  private keys = 0;
  /** [start, end) of the keys of the attribute lists being written (for repeated keys). */
  private keyStack = new Int32Array(256);
  private keyTop = 0;
  /** The record's attributes had a key event_id or log.record.uid. */
  private sawIdKey = false;
  private events: ParsedEvent[] = [];
  private rejected = 0;
  private firstReason: string | undefined;
  /** The last timestamp's second and its `YYYY-MM-DDTHH:MM:SS` (one export shares few seconds). */
  private lastSecond = -1;
  private secondPrefix = new Uint8Array(19);

  request(body: Uint8Array, limits: OtlpByteLimits): ParseResult {
    this.src = body;
    this.limits = limits;
    this.o = 0;
    // The last request's events are in the batch by now: a buffer grown for a big export is
    // let go rather than kept for the life of the worker (small nodes, issue 20).
    if (this.out.length > 1 << 22) this.out = Buffer.allocUnsafe(1 << 16);
    this.events = [];
    this.rejected = 0;
    this.firstReason = undefined;
    const end = body.length;
    let r = 0;
    this.p = 0;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x0a) {
        const len = this.varint();
        const from = this.p;
        this.resourceLogs(from, from + len, r++);
        this.p = from + len;
      } else this.skip(tag & 7);
    }
    const events = this.events;
    this.events = [];
    if (this.rejected === 0) return { ok: true, events };
    const message =
      this.rejected === 1
        ? this.firstReason!
        : `${this.rejected} log records refused; the first: ${this.firstReason}`;
    return { ok: true, events, rejected: this.rejected, rejectMessage: message };
  }

  private refuse(why: string, count: number): void {
    this.rejected += count;
    this.firstReason ??= why;
  }

  private resourceLogs(from: number, end: number, r: number): void {
    let resFrom = -1;
    let resEnd = 0;
    let urlFrom = -1;
    let urlEnd = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x0a || tag === 0x1a) {
        const len = this.varint();
        // A field sent twice: the last counts (protobufjs); the first is still checked.
        if (tag === 0x0a) {
          if (resFrom >= 0) checkStrings(this.src, Msg.Resource, resFrom, resEnd);
          resFrom = this.p;
          resEnd = this.p + len;
        } else {
          if (urlFrom >= 0) this.utf8(urlFrom, urlEnd);
          urlFrom = this.p;
          urlEnd = this.p + len;
        }
        this.p += len;
      } else this.skip(tag & 7);
    }
    const mark = this.o;
    try {
      this.keys = 0;
      this.keyTop = 0;
      this.bytes(K.resource);
      let dropped = 0;
      if (resFrom >= 0) {
        this.attributes(resFrom, resEnd, 0x0a, 1, false);
        dropped = this.resourceRest(resFrom, resEnd);
      } else this.pair(0x7b, 0x7d);
      this.bytes(K.dropped);
      this.digits(dropped);
      this.bytes(K.schemaUrl);
      this.string(urlFrom, urlEnd);
      this.byte(0x7d);
    } catch (err) {
      this.o = mark;
      if (!(err instanceof RecordRefused)) throw err;
      checkStrings(this.src, Msg.ResourceLogs, from, end);
      this.refuse(`resourceLogs[${r}].resource: ${err.message}`, this.countRecords(from, end));
      return;
    }
    this.resourceLen = this.o - mark;
    this.setTail(mark, 0);
    this.o = mark;
    let s = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x12) {
        const len = this.varint();
        const at = this.p;
        this.scopeLogs(at, at + len, r, s++);
        this.p = at + len;
      } else this.skip(tag & 7);
    }
  }

  /** Copies out[mark, o) to the tail at `at`. */
  private setTail(mark: number, at: number): void {
    const n = this.o - mark;
    if (at + n + 1 > this.tail.length) {
      const next = Buffer.allocUnsafe(Math.max(this.tail.length * 2, at + n + 1));
      this.tail.copy(next, 0, 0, at);
      this.tail = next;
    }
    this.out.copy(this.tail, at, mark, this.o);
    this.tailLen = at + n;
  }

  /** The LogRecords in the ScopeLogs of the ResourceLogs [from, end) (refused with it). */
  private countRecords(from: number, end: number): number {
    let n = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x12) {
        const len = this.varint();
        n += this.count(this.p, this.p + len, 0x12);
        this.p += len;
      } else this.skip(tag & 7);
    }
    return n;
  }

  private scopeLogs(from: number, end: number, r: number, s: number): void {
    let scFrom = -1;
    let scEnd = 0;
    let urlFrom = -1;
    let urlEnd = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x0a || tag === 0x1a) {
        const len = this.varint();
        if (tag === 0x0a) {
          if (scFrom >= 0) checkStrings(this.src, Msg.Scope, scFrom, scEnd);
          scFrom = this.p;
          scEnd = this.p + len;
        } else {
          if (urlFrom >= 0) this.utf8(urlFrom, urlEnd);
          urlFrom = this.p;
          urlEnd = this.p + len;
        }
        this.p += len;
      } else this.skip(tag & 7);
    }
    const mark = this.o;
    try {
      this.keys = 0;
      this.keyTop = 0;
      this.bytes(K.scope);
      if (scFrom >= 0) {
        this.lastString(scFrom, scEnd, 0x0a);
        this.bytes(K.version);
        this.lastString(scFrom, scEnd, 0x12);
        this.bytes(K.attributes);
        this.attributes(scFrom, scEnd, 0x1a, 1, false);
        this.bytes(K.dropped);
        this.digits(this.lastVarint(scFrom, scEnd, 0x20));
      } else {
        this.pair(0x22, 0x22);
        this.bytes(K.version);
        this.pair(0x22, 0x22);
        this.bytes(K.attributes);
        this.pair(0x7b, 0x7d);
        this.bytes(K.dropped);
        this.byte(0x30);
      }
      this.bytes(K.schemaUrl);
      this.string(urlFrom, urlEnd);
      this.pair(0x7d, 0x7d);
    } catch (err) {
      this.o = mark;
      if (!(err instanceof RecordRefused)) throw err;
      checkStrings(this.src, Msg.ScopeLogs, from, end);
      this.refuse(
        `resourceLogs[${r}].scopeLogs[${s}].scope: ${err.message}`,
        this.count(from, end, 0x12),
      );
      return;
    }
    this.setTail(mark, this.resourceLen);
    this.o = mark;
    let i = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      if (tag === 0x12) {
        const len = this.varint();
        const at = this.p;
        this.record(at, at + len, r, s, i++);
        this.p = at + len;
      } else this.skip(tag & 7);
    }
  }

  private record(from: number, end: number, r: number, s: number, i: number): void {
    const b = this.src;
    let time = -1;
    let observed = -1;
    let severity = -1;
    let textFrom = -1;
    let textEnd = 0;
    let bodyFrom = -1;
    let bodyEnd = 0;
    let dropped = -1;
    let flags = -1;
    let traceFrom = -1;
    let traceEnd = 0;
    let spanFrom = -1;
    let spanEnd = 0;
    let nameFrom = -1;
    let nameEnd = 0;
    let attributes = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      switch (tag) {
        case 0x09: // 1 time_unix_nano, fixed64
          time = this.p;
          this.p += 8;
          break;
        case 0x59: // 11 observed_time_unix_nano
          observed = this.p;
          this.p += 8;
          break;
        case 0x10: // 2 severity_number
          severity = this.p;
          this.skip(0);
          break;
        case 0x38: // 7 dropped_attributes_count
          dropped = this.p;
          this.skip(0);
          break;
        case 0x45: // 8 flags, fixed32
          flags = this.p;
          this.p += 4;
          break;
        case 0x32: // 6 attributes (written below)
          attributes++;
          this.skip(2);
          break;
        case 0x1a: // 3 severity_text
        case 0x2a: // 5 body
        case 0x4a: // 9 trace_id
        case 0x52: // 10 span_id
        case 0x62: {
          // 12 event_name
          const len = this.varint();
          const at = this.p;
          this.p += len;
          if (tag === 0x1a) {
            if (textFrom >= 0) this.utf8(textFrom, textEnd);
            textFrom = at;
            textEnd = at + len;
          } else if (tag === 0x2a) {
            if (bodyFrom >= 0) checkStrings(this.src, Msg.AnyValue, bodyFrom, bodyEnd);
            bodyFrom = at;
            bodyEnd = at + len;
          } else if (tag === 0x4a) {
            traceFrom = at;
            traceEnd = at + len;
          } else if (tag === 0x52) {
            spanFrom = at;
            spanEnd = at + len;
          } else {
            if (nameFrom >= 0) this.utf8(nameFrom, nameEnd);
            nameFrom = at;
            nameEnd = at + len;
          }
          break;
        }
        default:
          this.skip(tag & 7);
      }
    }
    const start = this.o;
    try {
      this.keys = 0;
      this.keyTop = 0;
      this.sawIdKey = false;
      this.bytes(K.timestamp);
      const timeLo = time < 0 ? 0 : u32le(b, time);
      const timeHi = time < 0 ? 0 : u32le(b, time + 4);
      const obsLo = observed < 0 ? 0 : u32le(b, observed);
      const obsHi = observed < 0 ? 0 : u32le(b, observed + 4);
      // The spec's rule for consumers: the observed time stands in when the event time is unset.
      if (timeLo !== 0 || timeHi !== 0) this.timestamp(timeHi, timeLo);
      else if (obsLo !== 0 || obsHi !== 0) this.timestamp(obsHi, obsLo);
      else this.bytes(K.null);
      this.bytes(K.timeUnixNano);
      this.u64(timeHi, timeLo);
      this.bytes(K.observed);
      this.u64(obsHi, obsLo);
      this.bytes(K.severityNumber);
      if (severity >= 0) {
        this.p = severity;
        const v = this.varint() | 0; // an enum: int32
        if (v < 0) throw new RecordRefused('severityNumber is not an unsigned 32-bit integer');
        this.digits(v);
      } else this.byte(0x30);
      this.bytes(K.severityText);
      this.string(textFrom, textEnd);
      this.bytes(K.body);
      if (bodyFrom >= 0) this.any(bodyFrom, bodyEnd, 1);
      else this.bytes(K.null);
      this.bytes(K.attributes);
      this.attributes(from, end, 0x32, 1, true, attributes);
      this.bytes(K.dropped);
      if (dropped >= 0) {
        this.p = dropped;
        this.digits(this.varint());
      } else this.byte(0x30);
      this.bytes(K.flags);
      this.digits(flags < 0 ? 0 : u32le(b, flags));
      this.bytes(K.traceId);
      this.id(traceFrom, traceEnd, 16, 'traceId');
      this.bytes(K.spanId);
      this.id(spanFrom, spanEnd, 8, 'spanId');
      this.bytes(K.eventName);
      this.string(nameFrom, nameEnd);
      this.room(this.tailLen);
      this.tail.copy(this.out, this.o, 0, this.tailLen);
      this.o += this.tailLen;
      const size = this.o - start;
      if (size > this.limits.maxBytes)
        throw new RecordRefused(
          `${size} bytes as an event, over ${this.limits.maxBytes} (max_event_bytes)`,
        );
      const given = this.sawIdKey ? this.eventIdAttribute(from, end) : undefined;
      const bytes = this.out.subarray(start, this.o);
      // No id attribute: the sha256 of these bytes, computed where they lie and only if read
      // (an archive-only node never reads it: format 2 recomputes it on replay).
      this.events.push(given !== undefined ? { bytes, id: given } : new DerivedIdEvent(bytes));
    } catch (err) {
      this.o = start;
      if (!(err instanceof RecordRefused)) throw err;
      // Refused, but a bad string anywhere in it still refuses the body.
      checkStrings(this.src, Msg.LogRecord, from, end);
      this.refuse(`resourceLogs[${r}].scopeLogs[${s}].logRecords[${i}]: ${err.message}`, 1);
    }
  }

  /**
   * The KeyValues under field `tag` of the message [from, end) as a JSON object, in the order
   * sent; a repeated key: the first one counts. `watch` notes an event_id / log.record.uid key.
   */
  private attributes(
    from: number,
    end: number,
    tag: number,
    depth: number,
    watch: boolean,
    counted = -1,
  ) {
    const n = counted >= 0 ? counted : this.count(from, end, tag);
    if (n === 0) {
      this.pair(0x7b, 0x7d);
      return;
    }
    const limits = this.limits;
    if (depth > limits.maxDepth)
      throw new RecordRefused(`nested deeper than ${limits.maxDepth} levels (max_event_depth)`);
    this.keys += n;
    if (this.keys > limits.maxKeys)
      throw new RecordRefused(`more than ${limits.maxKeys} keys (max_event_keys)`);
    this.byte(0x7b);
    const base = this.keyTop;
    // Short lists (the usual) are checked for a repeated key by a scan, long ones with a Set.
    const seen = n > 16 ? new Set<string>() : undefined;
    let written = 0;
    const b = this.src;
    let p = from;
    while (p < end) {
      this.p = p;
      const t = this.varint();
      if (t !== tag) {
        this.skip(t & 7);
        p = this.p;
        continue;
      }
      const len = this.varint();
      const kvFrom = this.p;
      const kvEnd = kvFrom + len;
      p = kvEnd;
      let keyFrom = kvFrom;
      let keyEnd = kvFrom;
      let valueFrom = -1;
      let valueEnd = 0;
      let fields = 0;
      while (this.p < kvEnd) {
        const ft = this.varint();
        fields++;
        if (ft === 0x0a || ft === 0x12) {
          const fl = this.varint();
          if (ft === 0x0a) {
            keyFrom = this.p;
            keyEnd = this.p + fl;
          } else {
            valueFrom = this.p;
            valueEnd = this.p + fl;
          }
          this.p += fl;
        } else this.skip(ft & 7);
      }
      // More than a key and a value: what is not written is checked.
      if (fields > 2) checkStrings(b, Msg.KeyValue, kvFrom, kvEnd);
      const keyLen = keyEnd - keyFrom;
      if (watch && (keyLen === 8 || keyLen === 14) && !this.sawIdKey)
        this.sawIdKey = same(b, keyFrom, keyEnd, EVENT_ID) || same(b, keyFrom, keyEnd, RECORD_UID);
      if (seen) {
        const k = dec.decode(b.subarray(keyFrom, keyEnd));
        if (seen.has(k)) {
          checkStrings(b, Msg.KeyValue, kvFrom, kvEnd);
          continue;
        }
        seen.add(k);
      } else {
        let repeated = false;
        const stack = this.keyStack;
        for (let j = base; j < this.keyTop; j += 2) {
          const jf = stack[j];
          if (stack[j + 1] - jf !== keyLen) continue;
          let k = 0;
          while (k < keyLen && b[jf + k] === b[keyFrom + k]) k++;
          if (k === keyLen) {
            repeated = true;
            break;
          }
        }
        if (repeated) {
          checkStrings(b, Msg.KeyValue, kvFrom, kvEnd);
          continue;
        }
        if (this.keyTop + 2 > stack.length) {
          const next = new Int32Array(stack.length * 2);
          next.set(stack);
          this.keyStack = next;
        }
        this.keyStack[this.keyTop++] = keyFrom;
        this.keyStack[this.keyTop++] = keyEnd;
      }
      if (written++ > 0) this.byte(0x2c);
      this.string(keyFrom, keyEnd);
      this.byte(0x3a);
      if (valueFrom >= 0) this.any(valueFrom, valueEnd, depth + 1);
      else this.bytes(K.null);
    }
    this.keyTop = base;
    this.byte(0x7d);
  }

  /** How many fields `tag` the message [from, end) has. */
  private count(from: number, end: number, tag: number): number {
    let n = 0;
    const save = this.p;
    this.p = from;
    while (this.p < end) {
      const t = this.varint();
      if (t === tag) n++;
      this.skip(t & 7);
    }
    this.p = save;
    return n;
  }

  /** AnyValue [from, end) as JSON. */
  private any(from: number, end: number, depth: number): void {
    if (depth > this.limits.maxDepth)
      throw new RecordRefused(
        `nested deeper than ${this.limits.maxDepth} levels (max_event_depth)`,
      );
    // The last of each member; several members set: the first in this order is shown (as the
    // mapping of protobufjs's objects did).
    let str = -1;
    let strEnd = 0;
    let bool = -1;
    let int = -1;
    let dbl = -1;
    let arr = -1;
    let arrEnd = 0;
    let kv = -1;
    let kvEnd = 0;
    let bin = -1;
    let binEnd = 0;
    let fields = 0;
    this.p = from;
    while (this.p < end) {
      const tag = this.varint();
      fields++;
      switch (tag) {
        case 0x10:
          bool = this.p;
          this.skip(0);
          break;
        case 0x18:
          int = this.p;
          this.skip(0);
          break;
        case 0x21:
          dbl = this.p;
          this.p += 8;
          break;
        case 0x0a:
        case 0x2a:
        case 0x32:
        case 0x3a: {
          const len = this.varint();
          const at = this.p;
          this.p += len;
          if (tag === 0x0a) {
            str = at;
            strEnd = at + len;
          } else if (tag === 0x2a) {
            arr = at;
            arrEnd = at + len;
          } else if (tag === 0x32) {
            kv = at;
            kvEnd = at + len;
          } else {
            bin = at;
            binEnd = at + len;
          }
          break;
        }
        default:
          this.skip(tag & 7);
      }
    }
    // Several fields: the ones not written are checked (the one written is, twice).
    if (fields > 1) checkStrings(this.src, Msg.AnyValue, from, end);
    if (str >= 0) this.string(str, strEnd);
    else if (bool >= 0) {
      this.p = bool;
      this.bytes(this.varint() !== 0 ? K.true : K.false);
    } else if (int >= 0) {
      this.p = int;
      const lo = this.varint64();
      this.i64(this.hi, lo);
    } else if (dbl >= 0) this.double(dbl);
    else if (arr >= 0) {
      this.byte(0x5b);
      let n = 0;
      let p = arr;
      while (p < arrEnd) {
        this.p = p;
        const tag = this.varint();
        if (tag !== 0x0a) {
          this.skip(tag & 7);
          p = this.p;
          continue;
        }
        const len = this.varint();
        p = this.p + len;
        if (n++ > 0) this.byte(0x2c);
        this.any(this.p, p, depth + 1);
      }
      this.byte(0x5d);
    } else if (kv >= 0) this.attributes(kv, kvEnd, 0x0a, depth, false);
    else if (bin >= 0) this.base64(bin, binEnd);
    else this.bytes(K.null);
  }

  /** The record's event_id attribute (EVENT_ID_ATTRIBUTES' rule), if it has one. */
  private eventIdAttribute(from: number, end: number): string | undefined {
    const b = this.src;
    for (const name of [EVENT_ID, RECORD_UID]) {
      let p = from;
      while (p < end) {
        this.p = p;
        const t = this.varint();
        if (t !== 0x32) {
          this.skip(t & 7);
          p = this.p;
          continue;
        }
        const len = this.varint();
        const kvEnd = this.p + len;
        p = kvEnd;
        let keyFrom = this.p;
        let keyEnd = this.p;
        let valueFrom = -1;
        let valueEnd = 0;
        while (this.p < kvEnd) {
          const ft = this.varint();
          if (ft === 0x0a || ft === 0x12) {
            const fl = this.varint();
            if (ft === 0x0a) {
              keyFrom = this.p;
              keyEnd = this.p + fl;
            } else {
              valueFrom = this.p;
              valueEnd = this.p + fl;
            }
            this.p += fl;
          } else this.skip(ft & 7);
        }
        if (valueFrom < 0 || !same(b, keyFrom, keyEnd, name)) continue;
        const label = name === EVENT_ID ? 'event_id' : 'log.record.uid';
        let str = -1;
        let strEnd = 0;
        let int = -1;
        this.p = valueFrom;
        while (this.p < valueEnd) {
          const ft = this.varint();
          if (ft === 0x0a) {
            const fl = this.varint();
            str = this.p;
            strEnd = this.p + fl;
            this.p += fl;
          } else if (ft === 0x18) {
            int = this.p;
            this.skip(0);
          } else this.skip(ft & 7);
        }
        if (str >= 0) {
          const v = dec.decode(b.subarray(str, strEnd));
          if (v.length === 0) throw new RecordRefused(`attribute ${label} is an empty string`);
          if (v.length > MAX_EVENT_ID_LENGTH)
            throw new RecordRefused(
              `attribute ${label} longer than ${MAX_EVENT_ID_LENGTH} characters`,
            );
          return v;
        }
        if (int >= 0) {
          this.p = int;
          const lo = this.varint64();
          const mark = this.o;
          this.i64(this.hi, lo);
          const digits = this.out.toString('latin1', mark, this.o);
          this.o = mark;
          return digits;
        }
        throw new RecordRefused(`attribute ${label} must be a string or an integer`);
      }
    }
    return undefined;
  }

  // --- reading (the structure is checked: no bounds to test) ---

  private varint(): number {
    const b = this.src;
    let c = b[this.p++];
    if (c < 0x80) return c;
    let v = c & 0x7f;
    c = b[this.p++];
    v |= (c & 0x7f) << 7;
    if (c >= 0x80) {
      c = b[this.p++];
      v |= (c & 0x7f) << 14;
      if (c >= 0x80) {
        c = b[this.p++];
        v |= (c & 0x7f) << 21;
        if (c >= 0x80) {
          c = b[this.p++];
          v |= (c & 0x7f) << 28;
          while (c >= 0x80) c = b[this.p++];
        }
      }
    }
    return v >>> 0;
  }

  /** High 32 bits of the last varint64. */
  private hi = 0;

  private varint64(): number {
    const b = this.src;
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      const c = b[this.p++];
      if (i < 4) lo |= (c & 0x7f) << (i * 7);
      else if (i === 4) {
        lo |= (c & 0x7f) << 28;
        hi = (c & 0x7f) >> 4;
      } else hi |= (c & 0x7f) << (i * 7 - 32);
      if (c < 0x80) break;
    }
    this.hi = hi >>> 0;
    return lo >>> 0;
  }

  private skip(wire: number): void {
    switch (wire) {
      case 0:
        while (this.src[this.p++] >= 0x80);
        return;
      case 1:
        this.p += 8;
        return;
      case 5:
        this.p += 4;
        return;
      case 2: {
        const len = this.varint();
        this.p += len;
        return;
      }
      default:
        // 3: a group, checked to be closed by its end tag.
        for (;;) {
          const t = this.varint();
          if ((t & 7) === 4) return;
          this.skip(t & 7);
        }
    }
  }

  /** The last varint field `tag` of [from, end); 0 without one. */
  private lastVarint(from: number, end: number, tag: number): number {
    let v = 0;
    this.p = from;
    while (this.p < end) {
      const t = this.varint();
      if (t === tag) v = this.varint();
      else this.skip(t & 7);
    }
    return v;
  }

  /** A Resource's dropped_attributes_count; its entity_refs (not mapped) are checked. */
  private resourceRest(from: number, end: number): number {
    let v = 0;
    this.p = from;
    while (this.p < end) {
      const t = this.varint();
      if (t === 0x10) v = this.varint();
      else if (t === 0x1a) {
        const len = this.varint();
        const at = this.p;
        checkStrings(this.src, Msg.EntityRef, at, at + len);
        this.p = at + len;
      } else this.skip(t & 7);
    }
    return v;
  }

  /** The last string field `tag` of [from, end) as JSON ("" without one). */
  private lastString(from: number, end: number, tag: number): void {
    let at = -1;
    let atEnd = 0;
    this.p = from;
    while (this.p < end) {
      const t = this.varint();
      if (t === tag) {
        const len = this.varint();
        if (at >= 0) this.utf8(at, atEnd);
        at = this.p;
        atEnd = this.p + len;
        this.p += len;
      } else this.skip(t & 7);
    }
    this.string(at, atEnd);
  }

  // --- writing ---

  private room(n: number): void {
    if (this.o + n <= this.out.length) return;
    let size = this.out.length * 2;
    while (size < this.o + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.out.copy(next, 0, 0, this.o);
    this.out = next;
  }

  private byte(c: number): void {
    this.room(1);
    this.out[this.o++] = c;
  }

  private pair(a: number, c: number): void {
    this.room(2);
    this.out[this.o++] = a;
    this.out[this.o++] = c;
  }

  private bytes(src: Uint8Array): void {
    const n = src.length;
    this.room(n);
    const out = this.out;
    let o = this.o;
    for (let i = 0; i < n; i++) out[o++] = src[i];
    this.o = o;
  }

  /** src[from, end) (UTF-8, checked) as a JSON string, as JSON.stringify writes it; "" if from < 0. */
  private string(from: number, end: number): void {
    if (from < 0) {
      this.pair(0x22, 0x22);
      return;
    }
    this.room((end - from) * 6 + 2);
    const src = this.src;
    const out = this.out;
    let o = this.o;
    out[o++] = 0x22;
    for (let i = from; i < end; i++) {
      const c = src[i];
      const e = ESCAPE[c];
      if (e === 0) {
        out[o++] = c;
        continue;
      }
      if (e === 2) {
        const n = utf8Length(src, i, end);
        if (n === 0) throw notUtf8(i);
        out[o++] = c;
        for (let k = 1; k < n; k++) out[o++] = src[i + k];
        i += n - 1;
        continue;
      }
      out[o++] = 0x5c;
      if (e !== 1) out[o++] = e;
      else {
        out[o++] = 0x75; // \u00XX
        out[o++] = 0x30;
        out[o++] = 0x30;
        out[o++] = HEX[c >> 4];
        out[o++] = HEX[c & 15];
      }
    }
    out[o++] = 0x22;
    this.o = o;
  }

  /** Throws if src[from, end) is not UTF-8 (a string that is not written). */
  private utf8(from: number, end: number): void {
    const src = this.src;
    for (let i = from; i < end; i++) {
      if (src[i] < 0x80) continue;
      const n = utf8Length(src, i, end);
      if (n === 0) throw notUtf8(i);
      i += n - 1;
    }
  }

  /** trace_id / span_id: lowercase hex ('' when empty; another length refuses the record). */
  private id(from: number, end: number, size: number, field: string): void {
    if (from < 0 || end === from) return;
    const n = end - from;
    if (n !== size) throw new RecordRefused(`${field} must be ${size} bytes, got ${n}`);
    this.room(n * 2);
    const src = this.src;
    const out = this.out;
    let o = this.o;
    for (let i = from; i < end; i++) {
      const c = src[i];
      out[o++] = HEX[c >> 4];
      out[o++] = HEX[c & 15];
    }
    this.o = o;
  }

  private base64(from: number, end: number): void {
    const n = end - from;
    this.room(Math.ceil(n / 3) * 4 + 2);
    const src = this.src;
    const out = this.out;
    let o = this.o;
    out[o++] = 0x22;
    let i = from;
    for (; i + 2 < end; i += 3) {
      const v = (src[i] << 16) | (src[i + 1] << 8) | src[i + 2];
      out[o++] = B64[v >> 18];
      out[o++] = B64[(v >> 12) & 63];
      out[o++] = B64[(v >> 6) & 63];
      out[o++] = B64[v & 63];
    }
    if (i < end) {
      const two = i + 1 < end;
      const v = (src[i] << 16) | (two ? src[i + 1] << 8 : 0);
      out[o++] = B64[v >> 18];
      out[o++] = B64[(v >> 12) & 63];
      out[o++] = two ? B64[(v >> 6) & 63] : 0x3d;
      out[o++] = 0x3d;
    }
    out[o++] = 0x22;
    this.o = o;
  }

  /** A non-negative integer below 2^53 in decimal. */
  private digits(n: number): void {
    this.room(16);
    const out = this.out;
    if (n < 10) {
      out[this.o++] = 0x30 + n;
      return;
    }
    if (n <= 0x7fffffff) {
      // Small integers: int32 division, which the JIT turns into a multiplication.
      let len = 1;
      for (let t = n; t >= 10; t = (t / 10) | 0) len++;
      let o = this.o + len;
      this.o = o;
      let v = n | 0;
      while (v >= 10) {
        const q = (v / 10) | 0;
        out[--o] = 0x30 + (v - q * 10);
        v = q;
      }
      out[--o] = 0x30 + v;
      return;
    }
    let len = 1;
    for (let t = n; t >= 10; t = Math.floor(t / 10)) len++;
    let o = this.o + len;
    this.o = o;
    while (n >= 10) {
      const q = Math.floor(n / 10);
      out[--o] = 0x30 + (n - q * 10);
      n = q;
    }
    out[--o] = 0x30 + n;
  }

  /** Exactly nine digits (leading zeros). */
  private nine(n: number): void {
    this.room(9);
    const out = this.out;
    let o = this.o + 9;
    this.o = o;
    let v = n | 0; // below 10^9
    for (let k = 0; k < 9; k++) {
      const q = (v / 10) | 0;
      out[--o] = 0x30 + (v - q * 10);
      v = q;
    }
  }

  /** Set by divide(): the quotient and remainder of (hi·2^32 + lo) / 10^9. */
  private quot = 0;
  private rem = 0;

  private divide(hi: number, lo: number): void {
    // Long division in base 2^16: every step stays below 2^53.
    const qh = Math.floor(hi / 1e9);
    let rem = hi - qh * 1e9;
    let cur = rem * 65536 + (lo >>> 16);
    const q1 = Math.floor(cur / 1e9);
    rem = cur - q1 * 1e9;
    cur = rem * 65536 + (lo & 0xffff);
    const q0 = Math.floor(cur / 1e9);
    this.rem = cur - q0 * 1e9;
    this.quot = (qh * 65536 + q1) * 65536 + q0;
  }

  /** An unsigned 64-bit integer in exact decimal. */
  private u64(hi: number, lo: number): void {
    if (hi === 0) {
      this.digits(lo);
      return;
    }
    this.divide(hi, lo);
    const rem = this.rem;
    const quot = this.quot;
    // Timestamps: the seconds' digits repeat from record to record.
    if (quot !== this.lastQuot) {
      const mark = this.o;
      this.digits(quot);
      this.quotDigits = this.out.subarray(mark, this.o);
      this.quotDigits = Uint8Array.from(this.quotDigits);
      this.lastQuot = quot;
    } else this.bytes(this.quotDigits);
    this.nine(rem);
  }

  private lastQuot = -1;
  private quotDigits = new Uint8Array(0);

  /** A signed (two's complement) 64-bit integer in exact decimal. */
  private i64(hi: number, lo: number): void {
    if (hi >= 0x80000000) {
      this.byte(0x2d);
      lo = (~lo + 1) >>> 0;
      hi = (~hi + (lo === 0 ? 1 : 0)) >>> 0;
    }
    this.u64(hi, lo);
  }

  /** Nanoseconds since the epoch → "RFC 3339 with nine fractional digits, UTC" (quoted). */
  private timestamp(hi: number, lo: number): void {
    this.divide(hi, lo);
    const second = this.quot;
    const frac = this.rem;
    if (second !== this.lastSecond) {
      const iso = new Date(second * 1000).toISOString();
      for (let k = 0; k < 19; k++) this.secondPrefix[k] = iso.charCodeAt(k);
      this.lastSecond = second;
    }
    this.byte(0x22);
    this.bytes(this.secondPrefix);
    this.byte(0x2e);
    this.nine(frac);
    this.pair(0x5a, 0x22);
  }

  private double(at: number): void {
    const b = this.src;
    if (littleEndian) for (let k = 0; k < 8; k++) f64Bytes[k] = b[at + k];
    else for (let k = 0; k < 8; k++) f64Bytes[k] = b[at + 7 - k];
    const n = f64[0];
    // JSON has no NaN or Infinity: those three are written as strings.
    const text = Number.isFinite(n) ? String(n) : `"${n}"`;
    this.room(text.length);
    this.o += this.out.write(text, this.o, 'latin1');
  }
}

const mapper = new Mapper();

/**
 * The length of the UTF-8 sequence whose lead byte (>= 0x80) is at b[i], all of it before end;
 * 0 if it is not one (Unicode's table 3-7: no overlongs, surrogates or code points past 10FFFF).
 */
function utf8Length(b: Uint8Array, i: number, end: number): number {
  const c = b[i];
  if (c < 0xc2) return 0;
  if (c < 0xe0) return i + 1 < end && (b[i + 1] & 0xc0) === 0x80 ? 2 : 0;
  if (c < 0xf0) {
    if (i + 2 >= end) return 0;
    const d = b[i + 1];
    const lo = c === 0xe0 ? 0xa0 : 0x80;
    const hi = c === 0xed ? 0x9f : 0xbf;
    return d >= lo && d <= hi && (b[i + 2] & 0xc0) === 0x80 ? 3 : 0;
  }
  if (c > 0xf4 || i + 3 >= end) return 0;
  const d = b[i + 1];
  const lo = c === 0xf0 ? 0x90 : 0x80;
  const hi = c === 0xf4 ? 0x8f : 0xbf;
  return d >= lo && d <= hi && (b[i + 2] & 0xc0) === 0x80 && (b[i + 3] & 0xc0) === 0x80 ? 4 : 0;
}

function u32le(b: Uint8Array, p: number): number {
  return (b[p] | (b[p + 1] << 8) | (b[p + 2] << 16) | (b[p + 3] << 24)) >>> 0;
}

/** b[from, end) equals `name`. */
function same(b: Uint8Array, from: number, end: number, name: Uint8Array): boolean {
  if (end - from !== name.length) return false;
  for (let k = 0; k < name.length; k++) if (b[from + k] !== name[k]) return false;
  return true;
}
