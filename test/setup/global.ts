import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Vitest global setup: start (installing the first time) Kafka, MinIO and
 * ClickHouse on loopback. A server that cannot start fails the whole run:
 * integration tests never skip.
 */
export default function setup(): void {
  const up = resolve(import.meta.dirname, '..', '..', 'scripts', 'rig', 'up.sh');
  try {
    execFileSync('bash', [up], { stdio: ['ignore', 'inherit', 'inherit'], timeout: 20 * 60 * 1000 });
  } catch (err) {
    throw new Error(`the test servers could not be started (scripts/rig/up.sh): ${(err as Error).message}`);
  }
}
