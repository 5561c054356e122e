import type { ParsedEvent } from './parse.js';
import type { ByteSink } from './byte-sink.js';

/** Printable ASCII without `"` and `\`: such a string is its own JSON body and one byte a character. */
const SAFE_ASCII = /^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/;

/**
 * What every event of one request shares in its envelope: received_at and source, rendered once
 * per request instead of once per event.
 */
export interface RequestFrame {
  /** `,"received_at":"<ISO>","source":"…","payload":` for archive lines. */
  archiveTail: string;
  /** `,"received_at":<epoch s>,"source":"…","payload":` for ClickHouse rows. */
  rowsTail: string;
  sourceAscii: boolean;
}

export function requestFrame(receivedAt: number, source: string): RequestFrame {
  const sourceJson = JSON.stringify(source);
  return {
    archiveTail: `,"received_at":"${new Date(receivedAt).toISOString()}","source":${sourceJson},"payload":`,
    rowsTail: `,"received_at":${Math.floor(receivedAt / 1000)},"source":${sourceJson},"payload":`,
    sourceAscii: SAFE_ASCII.test(source),
  };
}

/** An event's id rendered as JSON once, for both encodings. */
export interface EventHead {
  idJson: string;
  /** The envelope head is pure ASCII (id and source): written as latin1, no UTF-8 encoder. */
  ascii: boolean;
}

export function eventHead(ev: ParsedEvent, frame: RequestFrame): EventHead {
  const idPlain = ev.hashed === true || SAFE_ASCII.test(ev.id);
  return {
    idJson: idPlain ? `"${ev.id}"` : JSON.stringify(ev.id),
    ascii: idPlain && frame.sourceAscii,
  };
}

/**
 * The archive line (directory, S3): `{"event_id":…,"received_at":…,"source":…,"payload":<the
 * event's bytes as they arrived>}\n` (with `"_index":…` after the event_id for a `_bulk`
 * document). One write for the head, one copy for the payload.
 */
export function writeArchiveLine(
  out: ByteSink,
  ev: ParsedEvent,
  head: EventHead,
  frame: RequestFrame,
): void {
  if (ev.index === undefined)
    out.text(`{"event_id":${head.idJson}${frame.archiveTail}`, head.ascii);
  else {
    // A `_bulk` document's index (docs/protocols.md): archive lines only, the envelope table has no column for it.
    const plain = SAFE_ASCII.test(ev.index);
    const indexJson = plain ? `"${ev.index}"` : JSON.stringify(ev.index);
    out.text(
      `{"event_id":${head.idJson},"_index":${indexJson}${frame.archiveTail}`,
      head.ascii && plain,
    );
  }
  if (ev.bytes) out.bytes(ev.bytes);
  else out.utf8(ev.text!);
  out.pair(0x7d, 0x0a); // }\n
}

/** The ClickHouse JSONEachRow line: the same envelope with the payload as a JSON string. */
export function writeRowLine(
  out: ByteSink,
  ev: ParsedEvent,
  head: EventHead,
  frame: RequestFrame,
): void {
  out.text(`{"event_id":${head.idJson}${frame.rowsTail}`, head.ascii);
  if (ev.bytes) out.jsonString(ev.bytes);
  else out.utf8(JSON.stringify(ev.text!));
  out.pair(0x7d, 0x0a); // }\n
}
