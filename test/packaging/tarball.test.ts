/**
 * The linux-x64 tarball on a clean Debian 12 root (debootstrap, chroot): install.sh into a
 * prefix creates the user, the state directory, the config and a unit pointing at the
 * prefix; ferry runs from there and takes events; a second install keeps the edited config;
 * uninstall.sh keeps config and state, --purge deletes them and the user.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import {
  ROOT,
  VERSION,
  artefact,
  freshRoot,
  missingPrerequisite,
  postEvents,
  sh,
  startFerry,
  type Root,
} from './chroot.js';
import { envelopesIn } from '../helpers/archive.js';

const NAME = `ferry-${VERSION}-linux-x64`;
const PREFIX = '/opt/ferry-edge';
const why = missingPrerequisite();
if (why && process.env.CI === 'true') throw new Error(`packaging tests cannot run: ${why}`);

describe.skipIf(why !== '')('ferry tarball on a clean Debian 12 root', () => {
  let root: Root;

  beforeAll(() => {
    root = freshRoot('amd64', 'tar');
    sh('tar', ['-xzf', artefact(`${NAME}.tar.gz`), '-C', join(root.dir, 'tmp')]);
  }, 10 * 60_000);
  afterAll(() => root?.destroy());

  it('has one top directory holding the runtime, the app, the scripts and the unit', () => {
    const top = join(root.dir, 'tmp', NAME);
    for (const p of [
      'bin/ferry',
      'lib/ferry/node/bin/node',
      'lib/ferry/node/LICENSE',
      'lib/ferry/app/dist/src/cli.js',
      'lib/ferry/app/native/build/Release/sd_notify.node',
      'lib/ferry/app/node_modules/lz4-napi/package.json',
      'etc/ferry.yaml',
      'systemd/ferry.service',
      'install.sh',
      'uninstall.sh',
      'README.md',
      'CHANGELOG.md',
    ]) {
      expect(existsSync(join(top, p)), p).toBe(true);
    }
    // Production dependencies only.
    for (const dev of ['vitest', 'typescript', 'bun', 'deno', 'fast-check'])
      expect(existsSync(join(top, 'lib/ferry/app/node_modules', dev)), dev).toBe(false);
  });

  it('install.sh into a prefix: user, state dir, config, unit at the prefix; nothing started without systemd', () => {
    const r = root.run([`/tmp/${NAME}/install.sh`, '--prefix', PREFIX]);
    expect(r.stdout).toContain(`installed ferry ${VERSION} in ${PREFIX}`);
    expect(r.stdout).toContain('systemd is not running here');
    expect(root.run([`${PREFIX}/bin/ferry`, 'version']).stdout).toContain(VERSION);
    expect(
      root.run([`${PREFIX}/bin/ferry`, 'config', 'check', '--config', '/etc/ferry/ferry.yaml'])
        .stdout,
    ).toMatch(/^config OK/);
    expect(root.run(['getent', 'passwd', 'ferry']).stdout).toMatch(
      /:\/var\/lib\/ferry:\/usr\/sbin\/nologin$/m,
    );
    expect(root.run(['stat', '-c', '%U:%G %a', '/var/lib/ferry']).stdout.trim()).toBe(
      'ferry:ferry 750',
    );
    const unit = readFileSync(join(root.dir, 'etc/systemd/system/ferry.service'), 'utf8');
    expect(unit).toContain(`ExecStart=${PREFIX}/bin/ferry run --config /etc/ferry/ferry.yaml`);
    expect(unit).not.toContain('/usr/bin/ferry');
    const v = root.run(['systemd-analyze', 'verify', '/etc/systemd/system/ferry.service'], {
      allowFail: true,
    });
    expect(v.stdout + v.stderr).toBe('');
  });

  it('ferry from the prefix runs as the ferry user and writes POSTed events to the directory sink', async () => {
    const f = await startFerry(root, [
      `${PREFIX}/bin/ferry`,
      'run',
      '--config',
      '/etc/ferry/ferry.yaml',
    ]);
    try {
      expect(await postEvents(f.port, 120, 'tar-smoke')).toBe(200);
    } finally {
      expect(await f.stop()).toBe(0);
    }
    const got = envelopesIn(join(root.dir, 'var/lib/ferry/out')).filter(
      (e) => e.payload.tag === 'tar-smoke',
    );
    expect(got.map((e) => e.payload.i as number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 120 }, (_, i) => i),
    );
  });

  it('installing again keeps an edited config (the new default goes beside it)', () => {
    const cfg = join(root.dir, 'etc/ferry/ferry.yaml');
    const edited =
      readFileSync(cfg, 'utf8').replace('max_events: 5000', 'max_events: 777') +
      '# edited by the admin\n';
    writeFileSync(cfg, edited);
    const r = root.run([`/tmp/${NAME}/install.sh`, '--prefix', PREFIX]);
    expect(r.stdout).toContain('kept /etc/ferry/ferry.yaml');
    expect(readFileSync(cfg, 'utf8')).toBe(edited);
    expect(readFileSync(join(root.dir, 'etc/ferry/ferry.yaml.new'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'config/ferry.yaml'), 'utf8'),
    );
    expect(
      root.run([`${PREFIX}/bin/ferry`, 'config', 'check', '--config', '/etc/ferry/ferry.yaml'])
        .stdout,
    ).toContain('batch: 777 events');
  });

  it('uninstall.sh (the copy in the prefix) keeps config and state; --purge deletes them and the user', () => {
    const r = root.run([`${PREFIX}/uninstall.sh`]);
    expect(r.stdout).toContain(`removed ferry from ${PREFIX}`);
    expect(existsSync(join(root.dir, PREFIX.slice(1)))).toBe(false);
    expect(existsSync(join(root.dir, 'etc/systemd/system/ferry.service'))).toBe(false);
    expect(existsSync(join(root.dir, 'etc/ferry/ferry.yaml'))).toBe(true);
    expect(
      readdirSync(join(root.dir, 'var/lib/ferry/out'), { recursive: true }).length,
    ).toBeGreaterThan(0);

    root.run([`/tmp/${NAME}/uninstall.sh`, '--prefix', PREFIX, '--purge']);
    expect(existsSync(join(root.dir, 'etc/ferry'))).toBe(false);
    expect(existsSync(join(root.dir, 'var/lib/ferry'))).toBe(false);
    expect(root.run(['getent', 'passwd', 'ferry'], { allowFail: true }).status).not.toBe(0);
  });
});
