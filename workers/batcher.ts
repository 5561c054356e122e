import { compress } from '../src/codecs/index.js';
import type { BatchLimits, Codec, EncodedBatch, EncodedPart } from '../src/contracts/batch.js';
import type { ParsedEvent } from './parse.js';
import { sha256Hex } from './event-id.js';
import { ByteSink } from './byte-sink.js';
import { eventHead, requestFrame, writeArchiveLine, writeRowLine } from './envelope.js';
import type { RowPoison } from '../src/contracts/batch.js';
import { encodeRow } from './row-convert.js';
import { writeColumnsRow } from './row-bytes.js';

const utf8 = new TextDecoder();
const utf8Enc = new TextEncoder();
import { LeanArchive } from './lean-archive.js';
import { routeEvent } from './route.js';
import type { RowPlan } from '../src/sinks/clickhouse/row-plan.js';
import type { RowSection } from '../src/contracts/batch.js';

/** Room for format 2's header line (a few hundred bytes; a longer one is copied in front). */
const HEAD_ROOM = 4096;

/** A sealed batch plus the requests whose events it carries (for durable acks). */
export interface SealedBatch {
  seq: number;
  batch: EncodedBatch;
  reqIds: number[];
}

/**
 * Accumulates events into the open batch and seals it when it reaches
 * max_events or max_bytes (archive bytes, before compression) or max_age_ms.
 * Each event is encoded as it arrives — its archive line (format 2: its bytes; format 1: an
 * envelope) and, when a ClickHouse sink exists, a JSONEachRow line — straight into byte
 * buffers, so sealing is only a header and a compress.
 */
export class Batcher {
  private limits: BatchLimits;
  private seq = 0;
  private openedAt = 0;
  private events = 0;
  private readonly archive = new ByteSink(1 << 20);
  private readonly rows = new ByteSink(1 << 16);
  /** Routing: each table's rows of the open batch, by table name (kept across batches). */
  private readonly routed = new Map<string, { out: ByteSink; rows: number }>();
  /** Routing: the routes of the open batch (fixed when it opens). */
  private routes: import('../src/sinks/clickhouse/route-plan.js').RoutePlan | undefined;
  /** Routing: bytes in `routed` (seals a ClickHouse-only node by size). */
  private routedLen = 0;
  /** Format 2's runs and sources for the open batch. */
  private readonly lean = new LeanArchive();
  /** The open batch is archived as format-1 envelopes. */
  private envelopes = false;
  private reqIds: number[] = [];
  /**
   * event_ids of the open batch, in order, where it carries them (envelopes, rows): the batch id
   * is their hash. A batch archived in format 2 alone is identified by its archived bytes instead
   * (see seal), so its derived ids are never computed.
   */
  private ids: string[] = [];
  /** Columns mode: events of the open batch that did not fit the table. */
  private poison: RowPoison[] = [];
  /** JSON of the last source seen (one request's events share it). */
  private sourceFor = '';
  private sourceJson = '""';
  private readonly onSeal: (b: SealedBatch) => void;

  constructor(limits: BatchLimits, onSeal: (b: SealedBatch) => void) {
    this.limits = limits;
    this.onSeal = onSeal;
  }

  setLimits(limits: BatchLimits): void {
    this.limits = limits;
  }

  /** ms until the open batch must be sealed by age; Infinity when empty. */
  msUntilDue(now: number): number {
    if (this.events === 0) return Infinity;
    return Math.max(0, this.openedAt + this.limits.maxAgeMs - now);
  }

  /**
   * Append every event of one request. Returns the [first, last] batch seqs
   * the request's events landed in: its durable ack waits for all of them.
   */
  appendRequest(
    reqId: number,
    events: ParsedEvent[],
    receivedAt: number,
    source: string,
  ): { first: number; last: number } {
    const first = this.seq;
    const frame = requestFrame(receivedAt, source);
    const { archive: withArchive, rows: withRows } = this.limits;
    // Sealed by the size of what is built: the archive, or the rows on a ClickHouse-only node.
    const sized = withArchive ? this.archive : this.rows;
    let last = first;
    for (const ev of events) {
      if (this.events === 0) {
        this.openedAt = Date.now();
        // One format per object: a reload that changes it applies from the next batch.
        this.envelopes = this.limits.archiveFormat === 1;
        // Format 2's header is written in front of the events at seal, into room left for it.
        if (withArchive && !this.envelopes) this.archive.reserve(HEAD_ROOM);
        // Routed or not, per batch: a reload that adds or removes routes applies from the next one.
        this.routes = withRows ? this.limits.routes : undefined;
      }
      const routes = this.routes;
      if (this.reqIds.length === 0 || this.reqIds[this.reqIds.length - 1] !== reqId)
        this.reqIds.push(reqId);
      // The id rendered as JSON: only envelopes and rows carry it (format 2 names the rule instead).
      const carriesIds = withRows || (withArchive && this.envelopes);
      if (carriesIds) this.ids.push(ev.id);
      const head = carriesIds ? eventHead(ev, frame) : undefined;
      if (withArchive) {
        if (this.envelopes) writeArchiveLine(this.archive, ev, head!, frame);
        else this.lean.append(this.archive, ev, receivedAt, source);
      }
      if (routes) this.writeRouted(ev, head!, frame, receivedAt, source);
      else if (withRows) {
        if (this.limits.rowPlan)
          this.writeColumnsRow(this.rows, this.limits.rowPlan, ev, head!, receivedAt, source);
        else writeRowLine(this.rows, ev, head!, frame);
      }
      this.events++;
      last = this.seq;
      const size = routes && !withArchive ? this.routedLen : sized.len;
      if (this.events >= this.limits.maxEvents || size >= this.limits.maxBytes) this.seal();
    }
    return { first, last };
  }

  /**
   * Routing: the event's row into its table's section (envelope or that table's columns), or a
   * poison row when no route takes it and unmatched events are refused.
   */
  private writeRouted(
    ev: ParsedEvent,
    head: ReturnType<typeof eventHead>,
    frame: ReturnType<typeof requestFrame>,
    receivedAt: number,
    source: string,
  ): void {
    const routes = this.routes!;
    const r = routeEvent(routes, ev, source);
    if (r.table < 0) {
      this.poison.push({
        event_id: ev.id,
        column: routes.what,
        reason: (r as { reason: string }).reason,
        event: ev.text ?? utf8.decode(ev.bytes!),
        unrouted: true,
      });
      return;
    }
    const table = routes.tables[r.table];
    let section = this.routed.get(table);
    if (!section) {
      section = { out: new ByteSink(1 << 16), rows: 0 };
      this.routed.set(table, section);
    }
    const before = section.out.len;
    const plan = routes.plans?.[r.table];
    const poisoned = this.poison.length;
    if (plan) this.writeColumnsRow(section.out, plan, ev, head, receivedAt, source);
    else writeRowLine(section.out, ev, head, frame);
    if (this.poison.length === poisoned) section.rows++;
    this.routedLen += section.out.len - before;
  }

  /** Columns mode: the event converted to the table's columns, or a poison row (the batch goes on). */
  private writeColumnsRow(
    out: ByteSink,
    plan: RowPlan,
    ev: ParsedEvent,
    head: { idJson: string },
    receivedAt: number,
    source: string,
  ): void {
    if (this.sourceFor !== source) {
      this.sourceFor = source;
      this.sourceJson = JSON.stringify(source);
    }
    const meta = { idJson: head.idJson, receivedAt, sourceJson: this.sourceJson };
    // The byte walker first (no JSON.parse of the event); encodeRow for what it does not read.
    const bytes = ev.bytes ?? utf8Enc.encode(ev.text!);
    let r: { ok: true } | { ok: false; column: string; reason: string } | undefined =
      writeColumnsRow(out, bytes, meta, plan);
    if (r === undefined) {
      const text = ev.text ?? utf8.decode(bytes);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text;
      }
      const e = encodeRow(parsed, meta, plan);
      if (e.ok) out.utf8(e.line);
      r = e;
    }
    if (!r.ok)
      this.poison.push({
        event_id: ev.id,
        column: r.column,
        reason: r.reason,
        event: ev.text ?? utf8.decode(bytes),
      });
  }

  /** Routing: the sections of the open batch; tables no longer routed to are forgotten. */
  private sealSections(compress: boolean): EncodedPart {
    const part = encodeSections(this.routed, compress ? 'gzip' : 'none');
    const live = new Set(this.limits.routes?.tables ?? []);
    for (const t of [...this.routed.keys()]) if (!live.has(t)) this.routed.delete(t);
    this.routedLen = 0;
    return part;
  }

  /** Seal if due by age (or unconditionally with force); no-op when empty. */
  sealIfDue(now: number, force = false): void {
    if (this.events === 0) return;
    if (force || now - this.openedAt >= this.limits.maxAgeMs) this.seal();
  }

  private seal(): void {
    const { codec, level, compressRows } = this.limits;
    // Where the events' ids are at hand (rows, format-1 envelopes) the batch id is their hash
    // (64 B an event). A format-2-only batch never computed its derived ids: it is identified by
    // its sealed object instead — the compressed bytes, ~15× fewer to hash than the events
    // (sha256 runs at ~0.5 GB/s here: hashing the raw events would cost what the ids saved).
    // Either way the same events in the same order (a DLQ retry, a WAL replay of the same
    // records) give the same id, hence the same S3 key.
    const withIds = this.ids.length === this.events;
    const batch: EncodedBatch = {
      id: withIds ? sha256Hex(this.ids.join('\n')).slice(0, 32) : '',
      createdAt: this.openedAt,
      events: this.events,
    };
    if (this.limits.archive) {
      batch.archive = this.envelopes
        ? encodePart(this.archive, codec, level || undefined)
        : this.archive.withHead(this.lean.sealHead(), codec === 'none', (raw) =>
            encodeBytes(raw, codec, level || undefined),
          );
    }
    if (!withIds) batch.id = sha256Hex(batch.archive?.body ?? new Uint8Array(0)).slice(0, 32);
    if (this.limits.rows && this.routes) batch.rows = this.sealSections(compressRows);
    else if (this.limits.rows) {
      // ClickHouse takes gzip (Content-Encoding) or plain rows; level 1: rows are transient.
      batch.rows = encodePart(this.rows, compressRows ? 'gzip' : 'none', 1);
    }
    if (this.poison.length > 0) {
      batch.rowPoison = this.poison;
      this.poison = [];
    }
    const sealed: SealedBatch = { seq: this.seq, batch, reqIds: this.reqIds };
    this.seq++;
    this.events = 0;
    this.reqIds = [];
    this.ids = [];
    this.onSeal(sealed);
  }
}

/**
 * Routing: one rows part whose body is each table's section, compressed on its own (gzip members
 * one after the other), so the sink sends each as its own INSERT without decompressing.
 */
function encodeSections(
  routed: Map<string, { out: ByteSink; rows: number }>,
  codec: 'gzip' | 'none',
): EncodedPart {
  const bodies: Uint8Array[] = [];
  const sections: RowSection[] = [];
  let rawBytes = 0;
  for (const [table, s] of routed) {
    if (s.rows === 0 && s.out.len === 0) continue;
    let body: Uint8Array | undefined;
    let raw = 0;
    const rows = s.rows;
    s.out.drain((bytes) => {
      raw = bytes.length;
      // none: a copy, since the section's buffer is reused for the next batch.
      body = codec === 'none' ? Uint8Array.prototype.slice.call(bytes) : compress(codec, bytes, 1);
    });
    s.rows = 0;
    bodies.push(body!);
    sections.push({ table, bytes: body!.byteLength, rawBytes: raw, rows });
    rawBytes += raw;
  }
  const out = new Uint8Array(bodies.reduce((n, b) => n + b.byteLength, 0));
  let at = 0;
  for (const b of bodies) {
    out.set(b, at);
    at += b.byteLength;
  }
  return { body: out, codec, rawBytes, sections };
}

/**
 * A sealed part: compressed with its codec (none = the bytes as they are, which leave with the
 * batch: the sink gets a fresh buffer). A compressed part copies the bytes out, so the sink keeps
 * its buffer for the next batch.
 */
function encodePart(sink: ByteSink, codec: Codec, level: number | undefined): EncodedPart {
  if (codec === 'none') {
    const raw = sink.take();
    return { body: raw, codec, rawBytes: raw.length };
  }
  let part: EncodedPart | undefined;
  sink.drain((raw) => {
    part = { body: compress(codec, raw, level), codec, rawBytes: raw.length };
  });
  return part!;
}

/** Format 2's object (header + events, already one buffer): compressed, or as it is for none. */
function encodeBytes(raw: Buffer, codec: Codec, level: number | undefined): EncodedPart {
  return {
    body: codec === 'none' ? raw : compress(codec, raw, level),
    codec,
    rawBytes: raw.length,
  };
}
