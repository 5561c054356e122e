import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * Vitest global setup: start ClickHouse, MinIO and Kafka on loopback with the project's own
 * scripts (installing them into .rig/ the first time; servers already running are reused).
 * A server that cannot start fails the whole run — the integration tests never skip.
 * Servers are left running afterwards (scripts/rig/down.sh stops them).
 */
export default async function setup(): Promise<void> {
  const up = resolve(import.meta.dirname, '..', '..', 'scripts', 'rig', 'up.sh');
  const limitMs = 30 * 60_000;
  let tail = '';
  const result = await new Promise<{
    code: number | null;
    signal: NodeJS.Signals | null;
    error?: Error;
  }>((res) => {
    const child = spawn('bash', [up], { stdio: ['ignore', 'pipe', 'pipe'] });
    const timer = setTimeout(() => child.kill('SIGTERM'), limitMs);
    const keep = (chunk: Buffer) => {
      process.stderr.write(chunk); // progress stays visible (a cold install takes minutes)
      tail = (tail + chunk.toString()).slice(-6000);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (error) => res({ code: null, signal: null, error }));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      res({ code, signal });
    });
  });
  if (result.error || result.code !== 0) {
    const why =
      result.error?.message ??
      (result.signal
        ? `killed by ${result.signal} (limit ${limitMs / 60_000} min)`
        : `exit ${result.code}`);
    throw new Error(
      `The test servers could not be started: scripts/rig/up.sh failed (${why}).\n${tail}\n` +
        'Integration tests need real ClickHouse, MinIO and Kafka on 127.0.0.1 — see README "Run the tests"; ' +
        'server logs are under .rig/<server>/log/.',
    );
  }
}
