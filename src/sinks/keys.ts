/**
 * Object keys from a template, shared by the directory and S3 sinks so the
 * directory sink writes exactly the objects S3 would get.
 *
 * Variables (all dates UTC, from the batch's createdAt, so a key never depends
 * on when an attempt runs):
 *
 * | variable     | example                    |
 * |--------------|----------------------------|
 * | `{date}`     | `2026-11-23`               |
 * | `{year}`     | `2026`                     |
 * | `{month}`    | `11`                       |
 * | `{day}`      | `23`                       |
 * | `{hour}`     | `07`                       |
 * | `{host}`     | host_id                    |
 * | `{batch_id}` | the batch's content id     |
 * | `{ext}`      | `.ndjson.gz`, `.ndjson.lz4`, `.ndjson.zst`, `.ndjson` |
 * | `{sink}`     | the sink's name            |
 *
 * A key is a pure function of (template, batch, host, sink): a retried or
 * replayed batch renders to the same key and overwrites itself.
 */
import { partOf, type Codec, type EncodedBatch } from '../contracts/batch.js';

export const KEY_VARIABLES = [
  'date',
  'hour',
  'year',
  'month',
  'day',
  'host',
  'batch_id',
  'ext',
  'sink',
] as const;
export type KeyVariable = (typeof KEY_VARIABLES)[number];

export const DEFAULT_KEY_TEMPLATE = 'events/dt={date}/hour={hour}/{host}-{batch_id}{ext}';

/** File extension of an archive object: NDJSON, then the codec's own suffix. */
export const ARCHIVE_EXTENSIONS: Record<Codec, string> = {
  gzip: '.ndjson.gz',
  lz4: '.ndjson.lz4',
  zstd: '.ndjson.zst',
  none: '.ndjson',
};

type Part = string | { v: KeyVariable };

/**
 * Throws (naming the problem) unless the template is usable: only known
 * variables, balanced braces, contains `{batch_id}` (otherwise two batches of
 * the same hour would overwrite each other: silent loss), and a relative path
 * without empty, `.` or `..` segments (so the S3 key and the file path agree and
 * the directory sink cannot escape its root). Call it at config time.
 */
export function validateKeyTemplate(template: string): void {
  parse(template);
}

function parse(template: string): Part[] {
  if (typeof template !== 'string' || template.length === 0)
    throw new Error('key template is empty');
  const parts: Part[] = [];
  let i = 0;
  while (i < template.length) {
    const open = template.indexOf('{', i);
    const close = template.indexOf('}', i);
    if (close !== -1 && (open === -1 || close < open))
      throw new Error(`key template "${template}": unmatched "}" at offset ${close}`);
    if (open === -1) {
      parts.push(template.slice(i));
      break;
    }
    if (open > i) parts.push(template.slice(i, open));
    const end = template.indexOf('}', open);
    if (end === -1) throw new Error(`key template "${template}": unmatched "{" at offset ${open}`);
    const name = template.slice(open + 1, end);
    if (!(KEY_VARIABLES as readonly string[]).includes(name)) {
      throw new Error(
        `key template "${template}": unknown variable {${name}} (known: ${KEY_VARIABLES.map((v) => `{${v}}`).join(' ')})`,
      );
    }
    parts.push({ v: name as KeyVariable });
    i = end + 1;
  }
  if (!parts.some((p) => typeof p !== 'string' && p.v === 'batch_id')) {
    throw new Error(
      `key template "${template}" must contain {batch_id} so each batch has its own key`,
    );
  }
  // Check the path shape with every variable standing in as a plain name.
  const shape = parts.map((p) => (typeof p === 'string' ? p : 'x')).join('');
  if (shape.startsWith('/') || shape.endsWith('/') || shape.includes('\\')) {
    throw new Error(
      `key template "${template}" must be a relative path with "/" separators, not starting or ending with "/"`,
    );
  }
  for (const seg of shape.split('/')) {
    if (seg === '' || seg === '.' || seg === '..')
      throw new Error(
        `key template "${template}" must be a relative path without empty, "." or ".." segments`,
      );
  }
  return parts;
}

/**
 * Values that come from outside the template (host_id, sink name, batch id)
 * are made path-safe: anything but [A-Za-z0-9._-] becomes "_", and leading
 * dots too, so no value can add a path segment or climb out of the root.
 */
function safe(value: string): string {
  const s = value.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, (m) => '_'.repeat(m.length));
  return s.length > 0 ? s : '_';
}

export type KeyRenderer = (batch: EncodedBatch) => string;

/** Parse once, render per batch (the sinks keep one renderer). Throws like validateKeyTemplate. */
export function compileKeyTemplate(template: string, host: string, sink: string): KeyRenderer {
  const parts = parse(template);
  const hostS = safe(host);
  const sinkS = safe(sink);
  return (batch) => {
    const d = new Date(batch.createdAt);
    if (Number.isNaN(d.getTime())) throw new Error(`batch ${batch.id} has no valid createdAt`);
    const year = String(d.getUTCFullYear()).padStart(4, '0');
    const month = p2(d.getUTCMonth() + 1);
    const day = p2(d.getUTCDate());
    let out = '';
    for (const p of parts) {
      if (typeof p === 'string') {
        out += p;
        continue;
      }
      switch (p.v) {
        case 'date':
          out += `${year}-${month}-${day}`;
          break;
        case 'year':
          out += year;
          break;
        case 'month':
          out += month;
          break;
        case 'day':
          out += day;
          break;
        case 'hour':
          out += p2(d.getUTCHours());
          break;
        case 'host':
          out += hostS;
          break;
        case 'sink':
          out += sinkS;
          break;
        case 'batch_id':
          out += safe(batch.id);
          break;
        case 'ext':
          out += ARCHIVE_EXTENSIONS[partOf(batch, 'archive').codec];
          break;
      }
    }
    return out;
  };
}

/** The object key of a batch (convenience form of compileKeyTemplate). */
export function renderKey(
  template: string,
  batch: EncodedBatch,
  host: string,
  sink: string,
): string {
  return compileKeyTemplate(template, host, sink)(batch);
}

function p2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** What a key says about its batch, read back by matchKey. */
export interface KeyFacts {
  /** Start of the UTC hour (or day, when the template has no {hour}) of the batch, ms since epoch. */
  periodStart?: number;
  /** 'hour' | 'day' | undefined (the template has no date in it). */
  granularity?: 'hour' | 'day';
  codec?: Codec;
  batchId?: string;
}

const PATTERNS: Record<KeyVariable, string> = {
  date: '(\\d{4}-\\d{2}-\\d{2})',
  year: '(\\d{4})',
  month: '(\\d{2})',
  day: '(\\d{2})',
  hour: '(\\d{2})',
  host: '([A-Za-z0-9._-]+)',
  sink: '([A-Za-z0-9._-]+)',
  // ferry's batch ids are hex: no '-', so "{host}-{batch_id}" splits at the last dash.
  batch_id: '([A-Za-z0-9_]+)',
  ext: '(\\.ndjson(?:\\.gz|\\.lz4|\\.zst)?)',
};

/**
 * The reverse of compileKeyTemplate: a matcher that reads date, hour, codec and batch id back out
 * of an object key (undefined when the key was not made by this template). Used by replay/verify
 * to pick the objects of a time range without opening them.
 */
export function keyMatcher(template: string): (key: string) => KeyFacts | undefined {
  const parts = parse(template);
  const names: KeyVariable[] = [];
  let re = '^';
  for (const p of parts) {
    if (typeof p === 'string') re += p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else {
      re += PATTERNS[p.v];
      names.push(p.v);
    }
  }
  const rx = new RegExp(re + '$');
  const extCodec = Object.fromEntries(
    Object.entries(ARCHIVE_EXTENSIONS).map(([c, e]) => [e, c as Codec]),
  );
  return (key) => {
    const m = rx.exec(key);
    if (!m) return undefined;
    const v: Partial<Record<KeyVariable, string>> = {};
    for (const [i, n] of names.entries()) v[n] = m[i + 1];
    const [y, mo, d] = v.date ? v.date.split('-') : [v.year, v.month, v.day];
    const facts: KeyFacts = { codec: v.ext ? extCodec[v.ext] : undefined, batchId: v.batch_id };
    if (y && mo && d) {
      const hour = v.hour !== undefined ? Number(v.hour) : 0;
      const t = Date.UTC(Number(y), Number(mo) - 1, Number(d), hour);
      if (Number.isFinite(t)) {
        facts.periodStart = t;
        facts.granularity = v.hour !== undefined ? 'hour' : 'day';
      }
    }
    return facts;
  };
}
