/**
 * The installed tree shared by the .deb and the tarball, under `<dest>/lib/ferry`:
 *
 *   node/bin/node, node/LICENSE        the pinned runtime
 *   app/package.json                   (`ferry version` reads it)
 *   app/dist/src, app/dist/workers     compiled JS (no source maps)
 *   app/config/migrations/             ClickHouse migrations (`ferry migrate`)
 *   app/node_modules/                  production dependencies for the target arch
 *   app/native/build/Release/sd_notify.node
 *
 * plus `<dest>/bin/ferry`, a launcher that finds lib/ferry relative to itself, so the same
 * file serves /usr/bin/ferry (deb) and <prefix>/bin/ferry (tarball). Paths inside app/
 * are the ones the code resolves from import.meta.url, as in a checkout.
 */
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { PACKAGING, ROOT, packageJson, stripBinaries } from './common.mjs';
import { nodeRuntime } from './runtime.mjs';
import { productionModules } from './modules.mjs';
import { buildAddon } from './addon.mjs';

/** @param {string} src */
const noMaps = (src) => !src.endsWith('.map');

/**
 * Fills `<dest>/lib/ferry` and `<dest>/bin/ferry`; returns whether the sd_notify addon is in.
 * @param {string} dest
 * @param {import('./common.mjs').Arch} arch
 * @param {string} version
 */
export function buildAppTree(dest, arch, version) {
  if (!existsSync(join(ROOT, 'dist', 'src', 'cli.js')))
    throw new Error(
      'dist/src/cli.js is missing: run `npm run build` first (`npm run package` does)',
    );
  const lib = join(dest, 'lib', 'ferry');
  const app = join(lib, 'app');
  mkdirSync(join(lib, 'node', 'bin'), { recursive: true });
  const runtime = nodeRuntime(arch);
  copyFileSync(join(runtime, 'bin', 'node'), join(lib, 'node', 'bin', 'node'));
  chmodSync(join(lib, 'node', 'bin', 'node'), 0o755);
  copyFileSync(join(runtime, 'LICENSE'), join(lib, 'node', 'LICENSE'));

  mkdirSync(app, { recursive: true });
  const pkg = packageJson();
  const shipped = {
    name: pkg.name,
    version,
    description: pkg.description,
    license: pkg.license,
    type: pkg.type,
    dependencies: pkg.dependencies,
  };
  writeFileSync(join(app, 'package.json'), JSON.stringify(shipped, null, 2) + '\n');
  for (const part of ['src', 'workers'])
    cpSync(join(ROOT, 'dist', part), join(app, 'dist', part), { recursive: true, filter: noMaps });
  cpSync(join(ROOT, 'config', 'migrations'), join(app, 'config', 'migrations'), {
    recursive: true,
  });
  cpSync(productionModules(arch), join(app, 'node_modules'), {
    recursive: true,
    verbatimSymlinks: true,
  });
  pruneModules(join(app, 'node_modules'));
  // Debian policy (lintian unstripped-binary-or-object): ship no debug symbols. The runtime's
  // exported N-API symbols live in .dynsym, which --strip-unneeded keeps.
  stripBinaries(arch, [
    join(lib, 'node', 'bin', 'node'),
    ...nativeObjects(join(app, 'node_modules')),
  ]);
  const addon = buildAddon(arch, join(app, 'native', 'build', 'Release', 'sd_notify.node'));

  mkdirSync(join(dest, 'bin'), { recursive: true });
  copyFileSync(join(PACKAGING, 'files', 'ferry'), join(dest, 'bin', 'ferry'));
  chmodSync(join(dest, 'bin', 'ferry'), 0o755);
  normaliseModes(lib);
  return addon;
}

/**
 * npm's bookkeeping and .bin links mean nothing in an installed tree.
 * @param {string} dir
 */
function pruneModules(dir) {
  for (const p of ['.bin', '.package-lock.json'])
    rmSync(join(dir, p), { recursive: true, force: true });
  pruneJunk(dir);
}

// Development leftovers some packages publish (lint configs, VCS files, their own tests and
// benchmarks, a docs site that loads scripts from CDNs) and musl builds a glibc system never
// loads. Not run-time code: lintian flags them, and they only add bytes.
const JUNK_FILES =
  /^(\.eslintrc.*|\.npmignore|\.gitattributes|\.gitignore|\.editorconfig|\.prettierrc.*|\.travis\.yml|index\.html|.*\.musl\.node)$/;
const JUNK_DIRS = new Set([
  '.github',
  '.husky',
  'test',
  'tests',
  '__tests__',
  'benchmark',
  'benchmarks',
  'example',
  'examples',
]);

/** @param {string} dir */
function pruneJunk(dir) {
  for (const ent of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, ent.name);
    if (ent.isDirectory()) {
      if (JUNK_DIRS.has(ent.name)) rmSync(p, { recursive: true, force: true });
      else pruneJunk(p);
    } else if (JUNK_FILES.test(ent.name)) {
      rmSync(p, { force: true });
    }
  }
}

/** @param {string} dir */
function nativeObjects(dir) {
  /** @type {string[]} */
  const out = [];
  for (const ent of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (ent.isFile() && ent.name.endsWith('.node'))
      out.push(join(ent.parentPath ?? ent.path, ent.name));
  }
  return out;
}

/**
 * 0755 dirs, 0644 files, 0755 for node only (.node objects are 0644 like any .so). JS files
 * with a `#!/usr/bin/env node` line stay 0644: the bundled node loads them, and as programs
 * they would run a system `node` the package does not depend on (lintian override).
 * @param {string} dir
 */
function normaliseModes(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    const st = statSync(p);
    if (st.isDirectory()) {
      chmodSync(p, 0o755);
      normaliseModes(p);
    } else {
      chmodSync(p, p.endsWith('/bin/node') ? 0o755 : 0o644);
    }
  }
}
