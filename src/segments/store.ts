import { mkdir, open, readdir, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../observe/log.js';
import {
  encodeFrame,
  fileHeader,
  FILE_HEADER_BYTES,
  payloadOf,
  recordProblem,
  setFrameChecksum,
  withSegment,
  type SegmentFormat,
} from './frame.js';
import { isOutOfSpace, syncDir, writeAll, writeAllParts } from '../fs/durable.js';
import { quarantineBytes } from './quarantine.js';
import { errnoCode, errorMessage } from '../util/errors.js';

export interface StoreLimits {
  maxBytes: number;
  maxFiles: number;
  segmentMaxBytes: number;
  policy: 'reject' | 'drop_oldest';
  /** Group commit wait (the write-ahead log's `commit_delay_ms`); 0 or absent: flush at once. */
  commitDelayMs?: number;
}

export interface StoredRecord<H = unknown> {
  segment: Segment<H>;
  offset: number;
  length: number;
  head: H;
  done: boolean;
}

export interface Segment<H = unknown> {
  seq: number;
  path: string;
  bytes: number;
  records: StoredRecord<H>[];
  /** Records not yet done (a segment is removed once it is 0 and the segment is sealed). */
  live: number;
  createdAt: number;
  /** A version 2 file: its records' checksums cover `seq` (SegmentFormat.reusesFiles). */
  seqInChecksum?: boolean;
}

export interface StoreEvents {
  /** Events lost to drop_oldest or TTL (always error-logged by the store too). */
  dropped(events: number, reason: 'capacity' | 'ttl'): void;
  expiredFile(): void;
  changed(): void;
  /** One group commit: bytes written and the seconds its write + fdatasync took. */
  flushed?(bytes: number, records: number, seconds: number): void;
}

/** The store's own file names, format and errors (the DLQ's, the write-ahead log's). */
export interface StoreKind<H> {
  /** For log lines and errors: "DLQ", "WAL". */
  label: string;
  /** The log line of a failed write ("local DLQ save failed"). */
  saveFailed: string;
  /** How a full store words it: `detail` is its size against its limits. */
  fullMessage(name: string, detail: string): string;
  format: SegmentFormat<H>;
  /** File name of segment `seq`, and the pattern that finds them (one group: the sequence). */
  fileName(seq: number): string;
  filePattern: RegExp;
  /** Events a record holds (for drop/TTL accounting and gauges). */
  eventsOf(h: H): number;
  /** The error an append gets when the store cannot keep it. */
  fullError(name: string, reason: 'full' | 'enospc' | 'io', message: string): Error;
  /** The error a read gets when the record on disk is damaged. */
  corruptError(file: string, offset: number, reason: string): Error;
}

interface Pending<H> {
  /** The frame's parts (prefix + payload parts, not copied) and their total length. */
  frame: Uint8Array[];
  length: number;
  /** The body's checksum (finished with the segment's seq in a version 2 file). */
  checksum: number;
  head: H;
  resolve: (r: StoredRecord<H>) => void;
  reject: (e: Error) => void;
}

/**
 * Append-only segment files in `dir`, the newest one open for appends. Appends that arrive
 * together share one write and one fdatasync (group commit): a record is durable — and its append
 * resolves — only after that sync. A segment file is removed only once it is sealed and every
 * record in it is done (re-uploaded, released, or dropped by policy), and the removal is synced in
 * the directory. Shared by the DLQ (one store per sink) and the write-ahead log.
 */
export class SegmentStore<H> {
  readonly segments: Segment<H>[] = [];
  private active: { seg: Segment<H>; fh: FileHandle } | undefined;
  private pending: Pending<H>[] = [];
  private pendingBytes = 0;
  private flushing: Promise<void> | undefined;
  private nextSeq = 1;
  /** Set when an append was refused (full, ENOSPC): until room is made, new data is refused up front. */
  private refusedUntil = 0;
  /** Bytes of every segment (kept as a sum: appends check it on the hot path). */
  private total = 0;
  /** Records in the last group commit. */
  private lastGroup = 0;
  /**
   * Finished segment files kept for reuse (SegmentFormat.reusesFiles), renamed out of the
   * segments' pattern: overwriting a file's blocks costs the kernel far less than allocating new
   * ones (no block allocation or journaled size change per fsync).
   */
  private readonly spare: string[] = [];
  /** Renames to a spare under way. */
  private sparing = 0;

  constructor(
    readonly name: string,
    readonly dir: string,
    protected limits: StoreLimits,
    protected readonly log: Logger,
    protected readonly events: StoreEvents,
    readonly kind: StoreKind<H>,
  ) {}

  /** Segments found by recovery, oldest first. */
  adopt(found: Segment<H>[]): void {
    this.segments.push(...found.sort((a, b) => a.seq - b.seq));
    for (const s of found) this.total += s.bytes;
    this.nextSeq = Math.max(this.nextSeq, ...found.map((s) => s.seq + 1));
  }

  setLimits(l: StoreLimits): void {
    this.limits = l;
    this.refusedUntil = 0;
  }

  /** Bytes on disk, plus appends not yet written. */
  get bytes(): number {
    return this.total;
  }

  get files(): number {
    return this.segments.length;
  }

  /** Records not yet done, oldest first. */
  pendingRecords(): StoredRecord<H>[] {
    return this.segments.flatMap((s) => s.records.filter((r) => !r.done));
  }

  get pendingEvents(): number {
    return this.pendingRecords().reduce((n, r) => n + this.kind.eventsOf(r.head), 0);
  }

  /** Records not yet done (cheap: counted per segment). */
  get liveRecords(): number {
    let n = 0;
    for (const s of this.segments) n += s.live;
    return n;
  }

  /** Full: the next record of `bytes` would not fit under policy reject. */
  wouldReject(bytes = 0): boolean {
    if (Date.now() < this.refusedUntil) return true;
    return (
      this.limits.policy === 'reject' &&
      (this.total + this.pendingBytes + bytes > this.limits.maxBytes ||
        (this.files >= this.limits.maxFiles && this.needsNewSegment(bytes)))
    );
  }

  /**
   * Append one record (its payload possibly in parts); resolves with it once it is fsync'd.
   * Throws (the kind's full error) when it cannot be kept.
   */
  append(head: H, payload: Uint8Array | readonly Uint8Array[]): Promise<StoredRecord<H>> {
    const { parts, length, checksum } = encodeFrame(head, payload, this.kind.format);
    this.makeRoom(length);
    return new Promise<StoredRecord<H>>((resolve, reject) => {
      this.pending.push({ frame: parts, length, checksum, head, resolve, reject });
      this.pendingBytes += length;
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
  async read(r: StoredRecord<H>): Promise<Uint8Array> {
    const buf = await this.readRecord(r);
    // Checked again on every read: the disk may have damaged it since recovery checked it.
    const problem =
      buf.length === r.length
        ? recordProblem(buf, this.kind.format, r.segment.seqInChecksum ? r.segment.seq : undefined)
        : 'cut short';
    if (problem) throw this.kind.corruptError(r.segment.path, r.offset, problem);
    return payloadOf(buf);
  }

  /** The record's bytes as they are on disk now (fewer than its length if the file was cut). */
  private async readRecord(r: StoredRecord<H>): Promise<Uint8Array> {
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
   * A record that cannot be read back (the kind's corrupt error): whatever is left of it goes to
   * `quarantine/` and it counts as done, so the records after it still ship. Returns where it went.
   */
  async quarantine(r: StoredRecord<H>, reason: string): Promise<string> {
    const where = await quarantineBytes(
      this.dir,
      r.segment.path,
      r.offset,
      await this.readRecord(r),
    );
    this.log.error(
      {
        store: this.name,
        file: r.segment.path,
        offset: r.offset,
        head: r.head,
        reason,
        quarantined: where,
      },
      `${this.kind.label} corrupt record quarantined`,
    );
    await this.complete(r);
    return where;
  }

  /** A record is finished with (delivered, released or dropped): remove its segment once nothing in it is left. */
  async complete(r: StoredRecord<H>): Promise<void> {
    if (!r.done) {
      r.done = true;
      r.segment.live--;
    }
    if (r.segment.live === 0 && !this.isActive(r.segment) && this.segments.includes(r.segment))
      await this.removeSegment(r.segment);
  }

  /** Stop appending to the open segment (so it can be removed once its records are done). */
  async seal(): Promise<void> {
    // A new flush may start while we wait for the last one: the file is closed only when none runs.
    while (this.flushing) await this.flushing;
    if (!this.active) return;
    const { fh } = this.active;
    this.active = undefined;
    await fh.close();
    await this.removeFinished();
  }

  isActive(seg: Segment<H>): boolean {
    return this.active?.seg === seg;
  }

  /** When the open segment was created (undefined when none is open). */
  get activeSince(): number | undefined {
    return this.active?.seg.createdAt;
  }

  /** Remove sealed segments older than ttlMs (counted and logged: their events are lost). */
  async expire(ttlMs: number, now = Date.now()): Promise<void> {
    if (!(ttlMs > 0)) return;
    for (const seg of [...this.segments]) {
      if (this.isActive(seg) || now - seg.createdAt < ttlMs) continue;
      const lost = this.liveEvents(seg);
      await this.removeSegment(seg);
      this.events.expiredFile();
      if (lost > 0) this.events.dropped(lost, 'ttl');
      this.log.error(
        { store: this.name, file: seg.path, events: lost },
        `${this.kind.label} TTL → removed=${seg.path}`,
      );
    }
  }

  async close(): Promise<void> {
    await this.seal();
  }

  private liveEvents(seg: Segment<H>): number {
    return seg.records.filter((r) => !r.done).reduce((n, r) => n + this.kind.eventsOf(r.head), 0);
  }

  private needsNewSegment(bytes: number): boolean {
    return !this.active || this.active.seg.bytes + bytes > this.limits.segmentMaxBytes;
  }

  /** Enforce max_bytes / max_files before taking `bytes` more: drop the oldest, or refuse. */
  private makeRoom(bytes: number): void {
    const over = () =>
      this.total + this.pendingBytes + bytes > this.limits.maxBytes ||
      (this.files >= this.limits.maxFiles && this.needsNewSegment(bytes));
    if (!over()) return;
    if (this.limits.policy === 'reject') {
      this.refusedUntil = Infinity;
      throw this.kind.fullError(
        this.name,
        'full',
        this.kind.fullMessage(
          this.name,
          `${this.total} bytes in ${this.files} files; max_bytes ${this.limits.maxBytes}, max_files ${this.limits.maxFiles}`,
        ),
      );
    }
    while (over()) {
      const oldest = this.segments.find((s) => !this.isActive(s));
      if (!oldest)
        throw this.kind.fullError(
          this.name,
          'full',
          `${this.kind.label} ${this.name}: one record (${bytes} bytes) does not fit in max_bytes ${this.limits.maxBytes}`,
        );
      const lost = this.liveEvents(oldest);
      // Synchronously forget it (so the accounting is right now); the unlink follows.
      this.forget(oldest);
      void unlink(oldest.path)
        .then(() => syncDir(this.dir))
        .catch((err) =>
          this.log.error(
            { store: this.name, file: oldest.path, err: errorMessage(err) },
            `${this.kind.label}: could not remove a dropped segment`,
          ),
        );
      if (lost > 0) this.events.dropped(lost, 'capacity');
      this.log.error(
        { store: this.name, file: oldest.path, events: lost, policy: 'drop_oldest' },
        `${this.kind.label} capacity → removed=${oldest.path}`,
      );
      this.events.changed();
    }
  }

  private async flushLoop(): Promise<void> {
    while (this.pending.length > 0) {
      // Group commit under concurrency: when the last group shared its fsync, give the appends of
      // the others in flight a moment to join this one (one fsync costs far more than the wait).
      const delay = this.limits.commitDelayMs ?? 0;
      if (delay > 0 && this.lastGroup > 1 && this.pending.length < this.lastGroup)
        await new Promise((r) => setTimeout(r, delay));
      const group = this.pending;
      this.lastGroup = group.length;
      this.pending = [];
      for (const p of group) this.pendingBytes -= p.length;
      const started = performance.now();
      let groupBytes = 0;
      try {
        const written: { seg: Segment<H>; offset: number; p: Pending<H> }[] = [];
        let created = false;
        // Frames bound for the open segment, gathered into one write (a rotation writes what came before).
        let run: Uint8Array[] = [];
        let runAt = 0;
        const writeRun = async () => {
          if (run.length === 0) return;
          await writeAllParts(this.active!.fh, run, runAt);
          run = [];
        };
        for (const p of group) {
          if (this.needsNewSegment(p.length)) {
            await writeRun();
            await this.rotate();
            created = true;
          }
          const a = this.active!;
          if (run.length === 0) runAt = a.seg.bytes;
          if (a.seg.seqInChecksum)
            setFrameChecksum(p.frame[0], withSegment(p.checksum, a.seg.seq, this.kind.format));
          run.push(...p.frame);
          written.push({ seg: a.seg, offset: a.seg.bytes, p });
          a.seg.bytes += p.length;
          this.total += p.length;
          groupBytes += p.length;
        }
        await writeRun();
        // One sync for the whole group; the directory too when a file was created.
        await this.active!.fh.datasync();
        if (created) await syncDir(this.dir);
        this.events.flushed?.(groupBytes, group.length, (performance.now() - started) / 1000);
        for (const w of written) {
          const r: StoredRecord<H> = {
            segment: w.seg,
            offset: w.offset,
            length: w.p.length,
            head: w.p.head,
            done: false,
          };
          w.seg.records.push(r);
          w.seg.live++;
          w.p.resolve(r);
        }
        this.events.changed();
      } catch (err) {
        const code = errnoCode(err);
        const e = this.kind.fullError(
          this.name,
          isOutOfSpace(err) ? 'enospc' : 'io',
          `${this.kind.saveFailed} for ${this.name}: ${errorMessage(err)}`,
        );
        // The disk may free up on its own (another process): look again in a few seconds.
        this.refusedUntil = Math.max(this.refusedUntil, Date.now() + 5_000);
        this.log.error(
          { store: this.name, err: errorMessage(err), code },
          `${this.kind.saveFailed}: ${errorMessage(err)}`,
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
      const old = this.active.seg;
      this.active = undefined;
      // Everything in it may already be done (a write-ahead log releases fast).
      if (old.live === 0 && old.records.length > 0) await this.removeSegment(old);
    }
    await mkdir(this.dir, { recursive: true });
    const seq = this.nextSeq++;
    const path = join(this.dir, this.kind.fileName(seq));
    // A spare keeps its old records past the new header: they never verify under the new seq.
    const reused = await this.takeSpare(path);
    const fh = await open(path, reused ? 'r+' : 'wx');
    const seg: Segment<H> = {
      seq,
      path,
      bytes: 0,
      records: [],
      live: 0,
      createdAt: Date.now(),
      seqInChecksum: this.kind.format.reusesFiles === true,
    };
    this.active = { seg, fh };
    this.segments.push(seg);
    await writeAll(fh, fileHeader(this.kind.format), 0);
    seg.bytes = FILE_HEADER_BYTES;
    this.total += FILE_HEADER_BYTES;
  }

  private async abandonActive(): Promise<void> {
    const a = this.active;
    this.active = undefined;
    if (!a) return;
    const good = a.seg.records.length
      ? Math.max(...a.seg.records.map((r) => r.offset + r.length))
      : FILE_HEADER_BYTES;
    this.total -= a.seg.bytes - good;
    a.seg.bytes = good;
    try {
      await a.fh.truncate(good);
      await a.fh.datasync();
    } catch {
      // recovery cuts the torn tail at the next start
    }
    await a.fh.close().catch(() => {});
    if (a.seg.records.length === 0 || a.seg.live === 0)
      await this.removeSegment(a.seg).catch(() => {});
  }

  private async removeFinished(): Promise<void> {
    for (const seg of [...this.segments]) {
      if (this.isActive(seg) || seg.live > 0) continue;
      await this.removeSegment(seg);
    }
  }

  private forget(seg: Segment<H>): void {
    const i = this.segments.indexOf(seg);
    if (i >= 0) {
      this.segments.splice(i, 1);
      this.total -= seg.bytes;
    }
  }

  private async removeSegment(seg: Segment<H>): Promise<void> {
    this.forget(seg);
    this.refusedUntil = 0;
    if (
      seg.seqInChecksum &&
      this.spare.length + this.sparing < SPARE_FILES &&
      seg.bytes >= this.limits.segmentMaxBytes / 2
    ) {
      // Out of the segments' pattern first: recovery must never read a finished file again.
      const to = `${seg.path}${SPARE_SUFFIX}`;
      this.sparing++; // removals run concurrently: count this one before the rename
      try {
        await rename(seg.path, to);
        await syncDir(this.dir);
        this.spare.push(to);
      } finally {
        this.sparing--;
      }
      this.events.changed();
      return;
    }
    await unlink(seg.path).catch((err) => {
      if (errnoCode(err) !== 'ENOENT') throw err;
    });
    await syncDir(this.dir);
    this.events.changed();
  }

  /** Rename a spare file to `path`; false when there is none (or it is gone): create a new file then. */
  private async takeSpare(path: string): Promise<boolean> {
    for (let spare = this.spare.pop(); spare; spare = this.spare.pop()) {
      try {
        await rename(spare, path);
        return true;
      } catch (err) {
        this.log.warn(
          { store: this.name, file: spare, err: errorMessage(err) },
          `${this.kind.label}: a spare segment file could not be reused; creating a new one`,
        );
      }
    }
    return false;
  }

  /** Spare files a previous run left (a store that reuses files): kept for reuse, extras removed. */
  async adoptSpares(): Promise<void> {
    if (!this.kind.format.reusesFiles) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (err) {
      if (errnoCode(err) === 'ENOENT') return;
      throw err;
    }
    for (const n of names.filter((x) => x.endsWith(SPARE_SUFFIX))) {
      const path = join(this.dir, n);
      if (this.spare.length < SPARE_FILES) this.spare.push(path);
      else await unlink(path).catch(() => {});
    }
  }
}

/** How many finished files a store that reuses files keeps, and the suffix that takes them out of its pattern. */
export const SPARE_FILES = 2;
export const SPARE_SUFFIX = '.spare';

/** Segment files in dir matching the pattern, with their sequence numbers, oldest first. */
export async function listSegmentFiles(
  dir: string,
  pattern: RegExp,
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
    const m = pattern.exec(n);
    if (!m) continue;
    const path = join(dir, n);
    out.push({ seq: Number(m[1]), path, mtimeMs: (await stat(path)).mtimeMs });
  }
  return out.sort((a, b) => a.seq - b.seq);
}
