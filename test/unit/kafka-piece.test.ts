import { describe, it, expect } from 'vitest';
import { PieceBuilder } from '../../src/sources/kafka/piece-builder.js';
import { mapMessage, type SourceMessage } from '../../src/sources/kafka/mapping.js';

/** Messages as kafkajs hands them out: views of one fetch response. */
function fetched(values: string[]): { response: Buffer; msgs: SourceMessage[] } {
  // Its own allocation, as a fetch response of several MiB is (not a slice of Buffer's pool).
  const text = values.map((v) => `KEY${v}`).join('');
  const response = Buffer.alloc(Buffer.byteLength(text));
  response.write(text);
  let at = 0;
  const msgs = values.map((v, i) => {
    const key = response.subarray(at, at + 3);
    const value = response.subarray(at + 3, at + 3 + v.length);
    at += 3 + v.length;
    return {
      topic: 't',
      partition: 0,
      offset: String(i),
      key,
      value,
      timestamp: '1700000000000',
      headers: { h: response.subarray(0, 3), s: 'text' },
    };
  });
  return { response, msgs };
}

describe('kafka pieces', () => {
  it('a taken piece holds its own bytes, not views of the fetch response, and the same content', () => {
    const { response, msgs } = fetched(['{"a":1}', '{"b":\n2}', '{"c":3}']);
    const b = new PieceBuilder(1 << 20);
    for (const m of msgs)
      b.add(m, mapMessage(m, { format: 'json', max_message_bytes: 1 << 20, metadata_field: '' }));
    const { piece } = b.take()!;
    const text = (x: Uint8Array | null) => (x === null ? null : Buffer.from(x).toString());
    expect(piece.lines.map(text)).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
    expect(piece.msgs.map((m) => text(m.value))).toEqual(['{"a":1}', '{"b":\n2}', '{"c":3}']);
    expect(piece.msgs.map((m) => text(m.key))).toEqual(['KEY', 'KEY', 'KEY']);
    expect(piece.msgs.map((m) => m.offset)).toEqual(['0', '1', '2']);
    expect(text(piece.msgs[0].headers!.h as Buffer)).toBe('KEY');
    expect(piece.msgs[0].headers!.s).toBe('text');
    // Nothing left that shares the response's memory: it can be freed while the piece waits.
    const views = [
      ...piece.lines,
      ...piece.msgs.flatMap((m) => [m.key, m.value, m.headers!.h as Buffer]),
    ].filter((x): x is Uint8Array => x !== null);
    for (const v of views) expect(v.buffer).not.toBe(response.buffer);
    // A line that is the value is the piece's copy of it (one copy a message, not two).
    expect(piece.lines[0].buffer).toBe(piece.msgs[0].value!.buffer);
  });
});
