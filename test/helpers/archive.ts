import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { decompress } from '../../src/codecs/index.js';
import type { Codec } from '../../src/contracts/batch.js';
import { archiveFormatOf, readArchive, type ArchivedEvent } from '../../src/archive/read.js';
import type { ArchiveFormat } from '../../src/archive/format.js';
import { envelopeLine } from '../../src/archive/envelope.js';

/**
 * Every test reads archive objects through this file, so each reads format 1 (envelopes) and
 * format 2 (header + the events' bytes) alike: an object of either format gives the same
 * envelopes and the same envelope lines.
 */

export interface Envelope {
  event_id: string;
  received_at: string;
  source: string;
  payload: Record<string, unknown>;
}

export function codecOfKey(key: string): Codec {
  if (key.endsWith('.gz')) return 'gzip';
  if (key.endsWith('.lz4')) return 'lz4';
  if (key.endsWith('.zst')) return 'zstd';
  return 'none';
}

/** Decompress one archived object by its key's extension. */
export function decodeObject(key: string, body: Uint8Array): Uint8Array {
  return decompress(codecOfKey(key), body, 1 << 30);
}

/** The lines of one decoded object as they are stored (format 2: the header first). */
export function rawLinesOf(decoded: Uint8Array): string[] {
  return Buffer.from(decoded)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0);
}

/** Which format a decoded object is in. */
export function formatOf(decoded: Uint8Array): ArchiveFormat {
  return archiveFormatOf(Buffer.from(decoded.subarray(0, 32)).toString('utf8'));
}

/** The events of one decoded object, through the reader replay and verify use. */
export function eventsOf(decoded: Uint8Array): ArchivedEvent[] {
  return readArchive(Buffer.from(decoded).toString('utf8'));
}

/**
 * Envelope lines of one decoded object: a format-1 object's lines as stored; a format-2 object's
 * events as the envelope lines format 1 would have stored (the payload is the event's bytes).
 */
export function linesOf(decoded: Uint8Array): string[] {
  if (formatOf(decoded) === 1) return rawLinesOf(decoded);
  return eventsOf(decoded).map(envelopeLine);
}

/** Every archived object under a directory sink: key → raw (compressed) bytes. Temp files are reported too. */
export function readDirectorySink(root: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const walk = (d: string) => {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(root, p), readFileSync(p));
    }
  };
  walk(root);
  return out;
}

/** All envelopes in a directory sink (a temp file still being written is not an object yet). */
export function envelopesIn(root: string): Envelope[] {
  const all: Envelope[] = [];
  for (const [key, body] of readDirectorySink(root)) {
    if (/(^|\/)\.[^/]*\.tmp$/.test(key)) continue;
    for (const l of linesOf(decodeObject(key, body))) all.push(JSON.parse(l) as Envelope);
  }
  return all;
}
