import { join } from 'node:path';
import type { FerryConfig } from '../config/types.js';
import type { Logger } from '../observe/log.js';
import type { WalMetrics } from '../observe/metrics.js';
import { recoverSegments } from '../segments/recovery.js';
import { SegmentStore, type StoreLimits } from '../segments/store.js';
import { RECORD_OVERHEAD } from '../segments/frame.js';
import { errorMessage } from '../util/errors.js';
import { WalEntry, type EntryOwner } from './entry.js';
import { WAL_HEAD, WAL_KIND, type WalHead } from './format.js';
import { faultAt } from './fault.js';

// Test-only crash points (src/wal/fault.ts); no-ops unless FERRY_TEST_WAL_FAULT is set.
const crashAfterFsync = faultAt('after-fsync');
const crashBeforeRelease = faultAt('before-release');

export function walDir(cfg: FerryConfig): string {
  return cfg.wal.dir || join(cfg.state_dir, 'wal');
}

function limitsOf(cfg: FerryConfig): StoreLimits {
  return {
    maxBytes: cfg.wal.max_bytes,
    maxFiles: cfg.wal.max_files,
    segmentMaxBytes: cfg.wal.segment_max_bytes,
    // Nothing acknowledged is ever dropped: a full log refuses new durable requests.
    policy: 'reject',
    commitDelayMs: cfg.wal.commit_delay_ms,
  };
}

/** Framing + the head, per record: what a record of `payload` bytes costs on disk. */
const HEAD_BYTES = JSON.stringify(WAL_HEAD).length;
export const recordBytes = (payload: number) => RECORD_OVERHEAD + 4 + HEAD_BYTES + payload;

/**
 * The local write-ahead log behind ack=durable (docs/wal.md): one segment store
 * (`src/segments/store.ts`, the DLQ's machinery) whose records are the ring records of durable
 * requests. Appends share one write + fdatasync (group commit); a record is released when its
 * batches are delivered or in a DLQ; a segment is deleted once it is closed (by size or age) and
 * all its records are released. Release is never written down: a crash replays whole surviving
 * segments, released records included (duplicates, deduplicated downstream by event_id).
 */
export class WriteAheadLog implements EntryOwner {
  private timer: ReturnType<typeof setInterval> | undefined;
  private sealing: Promise<void> | undefined;
  /** Entries appended but not yet written or released (for the gauge). */
  private inflight = 0;
  /** Segment removals under way (close waits for them). */
  private readonly removing = new Set<Promise<void>>();
  /** The largest record refused for want of room, until one that size fits again. */
  private refusedBytes = 0;
  /** Set by the re-dispatcher: where a lost record goes. */
  onLost: (e: WalEntry) => void = () => {};

  private constructor(
    readonly store: SegmentStore<WalHead>,
    private cfg: FerryConfig,
    private readonly metrics: WalMetrics,
    private readonly log: Logger,
  ) {}

  /**
   * Recover the log directory (torn tails cut, corrupt records quarantined) and return the log
   * with the records found: every one of them is to be dispatched again before ferry listens.
   */
  static async open(
    cfg: FerryConfig,
    metrics: WalMetrics,
    log: Logger,
  ): Promise<{ wal: WriteAheadLog; recovered: WalEntry[] }> {
    const dir = walDir(cfg);
    let wal!: WriteAheadLog;
    const store = new SegmentStore<WalHead>(
      'wal',
      dir,
      limitsOf(cfg),
      log,
      {
        dropped: () => {},
        expiredFile: () => {},
        changed: () => wal?.updateGauges(),
        flushed: (bytes, records, seconds) => {
          metrics.walAppendBytes.inc(bytes);
          metrics.walAppendRecords.inc(records);
          metrics.walFsyncs.inc();
          metrics.walFsyncSeconds.observe(seconds);
          crashAfterFsync(records);
        },
      },
      WAL_KIND,
    );
    wal = new WriteAheadLog(store, cfg, metrics, log);
    const rec = await recoverSegments('wal', dir, WAL_KIND, log);
    store.adopt(rec.segments);
    await store.adoptSpares();
    if (rec.corrupt > 0) metrics.walCorruptRecords.inc(rec.corrupt);
    const recovered = rec.segments.flatMap((s) => s.records.map((r) => new WalEntry(wal, r)));
    if (rec.records > 0 || rec.corrupt > 0)
      log.warn(
        {
          files: rec.segments.length,
          records: rec.records,
          corrupt: rec.corrupt,
          truncated_bytes: rec.truncatedBytes,
        },
        'WAL recovered: replaying its records before listening (at-least-once: released ones come again, deduplicated by event_id)',
      );
    wal.updateGauges();
    wal.startRoller();
    return { wal, recovered };
  }

  /** A reload: size limits and the roll age apply from now on (dir and enabled need a restart). */
  setConfig(cfg: FerryConfig): void {
    this.cfg = cfg;
    this.store.setLimits(limitsOf(cfg));
    this.startRoller();
  }

  /** Would a record of `payload` bytes be refused now? (Remembered: refusal() says so until it fits.) */
  full(payload: number): boolean {
    const bytes = recordBytes(payload);
    if (!this.store.wouldReject(bytes)) return false;
    this.refusedBytes = Math.max(this.refusedBytes, bytes);
    return true;
  }

  /** Why durable requests are refused now (for the 503 and /readyz), or undefined. */
  refusal(): string | undefined {
    if (this.refusedBytes > 0 && !this.store.wouldReject(this.refusedBytes)) this.refusedBytes = 0;
    if (this.refusedBytes === 0 && !this.store.wouldReject(0)) return undefined;
    return `the write-ahead log is full (${this.store.bytes} bytes in ${this.store.files} files; wal.max_bytes ${this.cfg.wal.max_bytes})`;
  }

  /** Append a ring record; the entry's `synced` resolves once it is fsync'd (false if it could not be). */
  append(parts: readonly Uint8Array[]): WalEntry {
    let written: Promise<import('../segments/store.js').StoredRecord<WalHead>>;
    try {
      written = this.store.append(WAL_HEAD, parts);
    } catch (err) {
      written = Promise.reject(err);
    }
    this.inflight++;
    const e = new WalEntry(this, written);
    e.synced.then((ok) => {
      this.inflight--;
      if (!ok) this.updateGauges();
    });
    return e;
  }

  /** The ring record an entry holds, read back from disk. */
  read(e: WalEntry): Promise<Uint8Array> {
    return this.store.read(e.record!);
  }

  /** A record that cannot be read back: quarantined, and it counts as released. */
  async quarantine(e: WalEntry, reason: string): Promise<void> {
    this.metrics.walCorruptRecords.inc();
    await this.store.quarantine(e.record!, reason);
  }

  release(e: WalEntry): void {
    crashBeforeRelease();
    const p = this.store
      .complete(e.record!)
      .catch((err) =>
        this.log.error({ err: errorMessage(err) }, 'WAL: could not remove a released segment'),
      )
      .finally(() => this.removing.delete(p));
    this.removing.add(p);
  }

  lost(e: WalEntry): void {
    this.onLost(e);
  }

  updateGauges(): void {
    this.metrics.walBytes.set(this.store.bytes);
    this.metrics.walFiles.set(this.store.files);
    this.metrics.walRecordsPending.set(this.store.liveRecords + this.inflight);
  }

  /** Close the open segment once it is older than segment_max_age_ms, so it can be deleted. */
  private startRoller(): void {
    if (this.timer) clearInterval(this.timer);
    const age = this.cfg.wal.segment_max_age_ms;
    this.timer = setInterval(() => void this.roll(age), Math.max(50, Math.floor(age / 4)));
    this.timer.unref?.();
  }

  private async roll(age: number): Promise<void> {
    const since = this.store.activeSince;
    if (this.sealing || since === undefined || Date.now() - since < age) return;
    this.sealing = this.store
      .seal()
      .catch((err) => this.log.error({ err: errorMessage(err) }, 'WAL: closing a segment failed'))
      .finally(() => {
        this.sealing = undefined;
      });
    await this.sealing;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.sealing;
    await Promise.all([...this.removing]);
    await this.store.close();
    this.updateGauges();
  }
}
