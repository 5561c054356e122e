#!/usr/bin/env node
/**
 * `npm run package` (after `npm run build`): the .deb and the tarball for each arch into dist-pkg/.
 *
 *   node packaging/build.mjs [--arch x64,arm64] [--format deb,tar] [--version V] [--out DIR]
 *
 * --version defaults to package.json's (the tests build an older one for the upgrade path).
 * Needs dpkg-deb, tar, npm and, for the sd_notify addon, gcc for each arch
 * (scripts/setup-test-deps.sh installs them).
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { parseArgs } from 'node:util';
import { ARCHES, ROOT, isArch, packageJson, say } from './lib/common.mjs';
import { buildDeb } from './lib/deb.mjs';
import { buildTarball } from './lib/tarball.mjs';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: 'x64,arm64' },
    format: { type: 'string', default: 'deb,tar' },
    version: { type: 'string' },
    out: { type: 'string', default: join(ROOT, 'dist-pkg') },
  },
});
const version = values.version ?? packageJson().version;
if (!/^[0-9][0-9A-Za-z.+~]*$/.test(version))
  throw new Error(`not a usable package version: ${version}`);
const arches = values.arch.split(',').map((a) => {
  if (!isArch(a)) throw new Error(`unknown arch ${a} (known: ${Object.keys(ARCHES).join(', ')})`);
  return a;
});
const formats = values.format.split(',');
const outDir = resolve(values.out);
mkdirSync(outDir, { recursive: true });
const workDir = join(outDir, `.work-${process.pid}`);
try {
  for (const arch of arches) {
    if (formats.includes('deb')) buildDeb({ arch, version, outDir, workDir });
    if (formats.includes('tar')) buildTarball({ arch, version, outDir, workDir });
  }
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
say(`done: ${outDir}`);
