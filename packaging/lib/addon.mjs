/**
 * native/sd_notify.c built for one arch with that arch's gcc against node-api-headers
 * (an N-API addon links against nothing: one .so for every Node version). Without the
 * compiler the artefact ships without it and ferry uses its sd_notify fallback — said
 * loudly; FERRY_NATIVE_REQUIRED=1 makes that an error.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import process from 'node:process';
import { ARCHES, ROOT, run, say } from './common.mjs';

/**
 * Builds into `outFile`; returns false (with a message) when no compiler for `arch` is here.
 * @param {import('./common.mjs').Arch} arch
 * @param {string} outFile
 */
export function buildAddon(arch, outFile) {
  // The triplet-named gcc (the cross compiler, or the host's own under that name), else plain cc on the same arch.
  const candidates = [ARCHES[arch].cc, ...(process.arch === arch ? [process.env.CC || 'cc'] : [])];
  const cc = candidates.find((c) => spawnSync(c, ['--version'], { stdio: 'ignore' }).status === 0);
  if (!cc) {
    const why = `no C compiler for ${arch} (${candidates.join(' or ')}): the ${arch} artefacts ship without sd_notify.node (ferry falls back to systemd-notify)`;
    if (process.env.FERRY_NATIVE_REQUIRED === '1') throw new Error(why);
    say(`WARNING: ${why}`);
    return false;
  }
  const include = createRequire(join(ROOT, 'package.json'))('node-api-headers').include_dir;
  mkdirSync(join(outFile, '..'), { recursive: true });
  run(cc, [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    '-Wextra',
    '-DNAPI_VERSION=3',
    '-DNODE_GYP_MODULE_NAME=sd_notify',
    `-I${include}`,
    '-o',
    outFile,
    join(ROOT, 'native', 'sd_notify.c'),
  ]);
  const strip = cc === ARCHES[arch].cc ? `${ARCHES[arch].triplet}-strip` : 'strip';
  run(strip, ['--strip-unneeded', outFile]);
  return true;
}
