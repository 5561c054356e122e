/**
 * A strict JSON validator that runs over UTF-8 bytes without building anything,
 * and notes where the top-level `event_id` value is. It lets the worker accept an
 * NDJSON event without JSON.parse — which allocates the whole object tree only for
 * it to be thrown away (profiled: ~40 % of a worker's time on W1, plus the GC).
 *
 * The contract is one-sided on purpose: when it accepts, JSON.parse accepts too
 * (RFC 8259 grammar, nothing looser). It may be stricter than needed (it rejects
 * anything but an object at the top level, and a top-level key written with
 * escapes): the caller then falls back to JSON.parse, which also words the error.
 * UTF-8 validity is the caller's job (one check over the whole body).
 * test/unit/json-scan.test.ts compares it with JSON.parse on generated inputs.
 */

export const enum IdKind {
  /** No top-level event_id key. */
  None = 0,
  /** A string without escapes: the value is the bytes between the quotes. */
  Plain = 1,
  /** A string with escapes: decode the token with JSON.parse. */
  Escaped = 2,
  /** A number token. */
  Number = 3,
  /** null (treated as absent, as JSON.parse + `== null` would). */
  Null = 4,
  /** true, false, an object or an array: not a usable id. */
  Other = 5,
}

/** The outcome of the last scan (one shared object: the hot path allocates nothing). */
export interface ScanResult {
  ok: boolean;
  idKind: IdKind;
  /** The event_id value token: [idStart, idEnd), quotes included for strings. */
  idStart: number;
  idEnd: number;
  /** Plain id with bytes ≥ 0x80 (decode as UTF-8 rather than latin1). */
  idHigh: boolean;
  /** Index just after the object's closing brace. */
  end: number;
  /** A top-level key spelt with escapes (it could mean event_id): the caller decodes the id itself. */
  idUnsure: boolean;
  /** A newline appeared (as whitespace) inside the object: only possible with multiline scans. */
  newlines: boolean;
  /** When !ok because a limit was passed: which one (else undefined: a syntax error). */
  limit: 'depth' | 'keys' | undefined;
}

/** Per-event limits the scanner enforces (see parse.ts for the values, README "Sending events"). */
export interface ScanLimits {
  /** Most containers open at once, the event's own braces included. */
  maxDepth: number;
  /** Most keys in one event, counted over every object in it. */
  maxKeys: number;
}

const result: ScanResult = {
  ok: false,
  idKind: IdKind.None,
  idStart: 0,
  idEnd: 0,
  idHigh: false,
  end: 0,
  idUnsure: false,
  newlines: false,
  limit: undefined,
};

const NO_LIMITS: ScanLimits = { maxDepth: Infinity, maxKeys: Infinity };

/** Whitespace classes: 1 = space, tab, CR; 2 = newline (whitespace only in multiline scans). */
const WS_LINE = new Uint8Array(256);
WS_LINE[0x20] = WS_LINE[0x09] = WS_LINE[0x0d] = 1;
const WS_ANY = WS_LINE.slice();
WS_ANY[0x0a] = 2;

// Container stack: 1 = object, 2 = array. Grows if a line nests deeper.
let stack = new Uint8Array(64);

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isHex(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** Bytes that end the plain run inside a string: 1 = quote, backslash or control, 2 = ≥ 0x80. */
const STR_CLASS = new Uint8Array(256);
for (let c = 0; c < 0x20; c++) STR_CLASS[c] = 1;
STR_CLASS[QUOTE] = 1;
STR_CLASS[BACKSLASH] = 1;
for (let c = 0x80; c < 0x100; c++) STR_CLASS[c] = 2;

/** Index after the closing quote of the string opening at b[i] (a quote), or -1. Sets lastStrFlags. */
let lastStrEscaped = false;
let lastStrHigh = false;
function scanString(b: Uint8Array, i: number, end: number): number {
  let escaped = false;
  let high = false;
  i++;
  while (i < end) {
    const c = b[i];
    const k = STR_CLASS[c];
    if (k === 0) {
      i++;
      continue;
    }
    if (k === 2) {
      high = true;
      i++;
      continue;
    }
    if (c === QUOTE) {
      lastStrEscaped = escaped;
      lastStrHigh = high;
      return i + 1;
    }
    if (c === BACKSLASH) {
      escaped = true;
      if (i + 1 >= end) return -1;
      const e = b[i + 1];
      if (e === 0x75 /* u */) {
        if (
          i + 5 >= end ||
          !isHex(b[i + 2]) ||
          !isHex(b[i + 3]) ||
          !isHex(b[i + 4]) ||
          !isHex(b[i + 5])
        )
          return -1;
        i += 6;
        continue;
      }
      // " \ / b f n r t
      if (
        e === QUOTE ||
        e === BACKSLASH ||
        e === 0x2f ||
        e === 0x62 ||
        e === 0x66 ||
        e === 0x6e ||
        e === 0x72 ||
        e === 0x74
      ) {
        i += 2;
        continue;
      }
      return -1;
    }
    return -1; // a raw control character
  }
  return -1;
}

/** Index after the number starting at b[i], or -1 (RFC 8259: -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?). */
function scanNumber(b: Uint8Array, i: number, end: number): number {
  if (b[i] === 0x2d) i++;
  if (i >= end) return -1;
  let c = b[i];
  if (c === 0x30) i++;
  else if (c >= 0x31 && c <= 0x39) {
    i++;
    while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) i++;
  } else return -1;
  if (i < end && b[i] === 0x2e) {
    i++;
    const from = i;
    while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) i++;
    if (i === from) return -1;
  }
  if (i < end && (b[i] === 0x65 || b[i] === 0x45)) {
    i++;
    if (i < end && (b[i] === 0x2b || b[i] === 0x2d)) i++;
    const from = i;
    while (i < end && (c = b[i]) >= 0x30 && c <= 0x39) i++;
    if (i === from) return -1;
  }
  return i;
}

function literal(b: Uint8Array, i: number, end: number, word: readonly number[]): number {
  if (i + word.length > end) return -1;
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word[k]) return -1;
  return i + word.length;
}
const TRUE = [0x74, 0x72, 0x75, 0x65];
const FALSE = [0x66, 0x61, 0x6c, 0x73, 0x65];
const NULL = [0x6e, 0x75, 0x6c, 0x6c];
const EVENT_ID = [0x65, 0x76, 0x65, 0x6e, 0x74, 0x5f, 0x69, 0x64]; // event_id

function isEventIdKey(b: Uint8Array, from: number, to: number): boolean {
  // from/to: the key token including its quotes
  if (to - from !== EVENT_ID.length + 2) return false;
  for (let k = 0; k < EVENT_ID.length; k++) if (b[from + 1 + k] !== EVENT_ID[k]) return false;
  return true;
}

/**
 * Validate the JSON object that starts at b[start] (no leading whitespace) and ends
 * at or before `end`; r.end is where it ended — what follows is the caller's business.
 * Without `multiline` it must sit on one line (a newline inside is an error, as in
 * NDJSON); with it, newlines are whitespace (an element of a JSON array) and
 * r.newlines says whether there were any. Nesting and key counts are checked against
 * `limits` as it goes, so depth costs a byte per level and never the call stack.
 * Returns the shared result; read it before the next call.
 */
export function scanObject(
  b: Uint8Array,
  start: number,
  end: number,
  limits: ScanLimits = NO_LIMITS,
  multiline = false,
): ScanResult {
  const r = result;
  r.ok = false;
  r.idKind = IdKind.None;
  r.idHigh = false;
  r.idUnsure = false;
  r.newlines = false;
  r.limit = undefined;
  const ws = multiline ? WS_ANY : WS_LINE;
  let nl = 0;
  let keys = 0;
  const { maxDepth, maxKeys } = limits;
  let i = start;
  if (i >= end || b[i] !== 0x7b) return r; // not an object: let JSON.parse say what it is
  let depth = 0;
  // idNext: the value about to be read is the top-level event_id.
  let idNext = false;
  stack[depth++] = 1;
  i++;
  // 0 = a value, 1 = first key or '}', 2 = after a value, 3 = first value or ']', 4 = a key (after ',')
  let state = 1;
  while (true) {
    let k: number;
    while (i < end && (k = ws[b[i]]) !== 0) {
      nl |= k;
      i++;
    }
    if (i >= end) return r;
    const c = b[i];
    if (state === 1 || state === 4) {
      // a key (or '}' when state 1)
      if (c === 0x7d && state === 1) {
        depth--;
        i++;
        state = 2;
        if (depth === 0) break;
        continue;
      }
      if (c !== QUOTE) return r;
      const keyEnd = scanString(b, i, end);
      if (keyEnd < 0) return r;
      if (++keys > maxKeys) {
        r.limit = 'keys';
        return r;
      }
      if (depth === 1) {
        // A top-level key spelt with escapes could still mean event_id: the caller decodes those.
        if (lastStrEscaped) {
          r.idUnsure = true;
          idNext = false;
        } else idNext = isEventIdKey(b, i, keyEnd);
      }
      i = keyEnd;
      while (i < end && (k = ws[b[i]]) !== 0) {
        nl |= k;
        i++;
      }
      if (i >= end || b[i] !== 0x3a) return r;
      i++;
      state = 0;
      continue;
    }
    if (state === 0 || state === 3) {
      if (state === 3 && c === 0x5d) {
        depth--;
        i++;
        state = 2;
        continue;
      }
      const recordId = idNext && depth === 1;
      const from = i;
      if (c === QUOTE) {
        i = scanString(b, i, end);
        if (i < 0) return r;
        if (recordId) {
          r.idKind = lastStrEscaped ? IdKind.Escaped : IdKind.Plain;
          r.idHigh = lastStrHigh;
        }
      } else if (c === 0x7b || c === 0x5b) {
        if (depth >= maxDepth) {
          r.limit = 'depth';
          return r;
        }
        if (depth === stack.length) {
          const next = new Uint8Array(stack.length * 2);
          next.set(stack);
          stack = next;
        }
        stack[depth++] = c === 0x7b ? 1 : 2;
        i++;
        if (recordId) {
          r.idKind = IdKind.Other;
          idNext = false;
        }
        state = c === 0x7b ? 1 : 3;
        continue;
      } else if (c === 0x74 || c === 0x66) {
        i = literal(b, i, end, c === 0x74 ? TRUE : FALSE);
        if (i < 0) return r;
        if (recordId) r.idKind = IdKind.Other;
      } else if (c === 0x6e) {
        i = literal(b, i, end, NULL);
        if (i < 0) return r;
        if (recordId) r.idKind = IdKind.Null;
      } else if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
        i = scanNumber(b, i, end);
        if (i < 0) return r;
        if (recordId) r.idKind = IdKind.Number;
      } else return r;
      if (recordId) {
        r.idStart = from;
        r.idEnd = i;
        idNext = false;
      }
      state = 2;
      continue;
    }
    // state 2: after a value inside a container
    const top = stack[depth - 1];
    if (c === 0x2c) {
      i++;
      state = top === 1 ? 4 : 0;
      continue;
    }
    if ((c === 0x7d && top === 1) || (c === 0x5d && top === 2)) {
      depth--;
      i++;
      if (depth === 0) break;
      continue;
    }
    return r;
  }
  r.ok = true;
  r.end = i;
  r.newlines = (nl & 2) !== 0;
  return r;
}
