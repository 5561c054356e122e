import { Buffer } from 'node:buffer';
import { compress } from '../src/codecs/index.js';
import type { Codec, EncodedBatch } from '../src/pipeline/batch.js';
import type { ParsedEvent } from './parse.js';
import { sha256Hex } from './event-id.js';

export interface BatchLimits {
  maxEvents: number;
  maxBytes: number;
  maxAgeMs: number;
  codec: Codec;
  level: number;
  /** Build JSONEachRow rows (a ClickHouse sink is configured). */
  rows: boolean;
  /** gzip the ClickHouse rows (sent with Content-Encoding: gzip). */
  compressRows: boolean;
}

/** A sealed batch plus the requests whose events it carries (for durable acks). */
export interface SealedBatch {
  seq: number;
  batch: EncodedBatch;
  reqIds: number[];
}

/**
 * Accumulates events into the open batch and seals it when it reaches
 * max_events or max_bytes (archive bytes, before compression) or max_age_ms.
 * Each event is encoded twice as it arrives — an archive envelope line and a
 * ClickHouse JSONEachRow line — so sealing is only a join and a compress.
 */
export class Batcher {
  private limits: BatchLimits;
  private seq = 0;
  private openedAt = 0;
  private archive: string[] = [];
  private rows: string[] = [];
  private bytes = 0;
  private reqIds: number[] = [];
  private readonly onSeal: (b: SealedBatch) => void;

  constructor(limits: BatchLimits, onSeal: (b: SealedBatch) => void) {
    this.limits = limits;
    this.onSeal = onSeal;
  }

  setLimits(limits: BatchLimits): void {
    this.limits = limits;
  }

  get openSeq(): number {
    return this.seq;
  }

  get openEvents(): number {
    return this.archive.length;
  }

  /** ms until the open batch must be sealed by age; Infinity when empty. */
  msUntilDue(now: number): number {
    if (this.archive.length === 0) return Infinity;
    return Math.max(0, this.openedAt + this.limits.maxAgeMs - now);
  }

  /**
   * Append every event of one request. Returns the [first, last] batch seqs
   * the request's events landed in: its durable ack waits for all of them.
   */
  appendRequest(reqId: number, events: ParsedEvent[], receivedAt: number, source: string): { first: number; last: number } {
    const first = this.seq;
    const receivedIso = JSON.stringify(new Date(receivedAt).toISOString());
    const receivedSec = Math.floor(receivedAt / 1000);
    const sourceJson = JSON.stringify(source);
    let last = first;
    for (const ev of events) {
      if (this.archive.length === 0) this.openedAt = Date.now();
      if (this.reqIds.length === 0 || this.reqIds[this.reqIds.length - 1] !== reqId) this.reqIds.push(reqId);
      const idJson = JSON.stringify(ev.id);
      const line = `{"event_id":${idJson},"received_at":${receivedIso},"source":${sourceJson},"payload":${ev.text}}\n`;
      this.archive.push(line);
      if (this.limits.rows) this.rows.push(`{"event_id":${idJson},"received_at":${receivedSec},"source":${sourceJson},"payload":${JSON.stringify(ev.text)}}\n`);
      this.bytes += line.length;
      last = this.seq;
      if (this.archive.length >= this.limits.maxEvents || this.bytes >= this.limits.maxBytes) this.seal();
    }
    return { first, last };
  }

  /** Seal if due by age (or unconditionally with force); no-op when empty. */
  sealIfDue(now: number, force = false): void {
    if (this.archive.length === 0) return;
    if (force || now - this.openedAt >= this.limits.maxAgeMs) this.seal();
  }

  private seal(): void {
    const { codec, level, compressRows } = this.limits;
    const archiveRaw = Buffer.from(this.archive.join(''), 'utf8');
    const batch: EncodedBatch = {
      // Content-derived: the same batch (a retry, a DLQ replay) always gets the same key.
      id: sha256Hex(archiveRaw).slice(0, 32),
      createdAt: this.openedAt,
      events: this.archive.length,
      archive: { body: compress(codec, archiveRaw, level || undefined), codec, rawBytes: archiveRaw.length },
    };
    if (this.limits.rows) {
      const rowsRaw = Buffer.from(this.rows.join(''), 'utf8');
      batch.rows = compressRows
        ? { body: compress('gzip', rowsRaw, 1), codec: 'gzip', rawBytes: rowsRaw.length }
        : { body: rowsRaw, codec: 'none', rawBytes: rowsRaw.length };
    }
    const sealed: SealedBatch = { seq: this.seq, batch, reqIds: this.reqIds };
    this.seq++;
    this.archive = [];
    this.rows = [];
    this.bytes = 0;
    this.reqIds = [];
    this.onSeal(sealed);
  }
}
