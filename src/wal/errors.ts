/** The write-ahead log cannot take a record: full (wal.max_bytes / max_files), or the disk refuses. */
export class WalFullError extends Error {
  override readonly name = 'WalFullError';
  constructor(
    readonly reason: 'full' | 'enospc' | 'io',
    message: string,
  ) {
    super(message);
  }
}

/** A log record that cannot be read back as written (cut short, checksum mismatch): quarantined. */
export class WalCorruptRecordError extends Error {
  override readonly name = 'WalCorruptRecordError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: record at ${offset}: ${reason}`);
  }
}
