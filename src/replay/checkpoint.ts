import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { atomicWrite } from '../fs/durable.js';
import { errnoCode } from '../util/errors.js';

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
    if (errnoCode(err) === 'ENOENT') return undefined;
    throw err;
  }
  const c = JSON.parse(text) as Checkpoint;
  if (c.version !== 1) throw new Error(`${path}: unknown checkpoint version ${String(c.version)}`);
  return c;
}

/** Atomic (src/fs/durable.ts): a crash leaves the old checkpoint or the new one. */
export async function saveCheckpoint(path: string, c: Checkpoint): Promise<void> {
  await atomicWrite(
    path,
    JSON.stringify({ ...c, updatedAt: new Date().toISOString() }, null, 2) + '\n',
  );
}
