import { describe, it, expect, afterAll } from 'vitest';
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
  mkdirSync,
  chmodSync,
  rmSync,
  statSync,
} from 'node:fs';
import { execFileSync, spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { DirectorySink, classifyFsError } from '../../src/sinks/directory.js';
import { renderKey, DEFAULT_KEY_TEMPLATE } from '../../src/sinks/keys.js';
import type { EncodedBatch } from '../../src/contracts/batch.js';
import { SinkError } from '../../src/sinks/errors.js';
import type { DirectorySinkConfig } from '../../src/config/types.js';

const ROOT = join(import.meta.dirname, '..', '..');
const cleanups: Array<() => void> = [];
afterAll(() => {
  for (const c of cleanups.reverse()) {
    try {
      c();
    } catch {
      /* best effort */
    }
  }
});
function tempRoot(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-dirsink-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}
const batch = (id = 'b1', body: string | Uint8Array = '{"a":1}\n'): EncodedBatch => {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return {
    id,
    createdAt: Date.UTC(2026, 10, 23, 7, 5),
    events: 1,
    archive: { body: bytes, codec: 'gzip', rawBytes: bytes.length },
  };
};
const cfg = (path: string, key_template = DEFAULT_KEY_TEMPLATE): DirectorySinkConfig => ({
  type: 'directory',
  name: 'local',
  path,
  key_template,
});
/** Every file under dir, relative, sorted (temp files included: they start with "."). */
function walk(dir: string, base = dir): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory() ? walk(join(dir, e.name), base) : [relative(base, join(dir, e.name))],
    )
    .sort();
}
const isRoot = process.getuid?.() === 0;

/**
 * A directory this process can really not write to: mode 0555 for a normal
 * user; as root (which ignores modes) a read-only tmpfs, or else an immutable
 * directory. Undefined when the machine allows none of them.
 */
function readOnlyDir(): { path: string; code: string } | undefined {
  const d = tempRoot();
  if (!isRoot) {
    chmodSync(d, 0o555);
    cleanups.push(() => chmodSync(d, 0o755));
    return { path: d, code: 'EACCES' };
  }
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'ferry-ro', d], { stdio: 'ignore' });
    cleanups.push(() => execFileSync('umount', [d], { stdio: 'ignore' }));
    return { path: d, code: 'EROFS' };
  } catch {
    /* no CAP_SYS_ADMIN */
  }
  try {
    execFileSync('chattr', ['+i', d], { stdio: 'ignore' });
    cleanups.push(() => execFileSync('chattr', ['-i', d], { stdio: 'ignore' }));
    return { path: d, code: 'EPERM' };
  } catch {
    /* no CAP_LINUX_IMMUTABLE or unsupported filesystem */
  }
  return undefined;
}

/** A tiny filesystem that fills up (root only). */
function smallFs(bytes: number): string | undefined {
  if (!isRoot) return undefined;
  const d = tempRoot();
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}`, 'ferry-small', d], {
      stdio: 'ignore',
    });
    cleanups.push(() => execFileSync('umount', [d], { stdio: 'ignore' }));
    return d;
  } catch {
    return undefined;
  }
}

describe('directory sink', () => {
  it('writes the object at the S3 key under its root, byte for byte, creating the directories', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(join(root, 'out')), 'edge-1');
    const b = batch('abc', new Uint8Array([0, 1, 2, 255, 10]));
    const r = await s.write(b);
    const key = renderKey(DEFAULT_KEY_TEMPLATE, b, 'edge-1', 'local');
    expect(key).toBe('events/dt=2026-11-23/hour=07/edge-1-abc.ndjson.gz');
    expect(r.location).toBe(join(root, 'out', ...key.split('/')));
    expect(readFileSync(r.location)).toEqual(Buffer.from([0, 1, 2, 255, 10]));
    expect(walk(join(root, 'out'))).toEqual([join(...key.split('/'))]);
    expect(statSync(r.location).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it('re-writing the same batch overwrites it; other batches sit beside it; no temp files remain', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(root, '{date}/{batch_id}{ext}'), 'h');
    await s.write(batch('b1', 'one\n'));
    const r = await s.write(batch('b1', 'two\n'));
    await s.write(batch('b2', 'three\n'));
    expect(readFileSync(r.location, 'utf8')).toBe('two\n');
    expect(walk(root)).toEqual([
      join('2026-11-23', 'b1.ndjson.gz'),
      join('2026-11-23', 'b2.ndjson.gz'),
    ]);
  });

  it('concurrent writes of the same batch leave one whole object and no temp files', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(root, '{batch_id}{ext}'), 'h');
    const body = Buffer.alloc(2 * 1024 * 1024, 'x');
    await Promise.all(Array.from({ length: 8 }, () => s.write(batch('same', body))));
    expect(walk(root)).toEqual(['same.ndjson.gz']);
    expect(readFileSync(join(root, 'same.ndjson.gz')).equals(body)).toBe(true);
  });

  it('never shows a partial object: readers see the old or the new file whole', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(root, '{batch_id}{ext}'), 'h');
    const a = Buffer.alloc(4 * 1024 * 1024, 'a');
    const b = Buffer.alloc(4 * 1024 * 1024, 'b');
    await s.write(batch('x', a));
    const path = join(root, 'x.ndjson.gz');
    let stop = false;
    const seen = new Set<string>();
    const reader = (async () => {
      while (!stop) {
        const got = readFileSync(path);
        seen.add(
          got.length === a.length && (got.equals(a) || got.equals(b))
            ? 'whole'
            : `partial:${got.length}`,
        );
        await new Promise((r) => setImmediate(r));
      }
    })();
    for (let i = 0; i < 10; i++) await s.write(batch('x', i % 2 ? a : b));
    stop = true;
    await reader;
    expect([...seen]).toEqual(['whole']);
  });

  it('a path it can never write is permanent (a file where the root should be)', async () => {
    const root = tempRoot();
    writeFileSync(join(root, 'blocker'), '');
    const err = await new DirectorySink(cfg(join(root, 'blocker')), 'h')
      .write(batch())
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SinkError);
    expect(err).toMatchObject({ retryable: false, errorClass: 'fs_enotdir' });
    expect((err as Error).message).toContain(join(root, 'blocker'));
  });

  it('a read-only directory is permanent, probe fails, and no temp file is left', async (ctx) => {
    const ro = readOnlyDir();
    if (!ro) ctx.skip(); // root without CAP_SYS_ADMIN / CAP_LINUX_IMMUTABLE: the mapping itself is covered below
    const s = new DirectorySink(cfg(ro!.path, '{batch_id}{ext}'), 'h');
    const err = await s.write(batch()).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: false, errorClass: `fs_${ro!.code.toLowerCase()}` });
    await expect(s.probe()).rejects.toMatchObject({ retryable: false });
    expect(readdirSync(ro!.path)).toEqual([]);
    // The same for a sub-directory that would have to be created there.
    await expect(new DirectorySink(cfg(ro!.path), 'h').write(batch())).rejects.toMatchObject({
      retryable: false,
    });
  });

  it('a full disk is retryable, leaves no temp file, and the write succeeds once there is room', async (ctx) => {
    const small = smallFs(256 * 1024);
    if (!small) ctx.skip(); // needs root + tmpfs mounts; the mapping itself is covered below
    const s = new DirectorySink(cfg(small!, '{batch_id}{ext}'), 'h');
    const err = await s.write(batch('big', Buffer.alloc(1024 * 1024, 1))).catch((e: unknown) => e);
    expect(err).toMatchObject({ retryable: true, errorClass: 'fs_enospc' });
    expect(readdirSync(small!)).toEqual([]);
    await s.write(batch('small', Buffer.alloc(1024, 1)));
    expect(readdirSync(small!)).toEqual(['small.ndjson.gz']);
  });

  it('classifies errno codes: space/IO/transient retry, permissions and shape do not', () => {
    const e = (code: string) => classifyFsError(Object.assign(new Error(code), { code }), 'w');
    for (const c of [
      'ENOSPC',
      'EDQUOT',
      'EIO',
      'EMFILE',
      'ENFILE',
      'EAGAIN',
      'EBUSY',
      'ENOENT',
      'ESOMETHINGNEW',
    ])
      expect(e(c).retryable, c).toBe(true);
    for (const c of ['EACCES', 'EROFS', 'EPERM', 'ENOTDIR', 'EISDIR', 'ENAMETOOLONG'])
      expect(e(c).retryable, c).toBe(false);
    expect(e('ENOSPC').errorClass).toBe('fs_enospc');
    expect(e('EROFS').message).toMatch(/^w: EROFS/);
  });

  it('an aborted attempt writes nothing and is retryable', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(root), 'h');
    await expect(
      s.write(batch(), AbortSignal.abort(new DOMException('t', 'TimeoutError'))),
    ).rejects.toMatchObject({ retryable: true, errorClass: 'timeout' });
    expect(walk(root)).toEqual([]);
  });

  it('probe: creates a missing root, passes when writable', async () => {
    const root = join(tempRoot(), 'not', 'yet');
    await new DirectorySink(cfg(root), 'h').probe();
    expect(statSync(root).isDirectory()).toBe(true);
  });

  it('recreates a directory removed between writes', async () => {
    const root = tempRoot();
    const s = new DirectorySink(cfg(root, '{date}/{batch_id}{ext}'), 'h');
    await s.write(batch('a'));
    rmSync(join(root, '2026-11-23'), { recursive: true });
    mkdirSync(join(root, 'unrelated'));
    await s.write(batch('b'));
    expect(walk(root)).toEqual([join('2026-11-23', 'b.ndjson.gz')]);
  });

  it.each(['bun', 'deno'])('works the same on %s (node:fs/promises only)', (runtime) => {
    const root = tempRoot();
    const src = join(ROOT, 'src', 'sinks', 'directory.ts');
    const script = `import { DirectorySink } from ${JSON.stringify(src)};
      const s = new DirectorySink({ type: 'directory', name: 'local', path: ${JSON.stringify(root)}, key_template: ${JSON.stringify(DEFAULT_KEY_TEMPLATE)} }, 'edge-1');
      const b = (t) => ({ id: 'abc', createdAt: ${Date.UTC(2026, 10, 23, 7, 5)}, events: 1, archive: { body: new TextEncoder().encode(t), codec: 'gzip', rawBytes: t.length } });
      await s.write(b('first\\n')); const r = await s.write(b('second\\n')); await s.probe();
      console.log(r.location);`;
    const bin = join(ROOT, 'node_modules', '.bin', runtime);
    const args = runtime === 'bun' ? ['-e', script] : ['eval', '--sloppy-imports', script];
    const r = spawnSync(bin, args, { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    const expected = join(root, 'events', 'dt=2026-11-23', 'hour=07', 'edge-1-abc.ndjson.gz');
    expect(r.stdout.trim(), `${runtime}: ${r.stderr}`).toBe(expected);
    expect(readFileSync(expected, 'utf8')).toBe('second\n');
    expect(walk(root)).toEqual([
      join('events', 'dt=2026-11-23', 'hour=07', 'edge-1-abc.ndjson.gz'),
    ]);
  });
});
