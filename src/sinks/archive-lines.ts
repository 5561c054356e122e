/**
 * A batch's archive part, cut into its events on the main thread, for the sinks that send one
 * event per message (Kafka). The archive is NDJSON of ferry's own envelopes,
 * `{"event_id":…,"received_at":…,"source":…,"payload":<the event as it arrived>}`, one per line
 * (workers/envelope.ts), so cutting needs no JSON parser: one decompression (none when
 * batch.codec is `none`), a newline scan, and per line the event_id string at a fixed place and
 * the first `,"payload":` (the head is ferry's own JSON: a string cannot hold an unescaped `"`,
 * so the first occurrence is the key — as src/replay/convert.ts reads it).
 */
import { Buffer } from 'node:buffer';
import { decompress } from '../codecs/index.js';
import type { EncodedPart } from '../contracts/batch.js';
import { HEADER_PREFIX } from '../archive/format.js';
import { readArchive } from '../archive/read.js';
import { envelopeLine } from '../archive/envelope.js';
import { ArchiveFormatError as ReadError } from '../archive/errors.js';

export interface ArchiveLine {
  /** The whole envelope line, without its newline. */
  line: Buffer;
  eventId: string;
  /** The event's own bytes (the envelope's payload value). */
  payload(): Buffer;
}

const HEAD = Buffer.from('{"event_id":"');
const HEADER = Buffer.from(HEADER_PREFIX);
const PAYLOAD = Buffer.from(',"payload":');
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NL = 0x0a;

export class ArchiveFormatError extends Error {
  override readonly name = 'ArchiveFormatError';
}

/** The archive part's uncompressed bytes (bounded by its recorded raw size). */
export function archiveBytes(part: EncodedPart): Buffer {
  const raw = decompress(part.codec, part.body, part.rawBytes);
  return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
}

/** Does this uncompressed archive start with a format-2 header (docs/archive.md)? */
export function isLeanArchive(ndjson: Buffer): boolean {
  return (
    ndjson.length >= HEADER.length &&
    ndjson.compare(HEADER, 0, HEADER.length, 0, HEADER.length) === 0
  );
}

/**
 * Every envelope of an uncompressed archive, in order. Throws ArchiveFormatError on a line ferry did not write.
 * A format-2 object (docs/archive.md) is read by src/archive/read.ts and each event given as the
 * envelope format 1 would have held, so these sinks send the same messages whatever the format.
 */
export function splitArchive(ndjson: Buffer): ArchiveLine[] {
  if (isLeanArchive(ndjson)) return splitLean(ndjson);
  const out: ArchiveLine[] = [];
  let start = 0;
  while (start < ndjson.length) {
    let nl = ndjson.indexOf(NL, start);
    if (nl < 0) nl = ndjson.length;
    if (nl > start) out.push(parseLine(ndjson.subarray(start, nl), out.length + 1));
    start = nl + 1;
  }
  return out;
}

function parseLine(line: Buffer, n: number): ArchiveLine {
  if (
    line.length <= HEAD.length ||
    line.compare(HEAD, 0, HEAD.length, 0, HEAD.length) !== 0 ||
    line[line.length - 1] !== 0x7d
  )
    throw new ArchiveFormatError(`archive line ${n} is not a ferry envelope`);
  let i = HEAD.length;
  let escaped = false;
  while (i < line.length && line[i] !== QUOTE) {
    if (line[i] === BACKSLASH) {
      escaped = true;
      i++;
    }
    i++;
  }
  if (i >= line.length) throw new ArchiveFormatError(`archive line ${n}: unterminated event_id`);
  const eventId = escaped
    ? (JSON.parse(line.toString('utf8', HEAD.length - 1, i + 1)) as string)
    : line.toString('utf8', HEAD.length, i);
  return {
    line,
    eventId,
    payload: () => {
      const at = line.indexOf(PAYLOAD, i);
      if (at < 0) throw new ArchiveFormatError(`archive line ${n} has no payload`);
      return line.subarray(at + PAYLOAD.length, line.length - 1);
    },
  };
}

/** Format 2: the events' ids recomputed by the header's rule (a JSON.parse and, for derived ids, a sha256 each). */
function splitLean(ndjson: Buffer): ArchiveLine[] {
  let events: ReturnType<typeof readArchive>;
  try {
    events = readArchive(ndjson.toString('utf8'));
  } catch (err) {
    if (err instanceof ReadError) throw new ArchiveFormatError(err.message);
    throw err;
  }
  return events.map((e) => {
    const payload = Buffer.from(e.payload);
    return { line: Buffer.from(envelopeLine(e)), eventId: e.id, payload: () => payload };
  });
}
