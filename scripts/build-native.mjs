#!/usr/bin/env node
/**
 * `npm run build:native`: build native/sd_notify.node, never touching nodejs.org.
 *
 *   1. node-gyp (the one npm ships) with --nodedir = this Node's own prefix, when
 *      <prefix>/include/node has the headers and common.gypi (official tarballs and
 *      most packages do);
 *   2. otherwise cc directly against the N-API headers of the `node-api-headers`
 *      package (a devDependency): an N-API addon needs no libnode to link against;
 *   3. no compiler, or both fail: say so and exit 0 — ferry then uses its fallback
 *      (src/lifecycle/notify-backends.ts). FERRY_NATIVE_REQUIRED=1 makes that an error
 *      (CI on a machine with a compiler, packaging).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';

const ROOT = resolve(import.meta.dirname, '..');
const NATIVE = join(ROOT, 'native');
const OUT = join(NATIVE, 'build', 'Release', 'sd_notify.node');
const required = process.env.FERRY_NATIVE_REQUIRED === '1';
const require = createRequire(import.meta.url);

/** @param {string} msg */
const say = (msg) => process.stderr.write(`build:native: ${msg}\n`);
/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [opts]
 */
const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  return r.status === 0;
};
/**
 * @param {string} why
 * @returns {never}
 */
function giveUp(why) {
  say(`${why}; ferry will use its sd_notify fallback`);
  process.exit(required ? 1 : 0);
}

const cc = process.env.CC || 'cc';
if (spawnSync(cc, ['--version'], { stdio: 'ignore' }).status !== 0) giveUp(`no C compiler (${cc})`);

function viaNodeGyp() {
  const prefix = dirname(dirname(process.execPath));
  const inc = join(prefix, 'include', 'node');
  if (!existsSync(join(inc, 'node_api.h')) || !existsSync(join(inc, 'common.gypi'))) {
    say(`no headers in ${inc}; skipping node-gyp`);
    return false;
  }
  const candidates = [
    process.env.npm_config_node_gyp,
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].filter(
    /**
     * @param {string | undefined} p
     * @returns {p is string}
     */
    (p) => !!p && existsSync(p),
  );
  if (candidates.length === 0) {
    say('node-gyp not found (npm ships it; run this through `npm run build:native`)');
    return false;
  }
  say(`node-gyp rebuild --nodedir=${prefix}`);
  return run(
    process.execPath,
    [candidates[0], 'rebuild', '--loglevel=warn', `--nodedir=${prefix}`],
    { cwd: NATIVE },
  );
}

function viaCc() {
  let include;
  try {
    include = require('node-api-headers').include_dir;
  } catch {
    say('node-api-headers is not installed');
    return false;
  }
  mkdirSync(dirname(OUT), { recursive: true });
  say(`${cc} -shared against ${include}`);
  return run(cc, [
    '-shared',
    '-fPIC',
    '-O2',
    '-Wall',
    '-Wextra',
    '-DNAPI_VERSION=3',
    '-DNODE_GYP_MODULE_NAME=sd_notify',
    `-I${include}`,
    '-o',
    OUT,
    join(NATIVE, 'sd_notify.c'),
  ]);
}

rmSync(OUT, { force: true });
if (!(viaNodeGyp() && existsSync(OUT)) && !viaCc()) giveUp('build failed');
try {
  const addon = require(OUT);
  if (typeof addon.send !== 'function') throw new Error('no send() export');
} catch (err) {
  rmSync(OUT, { force: true });
  giveUp(`built addon does not load: ${err instanceof Error ? err.message : err}`);
}
say(`ok: ${OUT}`);
