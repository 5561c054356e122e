import process from 'node:process';
import { open, rename, mkdir, unlink, access, constants } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { DirectorySinkConfig } from '../config/types.js';
import type { EncodedBatch } from '../pipeline/batch.js';
import { renderKey } from './keys.js';
import { SinkError, type Sink, type SinkReceipt } from './sink.js';

/** Disk conditions that may clear up (space freed, transient I/O) are retried; the rest are not. */
const RETRYABLE = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EMFILE', 'ENFILE', 'EAGAIN', 'EBUSY']);

/**
 * The embedded default sink: the objects S3 would get, as files under a local
 * path, written atomically (temp file, fsync, rename, fsync of the directory)
 * so a crash leaves either the whole object or none of it.
 */
export class DirectorySink implements Sink {
  readonly type = 'directory' as const;
  readonly name: string;
  private tmpSeq = 0;

  constructor(private readonly cfg: DirectorySinkConfig, private readonly host: string) {
    this.name = cfg.name;
  }

  async write(batch: EncodedBatch): Promise<SinkReceipt> {
    const key = renderKey(this.cfg.key_template, batch, this.host, this.name);
    const path = join(this.cfg.path, key);
    const tmp = `${path}.tmp-${process.pid}-${this.tmpSeq++}`;
    try {
      await mkdirDurable(dirname(path), this.cfg.path);
      const fh = await open(tmp, 'w', 0o640);
      try {
        await fh.writeFile(batch.archive.body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      await fsyncDir(dirname(path));
      return { location: path };
    } catch (err) {
      await unlink(tmp).catch(() => {});
      const code = (err as NodeJS.ErrnoException).code ?? 'EUNKNOWN';
      throw new SinkError(`directory sink ${this.name}: cannot write ${path}: ${(err as Error).message}`, {
        retryable: RETRYABLE.has(code),
        errorClass: `fs_${code.toLowerCase()}`,
        cause: err,
      });
    }
  }

  async probe(): Promise<void> {
    await mkdir(this.cfg.path, { recursive: true });
    await access(this.cfg.path, constants.W_OK);
  }

  async close(): Promise<void> {}
}

/** mkdir -p, then fsync each directory that was created and its parent, so the new path survives a crash. */
async function mkdirDurable(dir: string, root: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (!first) return;
  let d = dir;
  const created: string[] = [];
  while (d.length >= first.length && d !== dirname(d)) {
    created.push(d);
    d = dirname(d);
  }
  created.push(dirname(first));
  for (const c of created) if (c.startsWith(root) || c === dirname(first)) await fsyncDir(c);
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } catch (err) {
    // Some filesystems refuse fsync on a directory; the rename is still atomic there.
    if ((err as NodeJS.ErrnoException).code !== 'EINVAL' && (err as NodeJS.ErrnoException).code !== 'EISDIR') throw err;
  } finally {
    await fh.close();
  }
}
