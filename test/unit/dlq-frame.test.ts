import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { crc32c as oracle } from '@aws-crypto/crc32c';
import { crc32c } from '../../src/segments/crc32c.js';
import {
  encodeRecord,
  fileHeader,
  FILE_HEADER_BYTES,
  payloadOf,
  scanSegment,
  type RecordHead,
} from '../../src/dlq/frame.js';

const head = (batch: string, events = 3): RecordHead => ({
  batch,
  sink: 'ch',
  events,
  part: 'rows',
  codec: 'none',
  raw_bytes: 10,
  created_at: 1_700_000_000_000,
  attempts: 2,
  error_class: 'network',
  spooled_at: 1_700_000_000_500,
});

function segment(records: Uint8Array[]): Uint8Array {
  const total = FILE_HEADER_BYTES + records.reduce((n, r) => n + r.length, 0);
  const out = new Uint8Array(total);
  out.set(fileHeader(), 0);
  let off = FILE_HEADER_BYTES;
  for (const r of records) {
    out.set(r, off);
    off += r.length;
  }
  return out;
}

describe('CRC32C', () => {
  it('matches the reference implementation on known vectors and random data', () => {
    // RFC 3720 B.4: 32 bytes of zeros → 0x8a9136aa; "123456789" → 0xe3069283
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.nat(16), (data, shift) => {
        const view = data.subarray(Math.min(shift, data.length)); // unaligned starts too
        expect(crc32c(view)).toBe(oracle(view));
      }),
      { numRuns: 500 },
    );
  });
});

describe('segment frames', () => {
  it('round-trips heads and payloads', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(fc.string({ minLength: 1, maxLength: 20 }), fc.uint8Array({ maxLength: 300 })),
          { maxLength: 8 },
        ),
        (items) => {
          const recs = items.map(([id, p]) => encodeRecord(head(id), p));
          const scan = scanSegment(segment(recs));
          expect(scan.tail).toBe('none');
          expect(scan.corrupt).toEqual([]);
          expect(scan.records.map((r) => r.head.batch)).toEqual(items.map(([id]) => id));
          const bytes = segment(recs);
          for (const [i, r] of scan.records.entries()) {
            expect(payloadOf(bytes.subarray(r.offset, r.offset + r.length))).toEqual(items[i][1]);
          }
        },
      ),
    );
  });

  it('a write torn at every byte offset of the last record: the whole records before it survive, the tail is cut', () => {
    const first = encodeRecord(head('a'), new TextEncoder().encode('{"x":1}\n{"x":2}\n'));
    const last = encodeRecord(head('b'), new TextEncoder().encode('{"y":1}\n'.repeat(5)));
    const full = segment([first, last]);
    const lastStart = FILE_HEADER_BYTES + first.length;
    for (let cut = 0; cut < full.length; cut++) {
      const scan = scanSegment(full.subarray(0, cut));
      if (cut < FILE_HEADER_BYTES) {
        expect(scan.records, `cut ${cut}`).toEqual([]);
        expect(scan.validEnd).toBe(0);
        expect(scan.tail).toBe(cut === 0 ? 'none' : 'torn');
      } else if (cut < lastStart) {
        expect(scan.records.length, `cut ${cut}`).toBe(0);
        expect(scan.validEnd).toBe(FILE_HEADER_BYTES);
        expect(scan.tail).toBe(cut === FILE_HEADER_BYTES ? 'none' : 'torn');
      } else {
        expect(
          scan.records.map((r) => r.head.batch),
          `cut ${cut}`,
        ).toEqual(['a']);
        expect(scan.validEnd).toBe(lastStart);
        expect(scan.tail).toBe(cut === lastStart ? 'none' : 'torn');
      }
      expect(scan.corrupt, `cut ${cut}`).toEqual([]);
    }
    expect(scanSegment(full).records.map((r) => r.head.batch)).toEqual(['a', 'b']);
  });

  it('any single flipped bit is detected: never a wrong record accepted', () => {
    const recs = ['a', 'b', 'c'].map((id, i) =>
      encodeRecord(head(id, i + 1), new TextEncoder().encode(`{"id":"${id}"}\n`.repeat(2))),
    );
    const good = segment(recs);
    const starts = [
      FILE_HEADER_BYTES,
      FILE_HEADER_BYTES + recs[0].length,
      FILE_HEADER_BYTES + recs[0].length + recs[1].length,
    ];
    for (let bit = 0; bit < good.length * 8; bit++) {
      const bad = good.slice();
      bad[bit >> 3] ^= 1 << (bit & 7);
      const scan = scanSegment(bad);
      const byte = bit >> 3;
      const hit = starts.findLastIndex((s) => s <= byte);
      // Whatever the flip did, every record accepted is one of the originals, byte for byte.
      for (const r of scan.records) {
        const i = starts.indexOf(r.offset);
        expect(i, `bit ${bit}: accepted a record at an unknown offset`).toBeGreaterThanOrEqual(0);
        expect(bad.subarray(r.offset, r.offset + r.length)).toEqual(recs[i]);
      }
      if (byte < FILE_HEADER_BYTES) {
        expect(scan.records, `bit ${bit} in the file header`).toEqual([]);
        expect(scan.tail).toBe('unframeable');
        continue;
      }
      // The records before the damaged one are all still there.
      expect(scan.records.length, `bit ${bit}`).toBeGreaterThanOrEqual(hit);
      const offsetInRecord = byte - starts[hit];
      if (offsetInRecord >= 4) {
        // Checksum or body damaged: exactly that record is corrupt, the others survive.
        expect(
          scan.corrupt.map((c) => c.offset),
          `bit ${bit}`,
        ).toEqual([starts[hit]]);
        expect(scan.records.length).toBe(2);
      } else {
        // Length damaged: from there the framing is gone (cut as torn or unframeable, never accepted).
        expect(
          scan.tail === 'torn' || scan.tail === 'unframeable' || scan.corrupt.length > 0,
          `bit ${bit}`,
        ).toBe(true);
      }
    }
  });
});
