import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  atomicWrite,
  type DurableHandle,
  type FsFacade,
  isOutOfSpace,
  mkdirDurable,
  nodeFs,
  syncDir,
  writeAll,
  writeAllParts,
} from '../../src/fs/durable.js';
import { open as openFile } from 'node:fs/promises';

const roots: string[] = [];
afterAll(() => {
  for (const r of roots) rmSync(r, { recursive: true, force: true });
});
function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-durable-'));
  roots.push(d);
  return d;
}
const errno = (code: string) => Object.assign(new Error(`${code}: injected`), { code });

/** The real filesystem with a log of every call, and hooks to make single calls fail. */
interface Faults {
  /** Each positional write writes at most this many bytes (a short write). */
  maxWrite?: number;
  /** The nth write (1-based) fails with this error. */
  writeFails?: { nth: number; err: Error };
  /** fsync of a file (not a directory) fails. */
  fileSyncFails?: Error;
  /** fsync of a directory fails. */
  dirSyncFails?: Error;
  /** Opening a directory fails. */
  dirOpenFails?: Error;
  /** The rename fails (a crash between fsync and rename looks the same on disk). */
  renameFails?: Error;
}
function faultyFs(f: Faults = {}) {
  const calls: string[] = [];
  let writes = 0;
  const fs: FsFacade = {
    async open(path, flags, mode) {
      const isDir = flags === 'r';
      if (isDir && f.dirOpenFails) throw f.dirOpenFails;
      const fh = await nodeFs.open(path, flags, mode);
      calls.push(`open ${flags} ${path}`);
      const h: DurableHandle = {
        async write(data, off, len, pos) {
          writes++;
          if (f.writeFails && writes === f.writeFails.nth) throw f.writeFails.err;
          const n = Math.min(len, f.maxWrite ?? len);
          calls.push(`write ${n}@${pos}`);
          // Only the first n bytes reach the disk: a short write as the kernel may do one.
          await writeAll(fh, data.subarray(off, off + n), pos);
          return { bytesWritten: n };
        },
        async sync() {
          calls.push(`sync ${isDir ? 'dir' : 'file'} ${path}`);
          const fail = isDir ? f.dirSyncFails : f.fileSyncFails;
          if (fail) throw fail;
          return fh.sync();
        },
        close: () => fh.close(),
      };
      return h;
    },
    async rename(from, to) {
      if (f.renameFails) throw f.renameFails;
      calls.push(`rename ${to}`);
      return nodeFs.rename(from, to);
    },
    unlink: (p) => {
      calls.push(`unlink ${p}`);
      return nodeFs.unlink(p);
    },
    mkdir: (p) => {
      calls.push(`mkdir ${p}`);
      return nodeFs.mkdir(p);
    },
    exists: (p) => nodeFs.exists(p),
  };
  return { fs, calls };
}

describe('isOutOfSpace', () => {
  it.each([
    ['ENOSPC', true],
    ['EDQUOT', true],
    ['EIO', false],
    ['EACCES', false],
    [undefined, false],
  ])('%s → %s', (code, out) => {
    expect(isOutOfSpace(code ? errno(code) : new Error('x'))).toBe(out);
  });
  it('takes anything thrown', () => {
    expect(isOutOfSpace(undefined)).toBe(false);
    expect(isOutOfSpace('ENOSPC')).toBe(false);
    expect(isOutOfSpace({ code: 'EDQUOT' })).toBe(true);
  });
});

describe('writeAll', () => {
  it('loops over short writes until every byte is written, at the right positions', async () => {
    const root = tempRoot();
    const path = join(root, 'f');
    writeFileSync(path, 'HEADER');
    const { fs, calls } = faultyFs({ maxWrite: 3 });
    const fh = await fs.open(path, 'r+');
    await writeAll(fh, new TextEncoder().encode('abcdefgh'), 6);
    await fh.close();
    expect(readFileSync(path, 'utf8')).toBe('HEADERabcdefgh');
    expect(calls.filter((c) => c.startsWith('write'))).toEqual([
      'write 3@6',
      'write 3@9',
      'write 2@12',
    ]);
  });

  it('a write that makes no progress is EIO, not an endless loop', async () => {
    const fh = { write: async () => ({ bytesWritten: 0 }) };
    await expect(writeAll(fh, new Uint8Array(4), 0)).rejects.toMatchObject({ code: 'EIO' });
  });

  it('writes nothing for empty data', async () => {
    let n = 0;
    const fh = {
      write: async () => {
        n++;
        return { bytesWritten: 1 };
      },
    };
    await writeAll(fh, new Uint8Array(0), 0);
    expect(n).toBe(0);
  });
});

describe('writeAllParts', () => {
  const enc = new TextEncoder();
  const parts = () => ['ab', 'cde', '', 'fghij'].map((t) => enc.encode(t));

  it('one gathered write (pwritev) on a real file handle, at the position', async () => {
    const path = join(tempRoot(), 'f');
    writeFileSync(path, 'HEADER');
    const fh = await openFile(path, 'r+');
    await writeAllParts(fh, parts(), 6);
    await fh.close();
    expect(readFileSync(path, 'utf8')).toBe('HEADERabcdefghij');
  });

  it('a short gathered write: the rest is written from where it stopped, mid-part', async () => {
    const path = join(tempRoot(), 'f');
    writeFileSync(path, '');
    const real = await openFile(path, 'r+');
    const calls: string[] = [];
    const fh = {
      writev: async (bufs: Uint8Array[], pos: number) => {
        calls.push(`writev ${bufs.length}@${pos}`);
        // Only the first 4 bytes make it ("ab" + "cd").
        await writeAll(real, Buffer.concat(bufs).subarray(0, 4), pos);
        return { bytesWritten: 4 };
      },
      write: async (d: Uint8Array, o: number, l: number, p: number) => {
        calls.push(`write ${l}@${p}`);
        await writeAll(real, d.subarray(o, o + l), p);
        return { bytesWritten: l };
      },
    };
    await writeAllParts(fh, parts(), 0);
    await real.close();
    expect(readFileSync(path, 'utf8')).toBe('abcdefghij');
    expect(calls).toEqual(['writev 4@0', 'write 6@4']);
  });

  it('without writev (a runtime that lacks it): the parts are joined into one write', async () => {
    const { fs, calls } = faultyFs({});
    const path = join(tempRoot(), 'f');
    writeFileSync(path, '');
    const fh = await fs.open(path, 'r+');
    await writeAllParts(fh, parts(), 0);
    await fh.close();
    expect(readFileSync(path, 'utf8')).toBe('abcdefghij');
    expect(calls.filter((c) => c.startsWith('write'))).toEqual(['write 10@0']);
  });
});

describe('syncDir', () => {
  it('fsyncs the directory', async () => {
    const root = tempRoot();
    const { fs, calls } = faultyFs();
    await syncDir(root, fs);
    expect(calls).toContain(`sync dir ${root}`);
  });

  it.each(['EINVAL', 'ENOTSUP', 'EISDIR', 'EPERM'])(
    'a platform that cannot fsync a directory (%s) is not a failure',
    async (code) => {
      const root = tempRoot();
      await expect(syncDir(root, faultyFs({ dirSyncFails: errno(code) }).fs)).resolves.toBe(
        undefined,
      );
      await expect(syncDir(root, faultyFs({ dirOpenFails: errno(code) }).fs)).resolves.toBe(
        undefined,
      );
    },
  );

  it('EIO on a directory fsync is a failure', async () => {
    const root = tempRoot();
    await expect(syncDir(root, faultyFs({ dirSyncFails: errno('EIO') }).fs)).rejects.toMatchObject({
      code: 'EIO',
    });
  });

  it('a missing directory is a failure', async () => {
    await expect(syncDir(join(tempRoot(), 'nope'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('mkdirDurable', () => {
  it('creates every missing level and fsyncs the parent of each', async () => {
    const root = tempRoot();
    const deep = join(root, 'a', 'b', 'c');
    const { fs, calls } = faultyFs();
    await mkdirDurable(deep, fs);
    expect(readdirSync(join(root, 'a', 'b'))).toEqual(['c']);
    expect(calls.filter((c) => c.startsWith('mkdir') || c.startsWith('sync'))).toEqual([
      `mkdir ${join(root, 'a')}`,
      `sync dir ${root}`,
      `mkdir ${join(root, 'a', 'b')}`,
      `sync dir ${join(root, 'a')}`,
      `mkdir ${deep}`,
      `sync dir ${join(root, 'a', 'b')}`,
    ]);
  });

  it('does nothing for a directory that exists', async () => {
    const root = tempRoot();
    const { fs, calls } = faultyFs();
    await mkdirDurable(root, fs);
    expect(calls).toEqual([]);
  });
});

describe('atomicWrite', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  const setup = () => {
    const root = tempRoot();
    const path = join(root, 'obj.json');
    writeFileSync(path, 'OLD');
    return { root, path };
  };
  const onlyFile = (root: string) => readdirSync(root);

  it('writes temp, fsyncs it, renames, then fsyncs the directory — in that order', async () => {
    const { root, path } = setup();
    const { fs, calls } = faultyFs();
    await atomicWrite(path, bytes('NEW'), { fs });
    expect(readFileSync(path, 'utf8')).toBe('NEW');
    expect(onlyFile(root)).toEqual(['obj.json']);
    const kinds = calls.map(
      (c) => c.split(' ')[0] + (c.startsWith('sync') ? ` ${c.split(' ')[1]}` : ''),
    );
    expect(kinds).toEqual(['open', 'write', 'sync file', 'rename', 'open', 'sync dir']);
    // The temp file is hidden and in the target's own directory (rename stays on one filesystem).
    expect(calls[0]).toMatch(new RegExp(`^open wx ${root}/\\.obj\\.json\\.[a-z0-9]+\\.tmp$`));
  });

  it('a string is written as UTF-8', async () => {
    const { path } = setup();
    await atomicWrite(path, 'ünïcode\n');
    expect(readFileSync(path, 'utf8')).toBe('ünïcode\n');
  });

  it('short writes still write the whole file', async () => {
    const { path } = setup();
    const data = bytes('x'.repeat(1000));
    await atomicWrite(path, data, { fs: faultyFs({ maxWrite: 7 }).fs });
    expect(readFileSync(path, 'utf8')).toBe('x'.repeat(1000));
  });

  it.each([
    ['ENOSPC on write', { writeFails: { nth: 1, err: errno('ENOSPC') } }, 'ENOSPC'],
    [
      'EDQUOT on a later write',
      { maxWrite: 2, writeFails: { nth: 2, err: errno('EDQUOT') } },
      'EDQUOT',
    ],
    ['EIO on the file fsync', { fileSyncFails: errno('EIO') }, 'EIO'],
    ['a crash before the rename', { renameFails: errno('EIO') }, 'EIO'],
  ] as [string, Faults, string][])(
    '%s: rejects with it, the old file is intact and no temp file is left',
    async (_what, faults, code) => {
      const { root, path } = setup();
      const err = await atomicWrite(path, bytes('NEW CONTENT'), { fs: faultyFs(faults).fs }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toMatchObject({ code });
      expect(isOutOfSpace(err)).toBe(code === 'ENOSPC' || code === 'EDQUOT');
      expect(readFileSync(path, 'utf8')).toBe('OLD');
      expect(onlyFile(root)).toEqual(['obj.json']);
    },
  );

  it('EIO on the directory fsync after the rename: rejects (the rename may not be durable)', async () => {
    const { path } = setup();
    await expect(
      atomicWrite(path, bytes('NEW'), { fs: faultyFs({ dirSyncFails: errno('EIO') }).fs }),
    ).rejects.toMatchObject({ code: 'EIO' });
  });

  it('beforeRename can give up: nothing is left and the old file stays', async () => {
    const { root, path } = setup();
    const stop = new Error('aborted');
    await expect(
      atomicWrite(path, bytes('NEW'), {
        beforeRename: () => {
          throw stop;
        },
      }),
    ).rejects.toBe(stop);
    expect(readFileSync(path, 'utf8')).toBe('OLD');
    expect(onlyFile(root)).toEqual(['obj.json']);
  });

  it('a crash after the temp file was written (no cleanup ran) leaves the old file readable', async () => {
    // Simulate the process dying between fsync and rename: the rename never happens and the
    // temp file stays behind. Readers of the final name see the old content, whole.
    const { root, path } = setup();
    const { fs } = faultyFs();
    let reached!: () => void;
    const atRename = new Promise<void>((r) => {
      reached = r;
    });
    const crashing: FsFacade = {
      ...fs,
      rename: () => {
        reached();
        return new Promise<void>(() => {});
      },
    };
    void atomicWrite(path, bytes('NEW'), { fs: crashing });
    await atRename;
    expect(readFileSync(path, 'utf8')).toBe('OLD');
    const tmp = onlyFile(root).filter((n) => n.endsWith('.tmp'));
    expect(tmp).toHaveLength(1);
    expect(readFileSync(join(root, tmp[0]!), 'utf8')).toBe('NEW');
  });

  it('creates missing directories durably (the parent of each new one fsynced)', async () => {
    const root = tempRoot();
    const path = join(root, 'dt=2026-01-01', 'hour=00', 'obj.ndjson');
    const { fs, calls } = faultyFs();
    await atomicWrite(path, bytes('x'), { fs });
    expect(readFileSync(path, 'utf8')).toBe('x');
    expect(calls).toContain(`sync dir ${root}`);
    expect(calls).toContain(`sync dir ${join(root, 'dt=2026-01-01')}`);
    expect(calls.at(-1)).toBe(`sync dir ${dirname(path)}`);
  });

  it('a directory in the way of the file is an error, not an overwrite', async () => {
    const root = tempRoot();
    mkdirSync(join(root, 'obj'));
    await expect(atomicWrite(join(root, 'obj'), bytes('x'))).rejects.toMatchObject({
      code: expect.stringMatching(/EISDIR|EEXIST|ENOTEMPTY/),
    });
  });
});
