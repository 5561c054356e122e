/**
 * TEST-ONLY fault injection for the write-ahead log's crash tests (test/integration/wal.test.ts,
 * docs/wal.md "Testing"): `FERRY_TEST_WAL_FAULT=<point>:<n>` makes ferry SIGKILL itself the nth
 * time it passes that point:
 *   after-fsync     a group commit holding the nth record is fsync'd; its answer not yet sent
 *   before-release  the nth record's batches are delivered; its release not yet applied
 * Unset — always, outside these tests — it is inert: the variable is read once at start and every
 * point is a no-op function.
 */
export type FaultPoint = 'after-fsync' | 'before-release';

export function faultAt(point: FaultPoint, env = process.env): (count?: number) => void {
  const spec = env.FERRY_TEST_WAL_FAULT;
  if (!spec) return () => {};
  const [name, n] = spec.split(':');
  if (name !== point) return () => {};
  const at = Math.max(1, Number(n) || 1);
  let seen = 0;
  return (count = 1) => {
    seen += count;
    if (seen >= at) process.kill(process.pid, 'SIGKILL');
  };
}
