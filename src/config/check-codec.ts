/** `batch.codec` must work on the runtime that loads the config (lz4 and zstd have native/wasm parts). */
import { codecUnavailableReason } from '../codecs/index.js';
import type { Codec } from '../contracts/batch.js';
import type { ConfigIssue } from './load.js';
import type { FerryConfig } from './types.js';

export function checkCodec(
  cfg: FerryConfig,
  /** Why codec does not work here, or undefined when it does (a parameter for the tests). */
  unavailable: (codec: Codec) => string | undefined = codecUnavailableReason,
): ConfigIssue[] {
  const reason = unavailable(cfg.batch.codec);
  if (reason === undefined) return [];
  return [
    {
      path: 'batch.codec',
      message: `"${cfg.batch.codec}" is not available on this runtime: ${reason}`,
    },
  ];
}
