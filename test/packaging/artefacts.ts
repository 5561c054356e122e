/**
 * Global setup of `npm run test:packaging`: builds every artefact the packaging tests
 * install, once per run, with packaging/build.mjs — amd64 and arm64 .deb and tarball of this
 * version, and the amd64 .deb again as 0.0.1 (the "previous version" of the upgrade tests).
 * They go to a throw-away directory under .cache/packaging/artefacts; FERRY_TEST_PKG_ARTEFACTS=DIR
 * (only for working on the tests) keeps them there and reuses what is already built. CI never
 * sets it, so CI always tests a fresh build.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';

const ROOT = resolve(import.meta.dirname, '..', '..');
export const OLD_VERSION = '0.0.1';

export default function setup(): () => void {
  const keep = process.env.FERRY_TEST_PKG_ARTEFACTS;
  const cache = process.env.FERRY_PKG_CACHE || join(ROOT, '.cache', 'packaging');
  const out = keep || join(cache, 'artefacts', `run-${process.pid}`);
  mkdirSync(out, { recursive: true });
  const v = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string })
    .version;
  const build = (args: string[], files: string[]) => {
    if (keep && files.every((f) => existsSync(join(out, f)))) return;
    const t0 = Date.now();
    const r = spawnSync(
      process.execPath,
      [join(ROOT, 'packaging', 'build.mjs'), '--out', out, ...args],
      { stdio: ['ignore', 'inherit', 'inherit'], timeout: 40 * 60_000 },
    );
    if (r.status !== 0)
      throw new Error(
        `packaging/build.mjs ${args.join(' ')} failed (exit ${r.status ?? r.signal})`,
      );
    process.stderr.write(
      `packaging tests: built ${files.join(', ')} in ${Math.round((Date.now() - t0) / 1000)} s\n`,
    );
  };
  // Only when root can run the tests: elsewhere they skip (or fail at once under CI).
  if (process.getuid?.() === 0) {
    build(
      ['--arch', 'x64,arm64', '--format', 'deb,tar'],
      [
        `ferry_${v}_amd64.deb`,
        `ferry-${v}-linux-x64.tar.gz`,
        `ferry_${v}_arm64.deb`,
        `ferry-${v}-linux-arm64.tar.gz`,
      ],
    );
    build(
      ['--arch', 'x64', '--format', 'deb', '--version', OLD_VERSION],
      [`ferry_${OLD_VERSION}_amd64.deb`],
    );
  }
  process.env.FERRY_TEST_PKG_DIR = out;
  return () => {
    if (!keep) rmSync(out, { recursive: true, force: true });
  };
}
