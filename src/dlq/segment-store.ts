import { mkdir, open, readdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observe/log.js';
import {
  encodeRecord,
  fileHeader,
  FILE_HEADER_BYTES,
  payloadOf,
  recordProblem,
  type RecordHead,
} from './frame.js';
import { isOutOfSpace, syncDir, writeAll } from '../fs/durable.js';
import { DlqCorruptRecordError, DlqFullError } from './errors.js';
import { quarantineBytes } from './quarantine.js';
import { errnoCode, errorMessage } from '../util/errors.js';

export interface StoreLimits {
  maxBytes: number;
  maxFiles: number;
  segmentMaxBytes: number;
  policy: 'reject' | 'drop_oldest';
}

export interface StoredRecord {
  segment: Segment;
  offset: number;
  length: number;
  head: RecordHead;
  done: boolean;
}

export interface Segment {
  seq: number;
  path: string;
  bytes: number;
  records: StoredRecord[];
  createdAt: number;
}

export interface StoreEvents {
  /** Events lost to drop_oldest or TTL (always error-logged by the store too). */
  dropped(events: number, reason: 'capacity' | 'ttl'): void;
  expiredFile(): void;
  changed(): void;
}

const SEGMENT_RE = /^seg-(\d{16})\.fdq$/;
export const segmentName = (seq: number) => `seg-${String(seq).padStart(16, '0')}.fdq`;

interface Pending {
  frame: Uint8Array;
  head: RecordHead;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * One sink's DLQ: append-only segment files in `dir`, the newest one open for appends.
 * Appends that arrive together share one fdatasync (group commit): a record is durable — and its
 * append resolves — only after that sync. A segment file is removed only once every record in it
 * is re-uploaded (or dropped by policy), and the removal is synced in the directory.
 */
export class SegmentStore {
  readonly segments: Segment[] = [];
  private active: { seg: Segment; fh: FileHandle } | undefined;
  private pending: Pending[] = [];
  private flushing: Promise<void> | undefined;
  private nextSeq = 1;
  /** Set when an append was refused (full, ENOSPC): until room is made, new data is refused up front. */
  private refusedUntil = 0;

  constructor(
    readonly sink: string,
    readonly dir: string,
    private limits: StoreLimits,
    private readonly log: Logger,
    private readonly events: StoreEvents,
  ) {}

  /** Segments found by recovery, oldest first. */
  adopt(found: Segment[]): void {
    this.segments.push(...found.sort((a, b) => a.seq - b.seq));
    this.nextSeq = Math.max(this.nextSeq, ...found.map((s) => s.seq + 1));
  }

  setLimits(l: StoreLimits): void {
    this.limits = l;
    this.refusedUntil = 0;
  }

  get bytes(): number {
    return this.segments.reduce((n, s) => n + s.bytes, 0);
  }

  get files(): number {
    return this.segments.length;
  }

  /** Records not yet re-uploaded, oldest first. */
  pendingRecords(): StoredRecord[] {
    return this.segments.flatMap((s) => s.records.filter((r) => !r.done));
  }

  get pendingEvents(): number {
    return this.pendingRecords().reduce((n, r) => n + r.head.events, 0);
  }

  /** Full: the next batch of `bytes` would not fit under policy reject. */
  wouldReject(bytes = 0): boolean {
    if (Date.now() < this.refusedUntil) return true;
    return (
      this.limits.policy === 'reject' &&
      (this.bytes + bytes > this.limits.maxBytes ||
        (this.files >= this.limits.maxFiles && this.needsNewSegment(bytes)))
    );
  }

  /** Append one record; resolves once it is fsync'd. Throws DlqFullError when it cannot be kept. */
  append(head: RecordHead, payload: Uint8Array): Promise<void> {
    const frame = encodeRecord(head, payload);
    this.makeRoom(frame.length);
    return new Promise<void>((resolve, reject) => {
      this.pending.push({ frame, head, resolve, reject });
      this.startFlush();
    });
  }

  private startFlush(): void {
    if (this.flushing) return;
    const run = async () => {
      try {
        await this.flushLoop();
      } finally {
        this.flushing = undefined;
        // An append that came in after the loop's last look must not wait for the next one.
        if (this.pending.length > 0) this.startFlush();
      }
    };
    this.flushing = run();
  }

  /** Read a record's payload back from its segment. */
  async read(r: StoredRecord): Promise<Uint8Array> {
    const buf = await this.readRecord(r);
    // Checked again on every read: the disk may have damaged it since recovery checked it.
    const problem = buf.length === r.length ? recordProblem(buf) : 'cut short';
    if (problem) throw new DlqCorruptRecordError(r.segment.path, r.offset, problem);
    return payloadOf(buf);
  }

  /** The record's bytes as they are on disk now (fewer than its length if the file was cut). */
  private async readRecord(r: StoredRecord): Promise<Uint8Array> {
    const fh = await open(r.segment.path, 'r');
    try {
      const buf = new Uint8Array(r.length);
      const { bytesRead } = await fh.read(buf, 0, r.length, r.offset);
      return buf.subarray(0, bytesRead);
    } finally {
      await fh.close();
    }
  }

  /**
   * A record that cannot be read back (DlqCorruptRecordError): whatever is left of it goes to
   * `quarantine/` and it counts as done, so the records after it still ship. Returns where it went.
   */
  async quarantine(r: StoredRecord, reason: string): Promise<string> {
    const where = await quarantineBytes(
      this.dir,
      r.segment.path,
      r.offset,
      await this.readRecord(r),
    );
    this.log.error(
      {
        sink: this.sink,
        file: r.segment.path,
        offset: r.offset,
        batch: r.head.batch,
        events: r.head.events,
        reason,
        quarantined: where,
      },
      'DLQ corrupt record quarantined',
    );
    await this.complete(r);
    return where;
  }

  /** A record was delivered (or dropped): remove its segment once nothing in it is left. */
  async complete(r: StoredRecord): Promise<void> {
    r.done = true;
    await this.removeFinished();
  }

  /** Stop appending to the open segment (so it can be re-uploaded and removed). */
  async seal(): Promise<void> {
    // A new flush may start while we wait for the last one: the file is closed only when none runs.
    while (this.flushing) await this.flushing;
    if (!this.active) return;
    const { fh } = this.active;
    this.active = undefined;
    await fh.close();
    await this.removeFinished();
  }

  isActive(seg: Segment): boolean {
    return this.active?.seg === seg;
  }

  /** Remove sealed segments older than ttlMs (counted and logged: their events are lost). */
  async expire(ttlMs: number, now = Date.now()): Promise<void> {
    if (!(ttlMs > 0)) return;
    for (const seg of [...this.segments]) {
      if (this.isActive(seg) || now - seg.createdAt < ttlMs) continue;
      const lost = seg.records.filter((r) => !r.done).reduce((n, r) => n + r.head.events, 0);
      await this.removeSegment(seg);
      this.events.expiredFile();
      if (lost > 0) this.events.dropped(lost, 'ttl');
      this.log.error(
        { sink: this.sink, file: seg.path, events: lost },
        `DLQ TTL → removed=${seg.path}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.seal();
  }

  private needsNewSegment(bytes: number): boolean {
    return !this.active || this.active.seg.bytes + bytes > this.limits.segmentMaxBytes;
  }

  /** Enforce max_bytes / max_files before taking `bytes` more: drop the oldest, or refuse. */
  private makeRoom(bytes: number): void {
    const over = () =>
      this.bytes + bytes > this.limits.maxBytes ||
      (this.files >= this.limits.maxFiles && this.needsNewSegment(bytes));
    if (!over()) return;
    if (this.limits.policy === 'reject') {
      this.refusedUntil = Infinity;
      throw new DlqFullError(
        this.sink,
        'full',
        `DLQ of sink ${this.sink} is full (${this.bytes} bytes in ${this.files} files; max_bytes ${this.limits.maxBytes}, max_files ${this.limits.maxFiles})`,
      );
    }
    while (over()) {
      const oldest = this.segments.find((s) => !this.isActive(s));
      if (!oldest)
        throw new DlqFullError(
          this.sink,
          'full',
          `DLQ of sink ${this.sink}: one batch (${bytes} bytes) does not fit in max_bytes ${this.limits.maxBytes}`,
        );
      const lost = oldest.records.filter((r) => !r.done).reduce((n, r) => n + r.head.events, 0);
      // Synchronously forget it (so the accounting is right now); the unlink follows.
      this.segments.splice(this.segments.indexOf(oldest), 1);
      void unlink(oldest.path)
        .then(() => syncDir(this.dir))
        .catch((err) =>
          this.log.error(
            { sink: this.sink, file: oldest.path, err: errorMessage(err) },
            'DLQ: could not remove a dropped segment',
          ),
        );
      if (lost > 0) this.events.dropped(lost, 'capacity');
      this.log.error(
        { sink: this.sink, file: oldest.path, events: lost, policy: 'drop_oldest' },
        `DLQ capacity → removed=${oldest.path}`,
      );
      this.events.changed();
    }
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0) {
      const group = this.pending;
      this.pending = [];
      try {
        const written: { seg: Segment; offset: number; p: Pending }[] = [];
        let created = false;
        for (const p of group) {
          if (this.needsNewSegment(p.frame.length)) {
            await this.rotate();
            created = true;
          }
          const a = this.active!;
          await writeAll(a.fh, p.frame, a.seg.bytes);
          written.push({ seg: a.seg, offset: a.seg.bytes, p });
          a.seg.bytes += p.frame.length;
        }
        // One sync for the whole group; the directory too when a file was created.
        await this.active!.fh.datasync();
        if (created) await syncDir(this.dir);
        for (const w of written) {
          w.seg.records.push({
            segment: w.seg,
            offset: w.offset,
            length: w.p.frame.length,
            head: w.p.head,
            done: false,
          });
          w.p.resolve();
        }
        this.events.changed();
      } catch (err) {
        const code = errnoCode(err);
        const e = new DlqFullError(
          this.sink,
          isOutOfSpace(err) ? 'enospc' : 'io',
          `local DLQ save failed for sink ${this.sink}: ${errorMessage(err)}`,
        );
        // The disk may free up on its own (another process): look again in a few seconds.
        this.refusedUntil = Math.max(this.refusedUntil, Date.now() + 5_000);
        this.log.error(
          { sink: this.sink, err: errorMessage(err), code },
          `local DLQ save failed: ${errorMessage(err)}`,
        );
        // Nothing more goes after a failed write in that file: cut it back and start a new one next time.
        await this.abandonActive();
        for (const p of group) p.reject(e);
      }
    }
  }

  private async rotate(): Promise<void> {
    if (this.active) {
      await this.active.fh.datasync();
      await this.active.fh.close();
      this.active = undefined;
    }
    await mkdir(this.dir, { recursive: true });
    const seq = this.nextSeq++;
    const path = join(this.dir, segmentName(seq));
    const fh = await open(path, 'wx');
    const seg: Segment = { seq, path, bytes: 0, records: [], createdAt: Date.now() };
    this.active = { seg, fh };
    this.segments.push(seg);
    await writeAll(fh, fileHeader(), 0);
    seg.bytes = FILE_HEADER_BYTES;
  }

  private async abandonActive(): Promise<void> {
    const a = this.active;
    this.active = undefined;
    if (!a) return;
    const good = a.seg.records.length
      ? Math.max(...a.seg.records.map((r) => r.offset + r.length))
      : FILE_HEADER_BYTES;
    a.seg.bytes = good;
    try {
      await a.fh.truncate(good);
      await a.fh.datasync();
    } catch {
      // recovery cuts the torn tail at the next start
    }
    await a.fh.close().catch(() => {});
    if (a.seg.records.length === 0) await this.removeSegment(a.seg).catch(() => {});
  }

  private async removeFinished(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (this.isActive(seg) || seg.records.some((r) => !r.done)) continue;
      await this.removeSegment(seg);
    }
  }

  private async removeSegment(seg: Segment): Promise<void> {
    const i = this.segments.indexOf(seg);
    if (i >= 0) this.segments.splice(i, 1);
    this.refusedUntil = 0;
    await unlink(seg.path).catch((err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await syncDir(this.dir);
    this.events.changed();
  }
}

/** Segment files in dir with their sequence numbers, oldest first. */
export async function listSegments(
  dir: string,
): Promise<{ seq: number; path: string; mtimeMs: number }[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return [];
    throw err;
  }
  const out: { seq: number; path: string; mtimeMs: number }[] = [];
  for (const n of names) {
    const m = SEGMENT_RE.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    out.push({ seq: Number(m[1]), path, mtimeMs: (await stat(path)).mtimeMs });
  }
  return out.sort((a, b) => a.seq - b.seq);
}
