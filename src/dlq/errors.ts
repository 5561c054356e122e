/** The DLQ cannot take a batch: full under policy `reject`, or the disk is (ENOSPC). */
export class DlqFullError extends Error {
  override readonly name = 'DlqFullError';
  constructor(
    readonly sink: string,
    readonly reason: 'full' | 'enospc' | 'io',
    message: string,
  ) {
    super(message);
  }
}

/**
 * A DLQ record that cannot be read back as it was written (cut short, checksum mismatch): the
 * disk's fault, not the sink's. It is quarantined and skipped; the sink is not marked down.
 */
export class DlqCorruptRecordError extends Error {
  override readonly name = 'DlqCorruptRecordError';
  constructor(
    readonly file: string,
    readonly offset: number,
    readonly reason: string,
  ) {
    super(`${file}: record at ${offset}: ${reason}`);
  }
}
