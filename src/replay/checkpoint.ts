import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createHash } from 'node:crypto';

/** Where a replay stands: objects are replayed in key order, so the last key done is enough. */
export interface Checkpoint {
  version: 1;
  /** What this replay is: a resume must be of the same replay. */
  job: { from: string; to: string; since?: string; until?: string };
  lastKey?: string;
  objectsDone: number;
  eventsDone: number;
  skipped: { key: string; reason: string }[];
  updatedAt: string;
}

/** <state_dir>/replay/<hash of the job>.json */
export function checkpointPath(stateDir: string, job: Checkpoint['job']): string {
  const id = createHash('sha256')
    .update(JSON.stringify([job.from, job.to, job.since ?? '', job.until ?? '']))
    .digest('hex')
    .slice(0, 16);
  return join(stateDir, 'replay', `${id}.json`);
}

export async function loadCheckpoint(path: string): Promise<Checkpoint | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const c = JSON.parse(text) as Checkpoint;
  if (c.version !== 1) throw new Error(`${path}: unknown checkpoint version ${String(c.version)}`);
  return c;
}

/** Atomic: temp file, fsync, rename, fsync the directory — a crash leaves the old or the new one. */
export async function saveCheckpoint(path: string, c: Checkpoint): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(
      JSON.stringify({ ...c, updatedAt: new Date().toISOString() }, null, 2) + '\n',
    );
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
