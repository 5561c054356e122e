/** Why a codec call failed. `too_large` and `corrupt` come from decompress (request bodies). */
export type CodecErrorCode = 'too_large' | 'corrupt' | 'unavailable';

/** The codecs layer's one error; `code` is the discriminant callers match on. */
export class CodecError extends Error {
  override readonly name = 'CodecError';
  constructor(
    readonly code: CodecErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** The decompressed body would exceed its limit (a zip bomb or just too big): 413, not 400. */
export function isTooLarge(err: unknown): err is CodecError & { code: 'too_large' } {
  return err instanceof CodecError && err.code === 'too_large';
}

export const tooLarge = (max: number) =>
  new CodecError('too_large', `decompressed size exceeds the limit of ${max} bytes`);
export const corrupt = (codec: string, why: string) =>
  new CodecError('corrupt', `corrupt ${codec} data: ${why}`);
