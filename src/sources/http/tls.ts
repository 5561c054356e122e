/** The listener's certificate and key, read from the configured PEM files. */
import { readFileSync } from 'node:fs';
import type { TlsConfig } from '../../config/types.js';

export interface TlsMaterial {
  cert: string;
  key: string;
}

/**
 * Read both files and, where node:tls is there, check they form a usable pair
 * (a key that does not match the certificate fails here, not in a handshake).
 * Throws with the offending path.
 */
export async function readTlsMaterial(tls: TlsConfig): Promise<TlsMaterial> {
  const read = (what: 'cert' | 'key') => {
    try {
      return readFileSync(tls[what], 'utf8');
    } catch (err) {
      throw new Error(`listen.tls.${what}: cannot read ${tls[what]}: ${(err as Error).message}`);
    }
  };
  const material = { cert: read('cert'), key: read('key') };
  const nodeTls = await import('node:tls').catch(() => undefined);
  if (nodeTls?.createSecureContext) {
    try {
      nodeTls.createSecureContext(material);
    } catch (err) {
      throw new Error(
        `listen.tls: ${tls.cert} and ${tls.key} are not a usable certificate/key pair: ${(err as Error).message}`,
      );
    }
  }
  return material;
}
