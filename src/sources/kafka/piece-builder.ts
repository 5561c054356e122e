import type { Piece, Poisoned } from './deliver.js';
import type { Mapped, SourceMessage } from './mapping.js';

/** Messages per ring record: bounded so a refused record is cheap to split. */
export const MAX_PIECE_MESSAGES = 5000;

/** A gathered piece, taken out of the builder to be handed on. */
export interface TakenPiece {
  piece: Piece;
  /** Messages of the same offset range that go to the DLQ topic instead. */
  poisoned: Poisoned[];
  bytes: number;
  first: SourceMessage;
  last: SourceMessage;
}

/**
 * Gathers consecutive messages of one partition into a piece (one ring record) up to a byte and
 * message bound; unmappable messages of the same range are kept aside for the DLQ topic, so the
 * piece's offset range covers both and commits as one.
 */
export class PieceBuilder {
  private piece: Piece = { msgs: [], lines: [] };
  private poisoned: Poisoned[] = [];
  private bytes = 0;
  private first: SourceMessage | undefined;
  private last: SourceMessage | undefined;

  constructor(private readonly maxBytes: number) {}

  /** Bytes a mapped message takes in the piece (its line and a newline). */
  static sizeOf(mapped: Mapped): number {
    return mapped.ok ? mapped.bytes.length + 1 : 0;
  }

  /** Would a message of `size` bytes overflow the piece (so it must be handed on first)? */
  full(size: number): boolean {
    return (
      this.piece.msgs.length > 0 &&
      (this.bytes + size > this.maxBytes || this.piece.msgs.length >= MAX_PIECE_MESSAGES)
    );
  }

  add(msg: SourceMessage, mapped: Mapped): void {
    this.first ??= msg;
    this.last = msg;
    if (mapped.ok) {
      this.piece.msgs.push(msg);
      this.piece.lines.push(mapped.bytes);
      this.bytes += mapped.bytes.length + 1;
    } else {
      this.poisoned.push({ msg, class: mapped.class, message: mapped.message });
    }
  }

  /** Nothing gathered, not even a poisoned message. */
  get empty(): boolean {
    return this.first === undefined;
  }

  /** The piece as gathered so far, to be dispatched before it is taken. */
  get current(): Piece {
    return this.piece;
  }

  /** Messages in the piece (not counting poisoned ones). */
  get size(): number {
    return this.piece.msgs.length;
  }

  get pendingBytes(): number {
    return this.bytes;
  }

  /** What was gathered (undefined when nothing was), and an empty builder for what comes next. */
  take(): TakenPiece | undefined {
    const { first, last } = this;
    if (!first || !last) return undefined;
    const taken: TakenPiece = {
      piece: detach(this.piece),
      poisoned: this.poisoned,
      bytes: this.bytes,
      first,
      last,
    };
    this.piece = { msgs: [], lines: [] };
    this.poisoned = [];
    this.bytes = 0;
    this.first = this.last = undefined;
    return taken;
  }
}

/**
 * The piece with its own copy of every message's key, value and headers, and of the lines that
 * are those values. kafkajs hands out messages as views of the whole fetch response (up to
 * several MiB); a piece waits to settle (for a re-send or the DLQ topic) while later fetches
 * arrive, so views would keep every response it touched alive — on a lag drain in 256 MiB that
 * was most of the heap (bench/RESULTS.md, "Kafka in 256 MiB"). One copy of ~400 B a message
 * frees them. Lines the mapping built itself (re-serialised JSON, metadata) are already their own.
 */
export function detach(piece: Piece): Piece {
  let total = 0;
  for (const m of piece.msgs) total += (m.value?.length ?? 0) + (m.key?.length ?? 0);
  const store = new Uint8Array(total);
  let at = 0;
  const own = (b: Buffer | null): Buffer | null => {
    if (b === null) return null;
    store.set(b, at);
    const copy = Buffer.from(store.buffer, at, b.length);
    at += b.length;
    return copy;
  };
  const msgs = piece.msgs.map((m) => ({
    ...m,
    key: own(m.key),
    value: own(m.value),
    headers: m.headers && ownHeaders(m.headers),
  }));
  const lines = piece.lines.map((l, i) =>
    l === piece.msgs[i].value && msgs[i].value ? msgs[i].value : l,
  );
  return { msgs, lines };
}

function ownHeaders(h: NonNullable<SourceMessage['headers']>): SourceMessage['headers'] {
  const out: NonNullable<SourceMessage['headers']> = {};
  const copy = (v: Buffer | string) => (typeof v === 'string' ? v : Buffer.from(v));
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.map(copy) : copy(v);
  }
  return out;
}
