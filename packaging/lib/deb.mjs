/**
 * ferry_<version>_<debarch>.deb with dpkg-deb:
 *   /usr/bin/ferry, /usr/lib/ferry/{node,app}      launcher, runtime, app (app-tree.mjs)
 *   /etc/ferry/ferry.yaml                           conffile: config/ferry.yaml as shipped
 *   /lib/systemd/system/ferry.service               systemd/ferry.service as is
 *   /usr/share/doc/ferry/                           copyright, changelog.gz, CHANGELOG.md.gz, README.md
 *   DEBIAN/{control,conffiles,md5sums,postinst,prerm,postrm}
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { gzipSync } from 'node:zlib';
import { ARCHES, PACKAGING, ROOT, packageJson, run, say, sourceDateEpoch } from './common.mjs';
import { buildAppTree } from './app-tree.mjs';

// What node/bin/node and the .node binaries link against, at the newest symbol versions they
// use (objdump -T, Node 24.21.0 and the prebuilt addons): GLIBC_2.28, GCC_4.2.0, GLIBCXX_3.4.21
// (GCC 5). adduser for the postinst.
const DEPENDS = 'adduser, libc6 (>= 2.28), libgcc-s1 (>= 4.2), libstdc++6 (>= 5)';
// FERRY_PKG_MAINTAINER names whoever builds a release; the default is a placeholder on a reserved domain.
const MAINTAINER = process.env.FERRY_PKG_MAINTAINER || 'ferry maintainers <ferry@example.org>';

/**
 * @param {object} o
 * @param {import('./common.mjs').Arch} o.arch
 * @param {string} o.version
 * @param {string} o.outDir where the .deb goes
 * @param {string} o.workDir scratch space (the caller removes it)
 */
export function buildDeb({ arch, version, outDir, workDir }) {
  const debArch = ARCHES[arch].deb;
  const tree = join(workDir, `deb-${debArch}`);
  rmSync(tree, { recursive: true, force: true });
  const addon = buildAppTree(join(tree, 'usr'), arch, version);

  put(tree, 'etc/ferry/ferry.yaml', readFileSync(join(ROOT, 'config', 'ferry.yaml')));
  put(
    tree,
    'lib/systemd/system/ferry.service',
    readFileSync(join(ROOT, 'systemd', 'ferry.service')),
  );
  const doc = 'usr/share/doc/ferry';
  put(tree, `${doc}/copyright`, readFileSync(join(PACKAGING, 'debian', 'copyright')));
  put(tree, `${doc}/changelog.gz`, gzipSync(debianChangelog(version), { level: 9 }));
  put(
    tree,
    `${doc}/CHANGELOG.md.gz`,
    gzipSync(readFileSync(join(ROOT, 'CHANGELOG.md')), { level: 9 }),
  );
  // Uncompressed: the unit's Documentation= points at it.
  put(tree, `${doc}/README.md`, readFileSync(join(ROOT, 'README.md')));
  put(tree, 'usr/share/lintian/overrides/ferry', overrides());
  put(
    tree,
    'usr/share/man/man1/ferry.1.gz',
    gzipSync(readFileSync(join(PACKAGING, 'files', 'ferry.1')), { level: 9 }),
  );

  const control = join(tree, 'DEBIAN');
  mkdirSync(control, { recursive: true });
  for (const script of ['postinst', 'prerm', 'postrm']) {
    copyFileSync(join(PACKAGING, 'debian', script), join(control, script));
    chmodSync(join(control, script), 0o755);
  }
  writeFileSync(join(control, 'conffiles'), '/etc/ferry/ferry.yaml\n');
  writeFileSync(join(control, 'md5sums'), md5sums(tree));
  writeFileSync(
    join(control, 'control'),
    controlFile({ version, debArch, installedKb: duKb(tree) }),
  );

  const out = join(outDir, `ferry_${version}_${debArch}.deb`);
  say(`dpkg-deb → ${relative(ROOT, out)}${addon ? '' : ' (without sd_notify.node)'}`);
  run('dpkg-deb', ['--root-owner-group', '-Zxz', '-z6', '--build', tree, out], {
    env: { ...process.env, SOURCE_DATE_EPOCH: String(sourceDateEpoch()) },
  });
  rmSync(tree, { recursive: true, force: true });
  return out;
}

/**
 * @param {object} o
 * @param {string} o.version
 * @param {string} o.debArch
 * @param {number} o.installedKb
 */
function controlFile({ version, debArch, installedKb }) {
  const pkg = packageJson();
  return [
    'Package: ferry',
    `Version: ${version}`,
    `Architecture: ${debArch}`,
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKb}`,
    `Depends: ${DEPENDS}`,
    'Section: net',
    'Priority: optional',
    `Description: ${pkg.description.split(':')[0]}`,
    ' ferry takes events over HTTP, batches and compresses them on worker threads',
    ' and ships them to S3, ClickHouse or a local directory, with a local',
    ' dead-letter queue while a sink is down. Runs under systemd (Type=notify).',
    ' .',
    ' This package carries its own Node.js runtime in /usr/lib/ferry/node.',
    '',
  ].join('\n');
}

/**
 * Debian-format changelog for the package; the project's own history is CHANGELOG.md.gz.
 * @param {string} version
 */
function debianChangelog(version) {
  const date = new Date(sourceDateEpoch() * 1000).toUTCString().replace(/GMT$/, '+0000');
  return `ferry (${version}) unstable; urgency=medium\n\n  * Release ${version}; the changes are listed in\n    /usr/share/doc/ferry/CHANGELOG.md.gz.\n\n -- ${MAINTAINER}  ${date}\n`;
}

/** Overrides with their reasons (packaging/debian/lintian-overrides), comments stripped. */
function overrides() {
  return (
    readFileSync(join(PACKAGING, 'debian', 'lintian-overrides'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() && !l.startsWith('#'))
      .join('\n') + '\n'
  );
}

/**
 * @param {string} tree
 * @param {string} path under tree
 * @param {string | Uint8Array} data
 */
function put(tree, path, data) {
  const p = join(tree, path);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, data);
  chmodSync(p, 0o644);
}

/**
 * Every file under dir (sorted, depth first) with its stat.
 * @param {string} dir
 * @returns {Generator<[string, import('node:fs').Stats]>}
 */
function* files(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) yield* files(p);
    else yield [p, st];
  }
}

/** @param {string} tree */
function md5sums(tree) {
  let out = '';
  for (const [p] of files(tree)) {
    const rel = relative(tree, p);
    if (rel.startsWith('DEBIAN/') || rel.startsWith('etc/')) continue; // conffiles are not listed
    out += `${createHash('md5').update(readFileSync(p)).digest('hex')}  ${rel}\n`;
  }
  return out;
}

/** @param {string} tree */
function duKb(tree) {
  let kb = 0;
  for (const [, st] of files(tree)) kb += Math.ceil(st.size / 1024);
  return kb;
}
