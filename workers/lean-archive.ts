import { Buffer } from 'node:buffer';
import { ID_RULE, type HeaderV2, type Run } from '../src/archive/format.js';
import type { ByteSink } from './byte-sink.js';
import type { ParsedEvent } from './parse.js';

/**
 * Archive format 2 for one batch (docs/archive.md): the body is each event's bytes and a
 * newline; what format 1 wrote around every event — its id, received_at and source — is kept
 * here as runs and rendered once, as the header line, when the batch is sealed.
 */
export class LeanArchive {
  private base = 0;
  private sources: string[] = [];
  private sourceIndex = new Map<string, number>();
  private runs: Run[] = [];
  /** The open run's received_at and source index (its count grows in place). */
  private runAt = Number.NaN;
  private runSource = -1;
  private runIndex: string | undefined = undefined;
  private indexes: string[] = [];
  private events = 0;
  /** [index, id] of the events whose id the header's rule cannot recompute. */
  private ids: [number, string][] = [];

  /** One event of a request received at receivedAt from source: its bytes, then `\n`. */
  append(out: ByteSink, ev: ParsedEvent, receivedAt: number, source: string): void {
    if (ev.bytes) out.bytes(ev.bytes);
    else out.utf8(ev.text!);
    out.byte(0x0a);
    // Whole milliseconds, as format 1's ISO time held them.
    const at = Math.floor(receivedAt);
    // The rule (payload event_id, else sha256 of the line) gives every id but one set elsewhere.
    if (ev.hashed !== true && ev.idField !== true) this.ids.push([this.events, ev.id]);
    if (this.events++ === 0) this.base = at;
    const last = this.runs.length - 1;
    if (
      last >= 0 &&
      at === this.runAt &&
      this.sources[this.runSource] === source &&
      ev.index === this.runIndex
    ) {
      this.runs[last][0]++;
      return;
    }
    let s = this.sourceIndex.get(source);
    if (s === undefined) {
      s = this.sources.length;
      this.sources.push(source);
      this.sourceIndex.set(source, s);
    }
    if (ev.index === undefined) this.runs.push([1, at - this.base, s]);
    else {
      let k = this.indexes.indexOf(ev.index);
      if (k < 0) k = this.indexes.push(ev.index) - 1;
      this.runs.push([1, at - this.base, s, k]);
    }
    this.runAt = at;
    this.runSource = s;
    this.runIndex = ev.index;
  }

  /**
   * The sealed object's header line (the events are what append wrote), and a fresh state for the
   * next batch.
   */
  sealHead(): Buffer {
    const header: HeaderV2 = {
      ferry_archive: 2,
      events: this.events,
      event_id: ID_RULE,
      received_at: new Date(this.base).toISOString(),
      sources: this.sources,
      runs: this.runs,
    };
    if (this.indexes.length > 0) header.indexes = this.indexes;
    if (this.ids.length > 0) header.ids = this.ids;
    const head = Buffer.from(`${JSON.stringify(header)}\n`);
    this.sources = [];
    this.sourceIndex.clear();
    this.runs = [];
    this.runAt = Number.NaN;
    this.runSource = -1;
    this.events = 0;
    this.ids = [];
    this.indexes = [];
    this.runIndex = undefined;
    return head;
  }
}
