import type { LogHandle } from '../pipeline/acks.js';
import type { StoredRecord } from '../segments/store.js';
import type { WalHead } from './format.js';

/** What an entry reports to: the log (release) and the re-dispatcher (lost). */
export interface EntryOwner {
  release(e: WalEntry): void;
  lost(e: WalEntry): void;
}

/**
 * One record of the write-ahead log as the pipeline follows it. `synced` resolves once it is
 * fsync'd; release() lets its segment go once every batch holding its events is delivered or in a
 * DLQ; lost() sends it to the workers again (a batch failed after the ack, or the worker died).
 */
export class WalEntry implements LogHandle {
  record: StoredRecord<WalHead> | undefined;
  released = false;
  /** Times it was sent again (for the backoff). */
  attempts = 0;
  readonly synced: Promise<boolean>;

  constructor(
    private readonly owner: EntryOwner,
    written: Promise<StoredRecord<WalHead>> | StoredRecord<WalHead>,
  ) {
    if (written instanceof Promise) {
      this.synced = written.then(
        (r) => {
          this.record = r;
          if (this.released) owner.release(this);
          return true;
        },
        () => false,
      );
    } else {
      this.record = written;
      this.synced = Promise.resolve(true);
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    if (this.record) this.owner.release(this);
  }

  lost(): void {
    this.owner.lost(this);
  }
}
