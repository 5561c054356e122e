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
