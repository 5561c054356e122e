import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { decompress } from '../../src/codecs/index.js';
import type { Codec } from '../../src/contracts/batch.js';

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

/** Raw NDJSON lines of one decoded object. */
export function linesOf(decoded: Uint8Array): string[] {
  return Buffer.from(decoded)
    .toString('utf8')
    .split('\n')
    .filter((l) => l.length > 0);
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
