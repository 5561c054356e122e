/** The DLQ cannot take a batch: full under policy `reject`, or the disk is (ENOSPC). */
export class DlqFullError extends Error {
  constructor(
    readonly sink: string,
    readonly reason: 'full' | 'enospc' | 'io',
    message: string,
  ) {
    super(message);
    this.name = 'DlqFullError';
  }
}
