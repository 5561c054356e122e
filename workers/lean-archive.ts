import { Buffer } from 'node:buffer';
import { ID_RULE, type HeaderV2, type Run } from '../src/archive/format.js';
import { ByteSink } from './byte-sink.js';
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
  /**
   * The header's `ids` members (`[index,"id"],…`) of the events whose id the rule cannot recompute,
   * rendered as they come: kept as pairs of strings until the seal, a batch's ids outlived the
   * young generation and cost more collection than rendering them (bench/RESULTS.md, WBID).
   */
  private ids: ByteSink | undefined;

  /** One event of a request received at receivedAt from source: its bytes, then `\n`. */
  append(out: ByteSink, ev: ParsedEvent, receivedAt: number, source: string): void {
    if (ev.bytes) out.bytes(ev.bytes);
    else out.utf8(ev.text!);
    out.byte(0x0a);
    // Whole milliseconds, as format 1's ISO time held them.
    const at = Math.floor(receivedAt);
    // The rule (payload event_id, else sha256 of the line) gives every id but one set elsewhere.
    if (ev.hashed !== true && ev.idField !== true) this.addId(this.events, ev.id);
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

  private addId(event: number, id: string): void {
    this.ids ??= new ByteSink(4096);
    const out = this.ids;
    if (out.len > 0) out.byte(0x2c); // ,
    out.byte(0x5b); // [
    out.ascii(String(event));
    out.byte(0x2c);
    out.utf8(JSON.stringify(id));
    out.byte(0x5d); // ]
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
    let head: Buffer;
    const json = JSON.stringify(header);
    const ids = this.ids;
    if (ids && ids.len > 0) {
      // `ids` is the header's last key: `…,"ids":[…]}`, as JSON.stringify would write it.
      const open = `${json.slice(0, -1)},"ids":[`;
      const n = Buffer.byteLength(open);
      head = Buffer.allocUnsafe(n + ids.len + 3);
      head.write(open, 0, 'utf8');
      ids.buf.copy(head, n, 0, ids.len);
      head.write(']}\n', n + ids.len, 'latin1');
      ids.len = 0;
      // A batch of unusually many or long ids does not keep its buffer for good.
      if (ids.buf.length > 1 << 20) this.ids = undefined;
    } else head = Buffer.from(`${json}\n`);
    this.sources = [];
    this.sourceIndex.clear();
    this.runs = [];
    this.runAt = Number.NaN;
    this.runSource = -1;
    this.events = 0;
    this.indexes = [];
    this.runIndex = undefined;
    return head;
  }
}
