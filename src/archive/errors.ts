/** An archive object that is neither format 1 nor format 2 as ferry writes them (truncated, foreign, corrupt). */
export class ArchiveFormatError extends Error {
  override readonly name = 'ArchiveFormatError';
}
