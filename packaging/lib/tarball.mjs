/**
 * ferry-<version>-linux-<arch>.tar.gz, one top directory of the same name:
 *   bin/ferry, lib/ferry/{node,app}     as in the .deb (app-tree.mjs)
 *   etc/ferry.yaml                      the default config (install.sh keeps an existing one)
 *   systemd/ferry.service               the unit; install.sh points ExecStart at the prefix
 *   install.sh, uninstall.sh, README.md, CHANGELOG.md
 */
import { chmodSync, copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ARCHES, PACKAGING, ROOT, run, say, sourceDateEpoch } from './common.mjs';
import { buildAppTree } from './app-tree.mjs';

/**
 * @param {object} o
 * @param {import('./common.mjs').Arch} o.arch
 * @param {string} o.version
 * @param {string} o.outDir where the tarball goes
 * @param {string} o.workDir scratch space (the caller removes it)
 */
export function buildTarball({ arch, version, outDir, workDir }) {
  const name = `ferry-${version}-${ARCHES[arch].tar}`;
  const top = join(workDir, name);
  rmSync(top, { recursive: true, force: true });
  const addon = buildAppTree(top, arch, version);
  /**
   * @param {string} from
   * @param {string} to under the top directory
   * @param {number} [mode]
   */
  const copy = (from, to, mode = 0o644) => {
    mkdirSync(join(top, to, '..'), { recursive: true });
    copyFileSync(from, join(top, to));
    chmodSync(join(top, to), mode);
  };
  copy(join(ROOT, 'config', 'ferry.yaml'), 'etc/ferry.yaml');
  copy(join(ROOT, 'systemd', 'ferry.service'), 'systemd/ferry.service');
  copy(join(PACKAGING, 'tarball', 'install.sh'), 'install.sh', 0o755);
  copy(join(PACKAGING, 'tarball', 'uninstall.sh'), 'uninstall.sh', 0o755);
  copy(join(ROOT, 'README.md'), 'README.md');
  copy(join(ROOT, 'CHANGELOG.md'), 'CHANGELOG.md');

  const out = join(outDir, `${name}.tar.gz`);
  say(`tar → ${relative(ROOT, out)}${addon ? '' : ' (without sd_notify.node)'}`);
  const mtime = `@${sourceDateEpoch()}`;
  run('tar', [
    '--sort=name',
    `--mtime=${mtime}`,
    '--owner=0',
    '--group=0',
    '--numeric-owner',
    '-czf',
    out,
    '-C',
    workDir,
    name,
  ]);
  rmSync(top, { recursive: true, force: true });
  return out;
}
