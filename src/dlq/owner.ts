import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import process from 'node:process';
import { errnoCode } from '../util/errors.js';

/**
 * `<dlq>/ferry.pid`: the running ferry owns the segment files (it appends and re-uploads), so
 * the CLI must not move them under its feet. Written at start, removed at a clean stop; a file
 * left by a killed process names a dead pid and is ignored.
 */
export async function claimDlq(root: string): Promise<void> {
  await mkdir(root, { recursive: true });
  await writeFile(join(root, 'ferry.pid'), `${process.pid}\n`);
}

export async function releaseDlq(root: string): Promise<void> {
  await rm(join(root, 'ferry.pid'), { force: true });
}

/** The pid of a live ferry that owns this DLQ, or undefined. */
export async function dlqOwner(root: string): Promise<number | undefined> {
  let pid: number;
  try {
    pid = Number((await readFile(join(root, 'ferry.pid'), 'utf8')).trim());
  } catch {
    return undefined;
  }
  if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive but another user's process — still an owner.
    return errnoCode(err) === 'EPERM' ? pid : undefined;
  }
}
