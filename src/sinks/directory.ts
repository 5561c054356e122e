/**
 * The embedded default sink: the objects S3 would get (same keys, same bytes),
 * as files under a local root, written atomically so a crash leaves either the
 * whole object or none of it:
 *
 *   1. write a hidden temp file in the object's own directory (`.<name>.<rand>.tmp`),
 *   2. fsync it, close it,
 *   3. rename it over the final name (atomic; a re-written batch replaces the old file),
 *   4. fsync the directory so the rename itself is durable.
 *
 * Directories are created on demand, and the parent of every directory created
 * is fsync'd, so a new `dt=…/hour=…` path survives a power cut too.
 *
 * Only node:fs/promises and node:path: it runs unchanged on Node, Bun and Deno.
 */
import { open, rename, mkdir, unlink, access, constants, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { DirectorySinkConfig } from '../config/types.js';
import { partOf, type EncodedBatch } from '../contracts/batch.js';
import { compileKeyTemplate, type KeyRenderer } from './keys.js';
import { SinkError } from './sink.js';
import type { Sink, SinkReceipt } from '../contracts/sink.js';

/**
 * errno → retryable? Conditions that can clear up by themselves are retried
 * (space freed, quota raised, transient I/O, fd exhaustion, a directory removed
 * under us and re-created on the next attempt). Conditions that need an operator
 * are permanent (permissions, read-only filesystem, a file where a directory
 * should be, names too long). Codes not listed are retried: a later attempt (or
 * the DLQ) loses nothing, a wrong "permanent" would poison a good batch.
 */
const RETRYABLE_CODES = new Set([
  'ENOSPC',
  'EDQUOT',
  'EIO',
  'EMFILE',
  'ENFILE',
  'EAGAIN',
  'EBUSY',
  'EINTR',
  'ENOENT',
  'ESTALE',
  'ETIMEDOUT',
  'ENOMEM',
]);
const PERMANENT_CODES = new Set([
  'EACCES',
  'EPERM',
  'EROFS',
  'ENOTDIR',
  'EISDIR',
  'ENAMETOOLONG',
  'ELOOP',
  'EFBIG',
  'EINVAL',
  'EEXIST',
  'EXDEV',
]);

/** Errors of fsync on a directory that only mean "this platform/filesystem cannot": the rename is still atomic. */
const DIR_FSYNC_UNSUPPORTED = new Set([
  'EINVAL',
  'EISDIR',
  'ENOTSUP',
  'EOPNOTSUPP',
  'EPERM',
  'EBADF',
  'EACCES',
]);

export class DirectorySink implements Sink {
  readonly type = 'directory' as const;
  readonly takes = 'archive' as const;
  readonly name: string;
  private readonly root: string;
  private readonly render: KeyRenderer;
  private seq = 0;

  constructor(cfg: DirectorySinkConfig, host: string) {
    this.name = cfg.name;
    this.root = resolve(cfg.path);
    this.render = compileKeyTemplate(cfg.key_template, host, cfg.name);
  }

  /** Where a batch goes (also used by tests and `ferry dlq` tooling). */
  pathOf(batch: EncodedBatch): string {
    return join(this.root, ...this.render(batch).split('/'));
  }

  async write(batch: EncodedBatch, signal?: AbortSignal): Promise<SinkReceipt> {
    const path = this.pathOf(batch);
    const dir = dirname(path);
    const tmp = join(
      dir,
      `.${basename(path)}.${(this.seq++).toString(36)}${Math.random().toString(36).slice(2, 10)}.tmp`,
    );
    let tmpCreated = false;
    try {
      throwIfAborted(signal);
      let fh: FileHandle;
      try {
        fh = await open(tmp, 'wx', 0o644);
      } catch (err) {
        if (code(err) !== 'ENOENT') throw err;
        await mkdirDurable(dir);
        fh = await open(tmp, 'wx', 0o644);
      }
      tmpCreated = true;
      try {
        await fh.writeFile(partOf(batch, 'archive').body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      // Last point where giving up leaves nothing behind; after the rename the object is there.
      throwIfAborted(signal);
      await rename(tmp, path);
      tmpCreated = false;
      await fsyncDir(dir);
      return { location: path };
    } catch (err) {
      if (tmpCreated) await unlink(tmp).catch(() => {});
      throw classifyFsError(err, `directory sink ${this.name}: cannot write ${path}`);
    }
  }

  /** The root exists (created if missing, as write would) and is writable. */
  async probe(): Promise<void> {
    try {
      await mkdir(this.root, { recursive: true });
      await access(this.root, constants.W_OK);
    } catch (err) {
      throw classifyFsError(
        err,
        `directory sink ${this.name}: ${this.root} is not a writable directory`,
      );
    }
  }

  async close(): Promise<void> {}
}

/** Map a filesystem error (or an abort) to a SinkError; exported for tests. */
export function classifyFsError(err: unknown, what: string): SinkError {
  if (err instanceof SinkError) return err;
  if (err instanceof AbortedError) {
    return new SinkError(`${what}: ${err.message}`, {
      retryable: true,
      errorClass: err.timeout ? 'timeout' : 'aborted',
      cause: err,
    });
  }
  const c = code(err);
  if (!c) {
    return new SinkError(`${what}: ${(err as Error)?.message ?? String(err)}`, {
      retryable: true,
      errorClass: 'internal',
      cause: err,
    });
  }
  const retryable = RETRYABLE_CODES.has(c) || !PERMANENT_CODES.has(c);
  return new SinkError(`${what}: ${c}: ${(err as Error).message}`, {
    retryable,
    errorClass: `fs_${c.toLowerCase()}`,
    cause: err,
  });
}

class AbortedError extends Error {
  constructor(readonly timeout: boolean) {
    super(timeout ? 'attempt timed out' : 'aborted');
  }
}

function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted)
    throw new AbortedError((signal.reason as Error | undefined)?.name === 'TimeoutError');
}

function code(err: unknown): string | undefined {
  const c = (err as NodeJS.ErrnoException | undefined)?.code;
  return typeof c === 'string' ? c : undefined;
}

/**
 * mkdir -p that makes each new directory durable: after creating a directory,
 * fsync its parent (which holds the new entry). A directory another writer
 * created at the same moment (EEXIST) gets its parent fsync'd as well, so
 * this write never returns before its path is durable.
 */
async function mkdirDurable(dir: string): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; ; ) {
    try {
      await access(d, constants.F_OK);
      break;
    } catch (err) {
      if (code(err) !== 'ENOENT') throw err;
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await mkdir(d);
    } catch (err) {
      if (code(err) !== 'EEXIST') throw err;
    }
    await fsyncDir(dirname(d));
  }
}

async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle;
  try {
    fh = await open(dir, 'r');
  } catch (err) {
    // Windows cannot open a directory; nothing to fsync there.
    if (DIR_FSYNC_UNSUPPORTED.has(code(err) ?? '')) return;
    throw err;
  }
  try {
    await fh.sync();
  } catch (err) {
    if (!DIR_FSYNC_UNSUPPORTED.has(code(err) ?? '')) throw err;
  } finally {
    await fh.close();
  }
}
