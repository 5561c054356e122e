import type { AckTracker, AckOutcome } from '../../pipeline/acks.js';
import type { Dispatcher } from '../../contracts/dispatch.js';
import { BodyFormat, BodyEncoding } from '../../rings/record.js';
import type { SourceMessage, PoisonClass } from './mapping.js';
import { sleep } from '../../util/backoff.js';

/** Messages whose events go into the pipeline together, as one ring record ("request"). */
export interface Piece {
  msgs: SourceMessage[];
  /** One NDJSON line (or msgpack value) per message, same order. */
  lines: Uint8Array[];
}

export interface Poisoned {
  msg: SourceMessage;
  class: PoisonClass;
  message: string;
}

export interface DeliverDeps {
  dispatcher: Dispatcher;
  acks: AckTracker;
  format: BodyFormat;
  /** When a piece counts as done (its offsets committable): fsync'd in the write-ahead log, or delivered. */
  ack?: 'durable' | 'delivered';
  /** Sends to the DLQ topic; resolves once the broker has them (retrying inside). */
  poison(items: Poisoned[]): Promise<void>;
  /** A retryable failure (sink down, DLQ full): the partition pauses until the retry gets through. */
  retrying(delta: 1 | -1): void;
  backoffMs(attempt: number): number;
  stopped(): boolean;
}

/** Thrown when ferry stops while a piece is still undelivered: its offsets are never committed. */
export class Abandoned extends Error {
  override readonly name = 'Abandoned';
}

const NEWLINE = new Uint8Array([0x0a]);

/** Kafka's request ids live in the upper half of the u32 space; HTTP's stay in the lower half. */
let nextReqId = 0;
function reqId(): number {
  nextReqId = (nextReqId + 1) & 0x7fffffff;
  return (0x80000000 | nextReqId) >>> 0;
}

export function bodyOf(piece: Piece, format: BodyFormat): Uint8Array[] {
  if (format !== BodyFormat.Ndjson) return piece.lines;
  const out: Uint8Array[] = [];
  piece.lines.forEach((l, i) => {
    if (i > 0) out.push(NEWLINE);
    out.push(l);
  });
  return out;
}

/** One attempt to put the piece in a ring; undefined when every ring is full. */
export function tryDispatch(
  deps: Pick<DeliverDeps, 'dispatcher' | 'acks' | 'format' | 'ack'>,
  piece: Piece,
): Promise<AckOutcome> | undefined {
  const id = reqId();
  const source = `kafka:${piece.msgs[0].topic}`;
  const worker = deps.dispatcher.tryDispatch(
    {
      reqId: id,
      format: deps.format,
      encoding: BodyEncoding.Identity,
      receivedAt: Date.now(),
      source,
    },
    bodyOf(piece, deps.format),
    deps.ack ?? 'durable',
  );
  if (worker < 0) return undefined;
  return deps.acks.register(id, worker, deps.ack ?? 'durable');
}

async function dispatchWhenRoom(deps: DeliverDeps, piece: Piece): Promise<AckOutcome> {
  for (;;) {
    if (deps.stopped()) throw new Abandoned('ferry is stopping');
    const o = tryDispatch(deps, piece);
    if (o) return o;
    await sleep(50);
  }
}

/**
 * Follow a dispatched piece to the end: durable (every sink or a DLQ segment),
 * or its poison messages in the DLQ topic and the rest durable. A retryable
 * failure re-sends the whole piece after a backoff (duplicates are fine: same
 * bytes, same event_id); a refused piece is split until the bad messages are
 * singled out — by the worker's line number for NDJSON, by halving otherwise.
 */
export async function settle(
  deps: DeliverDeps,
  piece: Piece,
  first: Promise<AckOutcome>,
): Promise<void> {
  let outcome = first;
  let attempt = 0;
  let counted = false;
  try {
    for (;;) {
      const o = await outcome;
      if (o.ok) return;
      if (o.status === 400 || o.status === 413 || o.status === 415)
        return await splitRefused(deps, piece, o);
      if (o.status === 500) {
        // A sink refused the batch for good (and there is no DLQ segment store to keep it).
        await deps.poison(
          piece.msgs.map((msg) => ({
            msg,
            class: 'sink_refused' as const,
            message: `${o.error}: ${o.message}`,
          })),
        );
        return;
      }
      if (!counted) {
        counted = true;
        deps.retrying(1);
      }
      if (deps.stopped()) throw new Abandoned(`ferry is stopping; ${o.error} not retried`);
      await sleep(deps.backoffMs(attempt++));
      outcome = dispatchWhenRoom(deps, piece);
    }
  } finally {
    if (counted) deps.retrying(-1);
  }
}

async function splitRefused(
  deps: DeliverDeps,
  piece: Piece,
  o: Extract<AckOutcome, { ok: false }>,
): Promise<void> {
  const n = piece.msgs.length;
  if (n === 1) {
    await deps.poison([
      {
        msg: piece.msgs[0],
        class: 'malformed',
        message: o.message.replace(/^line 1 \(byte offset 0\): /, ''),
      },
    ]);
    return;
  }
  const bad =
    deps.format === BodyFormat.Ndjson && o.line !== undefined && o.line >= 1 && o.line <= n
      ? o.line - 1
      : -1;
  const parts: Piece[] = [];
  if (bad >= 0) {
    await deps.poison([
      {
        msg: piece.msgs[bad],
        class: 'malformed',
        message: o.message.replace(/^line \d+ \(byte offset \d+\): /, ''),
      },
    ]);
    const rest = {
      msgs: piece.msgs.filter((_, i) => i !== bad),
      lines: piece.lines.filter((_, i) => i !== bad),
    };
    if (rest.msgs.length > 0) parts.push(rest);
  } else {
    const h = Math.ceil(n / 2);
    parts.push(
      { msgs: piece.msgs.slice(0, h), lines: piece.lines.slice(0, h) },
      { msgs: piece.msgs.slice(h), lines: piece.lines.slice(h) },
    );
  }
  await Promise.all(parts.map((p) => settle(deps, p, dispatchWhenRoom(deps, p))));
}
