/** Why a codec call failed. `too_large` and `corrupt` come from decompress (request bodies). */
export type CodecErrorCode = 'too_large' | 'corrupt' | 'unavailable';

export class CodecError extends Error {
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'CodecError';
  }
}

export const tooLarge = (max: number) =>
  new CodecError('too_large', `decompressed size exceeds the limit of ${max} bytes`);
export const corrupt = (codec: string, why: string) =>
  new CodecError('corrupt', `corrupt ${codec} data: ${why}`);
