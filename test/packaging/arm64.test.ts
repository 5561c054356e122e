/**
 * The arm64 .deb and tarball, built on this (amd64) machine: every ELF file inside is
 * AArch64, the .deb says Architecture: arm64 and passes lintian, and the bundled runtime
 * runs ferry under qemu-aarch64-static with the libraries of a debootstrapped arm64
 * Debian 12 (first stage only): `ferry version`, `ferry config check`, and a smoke run —
 * events POSTed, seen in the directory sink, so the arm64 lz4-napi, msgpackr-extract and
 * sd_notify addon load.
 *
 * Not covered here: the maintainer scripts and install.sh on an arm64 system (they are
 * arch-independent shell, tested on amd64 by deb.test.ts and tarball.test.ts), and real
 * arm64 hardware or kernel (qemu-user emulates the CPU only).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  statSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import {
  CACHE,
  VERSION,
  artefact,
  baseRoot,
  freePort,
  missingPrerequisite,
  postEvents,
  sh,
} from './chroot.js';
import { envelopesIn } from '../helpers/archive.js';

const NAME = `ferry-${VERSION}-linux-arm64`;
const OUT = join(CACHE, 'scratch', `arm64-${process.pid}`);
const QEMU = 'qemu-aarch64-static';
const EM_AARCH64 = 183;
const why =
  missingPrerequisite() ||
  (spawnSync(QEMU, ['--version']).status === 0
    ? ''
    : `${QEMU} is not installed (apt-get install qemu-user-static)`);
if (why && process.env.CI === 'true') throw new Error(`arm64 packaging tests cannot run: ${why}`);

/** e_machine of an ELF file, or null when it is not one. */
function elfMachine(p: string): number | null {
  const fd = openSync(p, 'r');
  try {
    const b = Buffer.alloc(20);
    if (readSync(fd, b, 0, 20, 0) < 20 || b.readUInt32BE(0) !== 0x7f454c46) return null;
    return b.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(why !== '')('arm64 artefacts (built on amd64, run under qemu-user)', () => {
  let sysroot = '';
  const tarDir = join(OUT, 'tar');
  const debDir = join(OUT, 'deb');

  beforeAll(() => {
    sysroot = baseRoot('arm64');
    rmSync(OUT, { recursive: true, force: true });
    mkdirSync(tarDir, { recursive: true });
    sh('tar', ['-xzf', artefact(`${NAME}.tar.gz`), '-C', tarDir]);
    sh('dpkg-deb', ['-x', artefact(`ferry_${VERSION}_arm64.deb`), debDir]);
  }, 30 * 60_000);
  afterAll(() => rmSync(OUT, { recursive: true, force: true }));

  const emulated = (lib: string, args: string[], env: Record<string, string> = {}) =>
    sh(
      QEMU,
      ['-L', sysroot, join(lib, 'node/bin/node'), join(lib, 'app/dist/src/cli.js'), ...args],
      { env: { ...process.env, ...env } },
    );

  it('every ELF object in both artefacts is AArch64, and the .deb is Architecture: arm64', () => {
    for (const lib of [join(tarDir, NAME, 'lib/ferry'), join(debDir, 'usr/lib/ferry')]) {
      const elves = readdirSync(lib, { recursive: true })
        .map(String)
        .filter((p) => statSync(join(lib, p)).isFile() && elfMachine(join(lib, p)) !== null);
      expect(elves).toContain('node/bin/node');
      expect(elves).toContain('app/native/build/Release/sd_notify.node');
      expect(elves.some((p) => p.includes('lz4-napi-linux-arm64-gnu'))).toBe(true);
      for (const p of elves) expect(elfMachine(join(lib, p)), p).toBe(EM_AARCH64);
    }
    expect(
      sh('dpkg-deb', ['-f', artefact(`ferry_${VERSION}_arm64.deb`), 'Architecture']).stdout.trim(),
    ).toBe('arm64');
  });

  it('the arm64 .deb passes lintian (errors and warnings)', () => {
    const r = sh(
      'lintian',
      ['--fail-on', 'error,warning', artefact(`ferry_${VERSION}_arm64.deb`)],
      { allowFail: true },
    );
    expect(r.stdout.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('ferry version and config check run on the bundled arm64 runtime (tarball and .deb)', () => {
    for (const lib of [join(tarDir, NAME, 'lib/ferry'), join(debDir, 'usr/lib/ferry')]) {
      expect(emulated(lib, ['version']).stdout).toContain(VERSION);
      expect(
        emulated(lib, ['config', 'check', '--config', join(tarDir, NAME, 'etc/ferry.yaml')]).stdout,
      ).toMatch(/^config OK/);
    }
    const addon = sh(QEMU, [
      '-L',
      sysroot,
      join(tarDir, NAME, 'lib/ferry/node/bin/node'),
      '-p',
      `process.arch + ' ' + typeof require(${JSON.stringify(join(tarDir, NAME, 'lib/ferry/app/native/build/Release/sd_notify.node'))}).send`,
    ]);
    expect(addon.stdout.trim()).toBe('arm64 function');
  });

  it('smoke: the arm64 ferry takes POSTed events into its directory sink', async () => {
    const state = join(OUT, 'state');
    mkdirSync(state);
    const cfg = join(OUT, 'ferry.yaml');
    writeFileSync(
      cfg,
      readFileSync(join(tarDir, NAME, 'etc/ferry.yaml'), 'utf8').replace(
        'state_dir: /var/lib/ferry',
        `state_dir: ${state}`,
      ),
    );
    const port = await freePort();
    const lib = join(tarDir, NAME, 'lib/ferry');
    const proc = spawn(
      QEMU,
      [
        '-L',
        sysroot,
        join(lib, 'node/bin/node'),
        join(lib, 'app/dist/src/cli.js'),
        'run',
        '--config',
        cfg,
      ],
      {
        env: { ...process.env, FERRY_LISTEN__PORT: String(port) },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    proc.stderr.on('data', (d) => (out += d));
    const exited = new Promise<number | null>((res) => proc.once('exit', (c) => res(c)));
    try {
      const deadline = Date.now() + 180_000;
      for (;;) {
        if (proc.exitCode !== null)
          throw new Error(`ferry (arm64) exited ${proc.exitCode}:\n${out.slice(-4000)}`);
        const ok = await fetch(`http://127.0.0.1:${port}/readyz`).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) break;
        if (Date.now() > deadline)
          throw new Error(`ferry (arm64) not ready in 180 s:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(await postEvents(port, 80, 'arm64')).toBe(200);
    } finally {
      proc.kill('SIGTERM');
      const t = setTimeout(() => proc.kill('SIGKILL'), 120_000);
      expect(await exited, out.slice(-2000)).toBe(0);
      clearTimeout(t);
    }
    const got = envelopesIn(join(state, 'out')).filter((e) => e.payload.tag === 'arm64');
    expect(got.map((e) => e.payload.i as number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 80 }, (_, i) => i),
    );
  });
});
