/**
 * The protobuf wire format of ExportLogsServiceRequest, checked before anything is mapped
 * (workers/otlp-protobuf.ts then reads the same bytes trusting their structure). A body either
 * decodes as a whole or is refused as a whole, as with the protobufjs decoder it replaces: a
 * truncated message, a length past its parent's end, a known field with the wrong wire type, a
 * varint longer than 10 bytes, messages nested deeper than MAX_NESTING. Unknown fields (and field
 * number 0, as protobufjs does) are skipped by wire type.
 *
 * Strings must be UTF-8 (proto3). That is checked where the bytes are read anyway: the mapper
 * checks what it writes while it escapes it, and has checkStrings() look at what it does not
 * write (a field sent twice, a refused record, a resource's entity_refs…), so the structural pass
 * over the whole body never reads a string's bytes.
 *
 * Field numbers and types: opentelemetry-proto as generated into
 * `@opentelemetry/otlp-transformer` 0.214.0 (the reference decoder, src/sources/otlp/proto.ts).
 * The walk keeps its own stack, so no body can overflow the JS stack.
 */
import * as nodeBuffer from 'node:buffer';

/** Messages of the request, as indexes into FIELDS. */
export const enum Msg {
  Request = 0,
  ResourceLogs = 1,
  Resource = 2,
  ScopeLogs = 3,
  Scope = 4,
  LogRecord = 5,
  AnyValue = 6,
  ArrayValue = 7,
  KvList = 8,
  KeyValue = 9,
  EntityRef = 10,
}

const NAMES = [
  'ExportLogsServiceRequest',
  'ResourceLogs',
  'Resource',
  'ScopeLogs',
  'InstrumentationScope',
  'LogRecord',
  'AnyValue',
  'ArrayValue',
  'KeyValueList',
  'KeyValue',
  'EntityRef',
];

/** What a known field holds; MESSAGE + Msg for a sub-message. 0 = unknown (skipped). */
const VARINT = 1;
const FIXED64 = 2;
const FIXED32 = 3;
const BYTES = 4;
const STRING = 5;
const MESSAGE = 16;
const WIRE_OF = [-1, 0, 1, 5, 2, 2];

/** FIELDS[msg * 16 + field number] (every field number here is < 16). */
const FIELDS = new Uint8Array(11 * 16);
const known: [Msg, number, number][] = [
  [Msg.Request, 1, MESSAGE + Msg.ResourceLogs],
  [Msg.ResourceLogs, 1, MESSAGE + Msg.Resource],
  [Msg.ResourceLogs, 2, MESSAGE + Msg.ScopeLogs],
  [Msg.ResourceLogs, 3, STRING],
  [Msg.Resource, 1, MESSAGE + Msg.KeyValue],
  [Msg.Resource, 2, VARINT],
  [Msg.Resource, 3, MESSAGE + Msg.EntityRef],
  [Msg.ScopeLogs, 1, MESSAGE + Msg.Scope],
  [Msg.ScopeLogs, 2, MESSAGE + Msg.LogRecord],
  [Msg.ScopeLogs, 3, STRING],
  [Msg.Scope, 1, STRING],
  [Msg.Scope, 2, STRING],
  [Msg.Scope, 3, MESSAGE + Msg.KeyValue],
  [Msg.Scope, 4, VARINT],
  [Msg.LogRecord, 1, FIXED64],
  [Msg.LogRecord, 2, VARINT],
  [Msg.LogRecord, 3, STRING],
  [Msg.LogRecord, 5, MESSAGE + Msg.AnyValue],
  [Msg.LogRecord, 6, MESSAGE + Msg.KeyValue],
  [Msg.LogRecord, 7, VARINT],
  [Msg.LogRecord, 8, FIXED32],
  [Msg.LogRecord, 9, BYTES],
  [Msg.LogRecord, 10, BYTES],
  [Msg.LogRecord, 11, FIXED64],
  [Msg.LogRecord, 12, STRING],
  [Msg.AnyValue, 1, STRING],
  [Msg.AnyValue, 2, VARINT],
  [Msg.AnyValue, 3, VARINT],
  [Msg.AnyValue, 4, FIXED64],
  [Msg.AnyValue, 5, MESSAGE + Msg.ArrayValue],
  [Msg.AnyValue, 6, MESSAGE + Msg.KvList],
  [Msg.AnyValue, 7, BYTES],
  [Msg.ArrayValue, 1, MESSAGE + Msg.AnyValue],
  [Msg.KvList, 1, MESSAGE + Msg.KeyValue],
  [Msg.KeyValue, 1, STRING],
  [Msg.KeyValue, 2, MESSAGE + Msg.AnyValue],
  [Msg.EntityRef, 1, STRING],
  [Msg.EntityRef, 2, STRING],
  [Msg.EntityRef, 3, STRING],
  [Msg.EntityRef, 4, STRING],
];
for (const [msg, field, what] of known) FIELDS[msg * 16 + field] = what;

/**
 * Messages nested deeper than this refuse the body. The mapping refuses a record past 512 levels
 * of AnyValue (two messages a level in arrays); protobufjs overflowed the JS stack somewhere
 * past that, which refused the body too.
 */
export const MAX_NESTING = 4096;
/** Groups (a proto2 relic, only ever skipped) nested deeper than this: protobufjs's limit. */
const MAX_GROUP_DEPTH = 100;

/** Node, Bun and Deno have Buffer.isUtf8; the fatal decoder is the fallback. */
const fatal = new TextDecoder('utf-8', { fatal: true });
const isUtf8: (b: Uint8Array) => boolean =
  typeof (nodeBuffer as { isUtf8?: unknown }).isUtf8 === 'function'
    ? (nodeBuffer as unknown as { isUtf8: (b: Uint8Array) => boolean }).isUtf8
    : (b) => {
        try {
          fatal.decode(b);
          return true;
        } catch {
          return false;
        }
      };

/** The body does not decode: its message says why and where. */
export class Malformed extends Error {
  override readonly name = 'Malformed';
}

/**
 * undefined when `body` is a well-formed ExportLogsServiceRequest (its strings aside: see
 * above); else why not (the message of a 400). Never throws.
 */
export function checkRequest(body: Uint8Array): string | undefined {
  try {
    new Checker(body, false).run(Msg.Request, 0, body.length);
    return undefined;
  } catch (err) {
    if (err instanceof Malformed) return err.message;
    // A bug here must not take the worker down: the body is refused with what happened.
    return `cannot read the body: ${(err as Error).message}`;
  }
}

/** Throws Malformed if a string in the message `msg` at [from, end) of a checked body is not UTF-8. */
export function checkStrings(body: Uint8Array, msg: Msg, from: number, end: number): void {
  new Checker(body, true).run(msg, from, end);
}

/** The UTF-8 error of the bytes at `at`. */
export function notUtf8(at: number): Malformed {
  return new Malformed(`a string is not valid UTF-8 (at byte ${at})`);
}

class Checker {
  private p = 0;
  private ends = new Int32Array(64);
  private msgs = new Uint8Array(64);
  constructor(
    private readonly b: Uint8Array,
    private readonly strings: boolean,
  ) {}

  run(top: Msg, from: number, to: number): void {
    const b = this.b;
    let msg: number = top;
    let end = to;
    let depth = 0;
    this.p = from;
    for (;;) {
      while (this.p < end) {
        const at = this.p;
        const tag = this.varint32(end, at);
        const field = tag >>> 3;
        const wire = tag & 7;
        const what = field < 16 ? FIELDS[msg * 16 + field] : 0;
        if (what === 0) {
          this.skip(wire, field, end, 0);
          continue;
        }
        const want = what >= MESSAGE ? 2 : WIRE_OF[what];
        if (wire !== want)
          this.fail(`${NAMES[msg]} field ${field} has wire type ${wire}, expected ${want}`, at);
        if (what === VARINT) this.varint64(end, at);
        else if (what === FIXED64) this.need(8, end, at, msg, field);
        else if (what === FIXED32) this.need(4, end, at, msg, field);
        else {
          const len = this.length(end, at, msg, field);
          const from = this.p;
          if (what === STRING) {
            this.p = from + len;
            if (this.strings) {
              let ascii = true;
              for (let i = from; i < this.p; i++)
                if (b[i] >= 0x80) {
                  ascii = false;
                  break;
                }
              if (!ascii && !isUtf8(b.subarray(from, this.p)))
                this.fail(`${NAMES[msg]} field ${field} is not valid UTF-8`, at);
            }
          } else if (what === BYTES) {
            this.p = from + len;
          } else {
            if (depth >= MAX_NESTING)
              this.fail(`messages nested deeper than ${MAX_NESTING} levels`, at);
            if (depth >= this.ends.length) this.grow();
            this.ends[depth] = end;
            this.msgs[depth] = msg;
            depth++;
            msg = what - MESSAGE;
            end = from + len;
          }
        }
      }
      if (depth === 0) return;
      depth--;
      end = this.ends[depth];
      msg = this.msgs[depth];
    }
  }

  private grow(): void {
    const ends = new Int32Array(this.ends.length * 2);
    ends.set(this.ends);
    this.ends = ends;
    const msgs = new Uint8Array(this.msgs.length * 2);
    msgs.set(this.msgs);
    this.msgs = msgs;
  }

  private fail(why: string, at: number): never {
    throw new Malformed(`${why} (at byte ${at})`);
  }

  private need(n: number, end: number, at: number, msg: number, field: number): void {
    if (this.p + n > end)
      this.fail(
        `${NAMES[msg]} field ${field} is truncated: ${n} bytes needed, ${end - this.p} left`,
        at,
      );
    this.p += n;
  }

  private length(end: number, at: number, msg: number, field: number): number {
    const lo = this.varint64(end, at);
    if (this.hi !== 0 || lo > end - this.p)
      this.fail(
        `${NAMES[msg]} field ${field} is truncated: its length says ${this.hi !== 0 ? 'over 4 GiB' : lo} bytes, ${end - this.p} left`,
        at,
      );
    return lo;
  }

  /** High 32 bits of the last varint64. */
  private hi = 0;

  /** A varint of at most 10 bytes inside [p, end): its low 32 bits (high ones in this.hi). */
  private varint64(end: number, at: number): number {
    const b = this.b;
    let lo = 0;
    let hi = 0;
    for (let i = 0; ; i++) {
      if (this.p >= end) this.fail('truncated varint', at);
      if (i === 10) this.fail('varint longer than 10 bytes', at);
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

  private varint32(end: number, at: number): number {
    const c = this.b[this.p];
    if (c < 0x80 && this.p < end) {
      this.p++;
      return c;
    }
    return this.varint64(end, at);
  }

  /** Skips an unknown field by its wire type. */
  private skip(wire: number, field: number, end: number, groups: number): void {
    const at = this.p;
    switch (wire) {
      case 0:
        this.varint64(end, at);
        return;
      case 1:
        if (this.p + 8 > end) this.fail(`field ${field} is truncated`, at);
        this.p += 8;
        return;
      case 2: {
        const len = this.varint64(end, at);
        if (this.hi !== 0 || len > end - this.p) this.fail(`field ${field} is truncated`, at);
        this.p += len;
        return;
      }
      case 5:
        if (this.p + 4 > end) this.fail(`field ${field} is truncated`, at);
        this.p += 4;
        return;
      case 3: {
        if (groups >= MAX_GROUP_DEPTH)
          this.fail(`groups nested deeper than ${MAX_GROUP_DEPTH} levels`, at);
        for (;;) {
          const t = this.varint32(end, this.p);
          if ((t & 7) === 4) {
            if (t >>> 3 !== field) this.fail(`group ${field} ends as ${t >>> 3}`, at);
            return;
          }
          this.skip(t & 7, t >>> 3, end, groups + 1);
        }
      }
      default:
        this.fail(`invalid wire type ${wire} (field ${field})`, at);
    }
  }
}
