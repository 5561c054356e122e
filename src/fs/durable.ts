/**
 * The one home of ferry's crash-safe file writing: positional writes that cannot be short,
 * directory fsync, durable mkdir -p, atomic replace, and what counts as "out of space".
 *
 * Atomic replace, as the directory sink, the poison area and the replay checkpoint need it:
 *
 *   1. write a hidden temp file in the target's own directory (`.<name>.<rand>.tmp`),
 *   2. fsync it, close it,
 *   3. rename it over the final name (atomic: a reader sees the old file or the new one),
 *   4. fsync the directory so the rename itself survives a power cut.
 *
 * Every filesystem call goes through an `FsFacade` (node:fs/promises by default) so the tests can
 * inject short writes, EIO, ENOSPC or a crash at any step. Only node:fs/promises and node:path:
 * it runs unchanged on Node, Bun and Deno.
 */
import { access, constants, mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errnoCode } from '../util/errors.js';

/** The part of a FileHandle the durable writes use. */
export interface DurableHandle {
  write(
    data: Uint8Array,
    offset: number,
    length: number,
    position: number,
  ): Promise<{ bytesWritten: number }>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** The filesystem calls of this module; tests replace single ones to inject faults. */
export interface FsFacade {
  open(path: string, flags: string, mode?: number): Promise<DurableHandle>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  /** Create one directory (not recursive). */
  mkdir(path: string): Promise<void>;
  /** Resolves when the path exists. */
  exists(path: string): Promise<void>;
}

export const nodeFs: FsFacade = {
  open: (path, flags, mode) => open(path, flags, mode),
  rename,
  unlink,
  mkdir: async (path) => {
    await mkdir(path);
  },
  exists: (path) => access(path, constants.F_OK),
};

/** ENOSPC (disk full) and EDQUOT (quota exhausted): both clear up only when room is made. */
export function isOutOfSpace(err: unknown): boolean {
  const c = errnoCode(err);
  return c === 'ENOSPC' || c === 'EDQUOT';
}

/**
 * Write all of `data` at `position`. A positional write may write fewer bytes than asked (a
 * signal, a nearly full disk); this loops until all are written, and a write that makes no
 * progress is an EIO rather than an endless loop.
 */
export async function writeAll(
  fh: Pick<DurableHandle, 'write'>,
  data: Uint8Array,
  position: number,
): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off, position + off);
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** A FileHandle that can gather buffers into one positional write (Node, Bun). */
interface GatherHandle {
  writev?(buffers: Uint8Array[], position: number): Promise<{ bytesWritten: number }>;
}

/**
 * Write `parts` back to back at `position`, all of them: one gathered write (pwritev) where the
 * runtime has FileHandle.writev, so a group of records goes to disk without being copied into one
 * buffer first; else (or after a short gathered write) the rest is joined and written by writeAll.
 */
export async function writeAllParts(
  fh: Pick<DurableHandle, 'write'> & GatherHandle,
  parts: readonly Uint8Array[],
  position: number,
): Promise<void> {
  let total = 0;
  for (const p of parts) total += p.length;
  let done = 0;
  if (typeof fh.writev === 'function' && parts.length > 1) {
    const { bytesWritten } = await fh.writev(parts as Uint8Array[], position);
    if (bytesWritten >= total) return;
    done = Math.max(0, bytesWritten);
  }
  if (done === 0 && parts.length === 1) return writeAll(fh, parts[0] as Uint8Array, position);
  const rest = new Uint8Array(total - done);
  let at = 0;
  let skip = done;
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    rest.set(skip > 0 ? p.subarray(skip) : p, at);
    at += p.length - skip;
    skip = 0;
  }
  await writeAll(fh, rest, position + done);
}

/**
 * Errors of opening or fsyncing a directory that only mean "this platform or filesystem cannot"
 * (Windows cannot open a directory; some filesystems refuse fsync on one). The rename is atomic
 * all the same, so these are not failures. Anything else (EIO above all) is.
 */
const DIR_FSYNC_UNSUPPORTED = new Set([
  'EINVAL',
  'EISDIR',
  'ENOTSUP',
  'EOPNOTSUPP',
  'EPERM',
  'EBADF',
  'EACCES',
]);

/** fsync a directory, so a file created, renamed or removed in it survives a crash. */
export async function syncDir(dir: string, fs: FsFacade = nodeFs): Promise<void> {
  let fh: DurableHandle;
  try {
    fh = await fs.open(dir, 'r');
  } catch (err) {
    if (DIR_FSYNC_UNSUPPORTED.has(errnoCode(err) ?? '')) return;
    throw err;
  }
  try {
    await fh.sync();
  } catch (err) {
    if (!DIR_FSYNC_UNSUPPORTED.has(errnoCode(err) ?? '')) throw err;
  } finally {
    await fh.close();
  }
}

/**
 * mkdir -p that makes each new directory durable: after creating a directory, fsync its parent
 * (which holds the new entry). A directory another writer created at the same moment (EEXIST)
 * gets its parent fsync'd as well, so the caller never returns before its path is durable.
 */
export async function mkdirDurable(dir: string, fs: FsFacade = nodeFs): Promise<void> {
  const missing: string[] = [];
  for (let d = dir; ; ) {
    try {
      await fs.exists(d);
      break;
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      missing.push(d);
      const up = dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  for (const d of missing.reverse()) {
    try {
      await fs.mkdir(d);
    } catch (err) {
      if (errnoCode(err) !== 'EEXIST') throw err;
    }
    await syncDir(dirname(d), fs);
  }
}

export interface AtomicWriteOptions {
  /** File mode of a new file (default 0o644). */
  mode?: number;
  /**
   * Called after the temp file is durable and before the rename: the last point where giving
   * up leaves nothing behind. Throw to give up (e.g. an aborted attempt); the temp file is removed.
   */
  beforeRename?: () => void;
  fs?: FsFacade;
}

let tmpSeq = 0;

/**
 * Replace `path` with `data` atomically and durably (see the top of this file): a crash at any
 * point leaves the old file or the new one, never a mix. Missing directories are created
 * durably. On failure the temp file is removed and the error is rethrown as it came.
 */
export async function atomicWrite(
  path: string,
  data: Uint8Array | string,
  opts: AtomicWriteOptions = {},
): Promise<void> {
  const fs = opts.fs ?? nodeFs;
  const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
  const dir = dirname(path);
  const tmp = join(
    dir,
    `.${basename(path)}.${(tmpSeq++).toString(36)}${Math.random().toString(36).slice(2, 10)}.tmp`,
  );
  const mode = opts.mode ?? 0o644;
  let tmpCreated = false;
  try {
    let fh: DurableHandle;
    try {
      fh = await fs.open(tmp, 'wx', mode);
    } catch (err) {
      if (errnoCode(err) !== 'ENOENT') throw err;
      await mkdirDurable(dir, fs);
      fh = await fs.open(tmp, 'wx', mode);
    }
    tmpCreated = true;
    try {
      await writeAll(fh, bytes, 0);
      await fh.sync();
    } finally {
      await fh.close();
    }
    opts.beforeRename?.();
    await fs.rename(tmp, path);
    tmpCreated = false;
    await syncDir(dir, fs);
  } catch (err) {
    if (tmpCreated) await fs.unlink(tmp).catch(() => {});
    throw err;
  }
}
