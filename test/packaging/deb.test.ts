/**
 * The amd64 .deb on a clean Debian 12 (a debootstrap root, chroot): install, `ferry version`,
 * `ferry config check`, ferry started as the `ferry` user with the shipped config taking
 * events into its directory sink, `systemd-analyze verify` on the installed unit; upgrade
 * from an older build keeps an edited conffile and a non-empty DLQ; remove keeps config and
 * state, purge deletes them.
 *
 * The "previous version" is this tree built as 0.0.1 (build.mjs --version): the maintainer
 * scripts and conffile handling are what the upgrade exercises. systemd does not run in a
 * chroot, so the postinst's enable/start branch is checked only in its no-systemd form
 * (nothing started, the enable symlink made by deb-systemd-helper).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
import { OLD_VERSION as OLD } from './artefacts.js';
import { envelopesIn } from '../helpers/archive.js';

const why = missingPrerequisite();
if (why && process.env.CI === 'true') throw new Error(`packaging tests cannot run: ${why}`);

// Absolute symlinks inside the root point into it, not at the host: look at the link itself.
const WANTS = 'etc/systemd/system/multi-user.target.wants/ferry.service';
const enabledIn = (root: Root) =>
  lstatSync(join(root.dir, WANTS), { throwIfNoEntry: false })?.isSymbolicLink() === true;
const sha = (p: string) => createHash('sha256').update(readFileSync(p)).digest('hex');
const files = (d: string) =>
  existsSync(d)
    ? readdirSync(d, { recursive: true })
        .map(String)
        .filter((n) => statSync(join(d, n)).isFile())
    : [];

describe.skipIf(why !== '')('ferry .deb on a clean Debian 12 root', () => {
  let root: Root;

  let DEB = '';
  let OLD_DEB = '';

  beforeAll(() => {
    DEB = artefact(`ferry_${VERSION}_amd64.deb`);
    OLD_DEB = artefact(`ferry_${OLD}_amd64.deb`);
  });
  afterAll(() => root?.destroy());

  it('passes lintian: no errors, no warnings (the overrides it ships are justified in packaging/debian/lintian-overrides)', () => {
    const r = sh('lintian', ['--fail-on', 'error,warning', DEB], { allowFail: true });
    expect(r.stdout.split('\n').filter((l) => /^[EW]: /.test(l))).toEqual([]);
    expect(r.status).toBe(0);
    // The control data the tests below rely on.
    expect(sh('dpkg-deb', ['-f', DEB, 'Package', 'Version', 'Architecture']).stdout).toBe(
      `Package: ferry\nVersion: ${VERSION}\nArchitecture: amd64\n`,
    );
  });

  it('installs with dpkg -i on a root that has no Node.js, and ferry version / config check work', () => {
    root = freshRoot('amd64', 'deb');
    expect(root.run(['sh', '-c', 'command -v node nodejs'], { allowFail: true }).status).not.toBe(
      0,
    );
    root.run(['dpkg', '-i', root.put(DEB, '/tmp/ferry.deb')]);
    expect(root.run(['dpkg-query', '-W', '-f=${Status} ${Version}', 'ferry']).stdout).toBe(
      `install ok installed ${VERSION}`,
    );
    expect(root.run(['ferry', 'version']).stdout).toContain(VERSION);
    const check = root.run(['ferry', 'config', 'check', '--config', '/etc/ferry/ferry.yaml']);
    expect(check.stdout).toMatch(/^config OK: \/etc\/ferry\/ferry\.yaml/);
    // The maintainer scripts' work: a system user owning the state directory, the unit
    // enabled for the next boot, nothing started (no systemd in a chroot).
    expect(root.run(['getent', 'passwd', 'ferry']).stdout).toMatch(
      /^ferry:x:\d+:\d+:.*:\/var\/lib\/ferry:\/usr\/sbin\/nologin$/m,
    );
    expect(root.run(['stat', '-c', '%U:%G %a', '/var/lib/ferry']).stdout.trim()).toBe(
      'ferry:ferry 750',
    );
    expect(enabledIn(root)).toBe(true);
    expect(root.run(['readlink', `/${WANTS}`]).stdout.trim()).toBe(
      '/lib/systemd/system/ferry.service',
    );
    expect(root.run(['dpkg-query', '-W', '-f=${Conffiles}', 'ferry']).stdout).toContain(
      '/etc/ferry/ferry.yaml',
    );
    expect(readFileSync(join(root.dir, 'etc/ferry/ferry.yaml'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'config/ferry.yaml'), 'utf8'),
    );
  });

  it('runs as the ferry user with the shipped config: POSTed events land in the directory sink', async () => {
    const f = await startFerry(root, [
      '/usr/bin/ferry',
      'run',
      '--config',
      '/etc/ferry/ferry.yaml',
    ]);
    try {
      expect(await postEvents(f.port, 100, 'deb-smoke')).toBe(200);
      expect(await postEvents(f.port, 50, 'deb-smoke-2')).toBe(200);
    } finally {
      expect(await f.stop()).toBe(0);
    }
    const all = envelopesIn(join(root.dir, 'var/lib/ferry/out'));
    const sorted = (tag: string) =>
      all
        .filter((e) => e.payload.tag === tag)
        .map((e) => e.payload.i as number)
        .sort((a, b) => a - b);
    expect(sorted('deb-smoke')).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(sorted('deb-smoke-2')).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(new Set(all.map((e) => e.event_id)).size).toBe(150);
    // Written by the service user, not root.
    const key = files(join(root.dir, 'var/lib/ferry/out'))[0];
    expect(root.run(['stat', '-c', '%U', join('/var/lib/ferry/out', key)]).stdout.trim()).toBe(
      'ferry',
    );
    // The sd_notify addon built for this arch loads in the bundled runtime (NotifyAccess=main needs it).
    const addon = root.run([
      '/usr/lib/ferry/node/bin/node',
      '-e',
      "const a = require('/usr/lib/ferry/app/native/build/Release/sd_notify.node'); console.log(typeof a.send, typeof a.monotonicUsec(), process.version)",
    ]);
    expect(addon.stdout.trim()).toMatch(/^function (number|bigint) v24\./);
  });

  it('systemd-analyze verify passes on the installed unit (its ExecStart is the installed launcher)', () => {
    const r = root.run(['systemd-analyze', 'verify', '/lib/systemd/system/ferry.service'], {
      allowFail: true,
    });
    expect(r.stdout + r.stderr).toBe('');
    expect(r.status).toBe(0);
    // …and is a real check here: with the launcher gone it complains.
    root.run(['mv', '/usr/bin/ferry', '/usr/bin/ferry.away']);
    const broken = root.run(['systemd-analyze', 'verify', '/lib/systemd/system/ferry.service'], {
      allowFail: true,
    });
    root.run(['mv', '/usr/bin/ferry.away', '/usr/bin/ferry']);
    expect(broken.stderr).toMatch(/\/usr\/bin\/ferry/);
  });

  it('upgrade from an older version keeps an edited conffile and a non-empty DLQ', async () => {
    root.destroy();
    root = freshRoot('amd64', 'deb-upgrade');
    root.run(['dpkg', '-i', root.put(OLD_DEB, '/tmp/ferry-old.deb')]);
    expect(root.run(['ferry', 'version']).stdout).toContain(OLD);
    // The admin adds a sink that is down: its batches go to the DLQ and stay there.
    const edited = readFileSync(join(root.dir, 'etc/ferry/ferry.yaml'), 'utf8')
      .replace(
        'sinks: []',
        [
          '# edited by the admin',
          'sinks:',
          '  - name: warehouse',
          '    type: clickhouse',
          '    url: http://127.0.0.1:9',
          '    database: ferry',
          '    table: events',
        ].join('\n'),
      )
      .replace('max_elapsed_ms: 60000', 'max_elapsed_ms: 300')
      .replace('max_age_ms: 1000', 'max_age_ms: 100');
    writeFileSync(join(root.dir, 'etc/ferry/ferry.yaml'), edited);
    root.run(['ferry', 'config', 'check', '--config', '/etc/ferry/ferry.yaml']);
    const f = await startFerry(
      root,
      ['/usr/bin/ferry', 'run', '--config', '/etc/ferry/ferry.yaml'],
      { waitFor: '/healthz' },
    );
    try {
      expect(await postEvents(f.port, 200, 'dlq')).toBe(200);
    } finally {
      expect(await f.stop()).toBe(0);
    }
    const dlq = join(root.dir, 'var/lib/ferry/dlq/warehouse');
    const segs = files(dlq).filter((n) => /^seg-.*\.fdq$/.test(n));
    expect(segs.length).toBeGreaterThan(0);
    const before = new Map(segs.map((s) => [s, sha(join(dlq, s))]));

    root.run(['dpkg', '-i', root.put(DEB, '/tmp/ferry.deb')]);
    expect(root.run(['ferry', 'version']).stdout).toContain(VERSION);
    expect(readFileSync(join(root.dir, 'etc/ferry/ferry.yaml'), 'utf8')).toBe(edited);
    expect(existsSync(join(root.dir, 'etc/ferry/ferry.yaml.dpkg-dist'))).toBe(false);
    for (const [s, h] of before) expect(sha(join(dlq, s)), s).toBe(h);
    // The new version reads the old DLQ: all 200 events still wait for the warehouse.
    const ls = root.run(['ferry', 'dlq', 'ls', '--json', '--config', '/etc/ferry/ferry.yaml'], {
      user: 'ferry',
    });
    const rows = JSON.parse(ls.stdout) as { sink: string; events: number; files: number }[];
    expect(rows.find((r) => r.sink === 'warehouse')).toMatchObject({
      events: 200,
      files: segs.length,
    });
  });

  it('remove keeps config and state; purge deletes them', () => {
    root.run(['dpkg', '-r', 'ferry']);
    expect(existsSync(join(root.dir, 'usr/bin/ferry'))).toBe(false);
    expect(existsSync(join(root.dir, 'usr/lib/ferry'))).toBe(false);
    expect(existsSync(join(root.dir, 'etc/ferry/ferry.yaml'))).toBe(true);
    expect(
      files(join(root.dir, 'var/lib/ferry/dlq/warehouse')).some((n) => n.endsWith('.fdq')),
    ).toBe(true);
    expect(root.run(['dpkg-query', '-W', '-f=${Status}', 'ferry']).stdout).toBe(
      'deinstall ok config-files',
    );

    root.run(['dpkg', '-P', 'ferry']);
    expect(existsSync(join(root.dir, 'etc/ferry'))).toBe(false);
    expect(existsSync(join(root.dir, 'var/lib/ferry'))).toBe(false);
    expect(enabledIn(root)).toBe(false);
    expect(root.run(['dpkg-query', '-W', 'ferry'], { allowFail: true }).status).not.toBe(0);
  });
});
