/**
 * Production node_modules for one arch. Native dependencies (lz4-napi, msgpackr-extract,
 * @napi-rs/nice under piscina) ship prebuilt binaries as per-platform optional packages,
 * so `npm install --omit=dev --cpu=<arch> --os=linux --libc=glibc` picks the target's
 * binaries whatever the build machine is. Cached by the lock file's and the deps' hash.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, cacheDir, packageJson, run, say } from './common.mjs';

/** @param {import('./common.mjs').Arch} arch */
export function productionModules(arch) {
  const pkg = packageJson();
  const lock = readFileSync(join(ROOT, 'package-lock.json'));
  const key = createHash('sha256')
    .update(JSON.stringify(pkg.dependencies))
    .update(lock)
    .digest('hex')
    .slice(0, 16);
  const dir = join(cacheDir(), 'modules', `${arch}-${key}`);
  if (existsSync(join(dir, 'node_modules'))) return join(dir, 'node_modules');
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  // Only `dependencies`: `npm ci` would insist on dev packages the lock file lists partially.
  const prod = {
    name: pkg.name,
    version: pkg.version,
    private: true,
    type: pkg.type,
    dependencies: pkg.dependencies,
  };
  writeFileSync(join(tmp, 'package.json'), JSON.stringify(prod, null, 2));
  writeFileSync(join(tmp, 'package-lock.json'), lock);
  say(`npm install --omit=dev for linux-${arch}`);
  // --ignore-scripts: install scripts would build for the build machine; prebuilt binaries are what we ship.
  run(
    'npm',
    [
      'install',
      '--omit=dev',
      '--ignore-scripts',
      '--no-audit',
      '--no-fund',
      `--cpu=${arch}`,
      '--os=linux',
      '--libc=glibc',
    ],
    { cwd: tmp, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  return join(dir, 'node_modules');
}
