import { open } from 'node:fs/promises';

/** fsync a directory, so a file created, renamed or removed in it survives a crash. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
