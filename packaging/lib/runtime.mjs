/**
 * The pinned Node.js runtime for one arch, from the npm registry's `node-linux-<arch>`
 * package (the official binaries), fetched with `npm pack` and cached.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { NODE_VERSION, cacheDir, run, say } from './common.mjs';

/**
 * Directory holding bin/node and LICENSE of the pinned runtime for `arch`.
 * @param {import('./common.mjs').Arch} arch
 */
export function nodeRuntime(arch) {
  const name = `node-linux-${arch}`;
  const dir = join(cacheDir(), 'node', `${name}-${NODE_VERSION}`);
  if (existsSync(join(dir, 'bin', 'node'))) return dir;
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  say(`npm pack ${name}@${NODE_VERSION}`);
  // npm pack prints the tarball's name last.
  const packed = run('npm', ['pack', '--silent', `${name}@${NODE_VERSION}`], { cwd: tmp })
    .trim()
    .split('\n');
  const file = packed[packed.length - 1];
  // Only the binary and its licence: headers, man page and docs are not needed at run time.
  run('tar', ['-xzf', file, '--strip-components=1', 'package/bin/node', 'package/LICENSE'], {
    cwd: tmp,
  });
  rmSync(join(tmp, file));
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return dir;
}
