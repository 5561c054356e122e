/**
 * The .deb and the tarball on a clean Debian 12 booted with systemd (systemd-nspawn --boot):
 * what the chroot tests cannot show — the postinst starts the service (Type=notify: active only
 * once ferry sent READY=1, through the bundled addon), it takes events under the unit's
 * sandbox, `systemctl reload` works, an upgrade restarts it onto the new code, an admin's
 * `systemctl disable` survives an upgrade, remove stops it, purge cleans up; install.sh and
 * uninstall.sh do the same for the tarball.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { VERSION, artefact, missingPrerequisite, sh } from './chroot.js';
import { OLD_VERSION as OLD } from './artefacts.js';
import { bootRoot, nspawnMissing, type Booted } from './nspawn.js';
import { envelopesIn } from '../helpers/archive.js';

const why = missingPrerequisite() || nspawnMissing();
if (why && process.env.CI === 'true') throw new Error(`packaging tests cannot run: ${why}`);

const ndjson = (tag: string, n: number) =>
  Array.from({ length: n }, (_, i) => JSON.stringify({ tag, i })).join('\n') + '\n';

/** POSTs to the shipped config's listener inside the container; returns the status code. */
function post(c: Booted, tag: string, n: number): string {
  const r = c.curl([
    '-o',
    '/dev/null',
    '-w',
    '%{http_code}',
    '-XPOST',
    // ack=delivered: the tests count the events in the directory sink right after the answer.
    'http://127.0.0.1:8080/v1/events?ack=delivered',
    '-H',
    'content-type: application/x-ndjson',
    '--data-binary',
    ndjson(tag, n),
  ]);
  return r.stdout.trim();
}

async function until(what: string, ok: () => boolean, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

describe.skipIf(why !== '')('the .deb under a running systemd', () => {
  let c: Booted;
  beforeAll(async () => {
    c = await bootRoot('systemd-deb');
  }, 5 * 60_000);
  afterAll(async () => c?.shutdown());

  it('install starts ferry.service: active only after READY=1 from the addon, STATUS= set, running as ferry', async () => {
    c.run(['dpkg', '-i', c.put(artefact(`ferry_${OLD}_amd64.deb`), '/root/ferry-old.deb')]);
    expect(c.run(['systemctl', 'is-enabled', 'ferry']).stdout.trim()).toBe('enabled');
    await until(
      'ferry active',
      () =>
        c.run(['systemctl', 'is-active', 'ferry'], { allowFail: true }).stdout.trim() === 'active',
    );
    const s = c.show('MainPID', 'User', 'StatusText', 'Type', 'NRestarts');
    expect(s.Type).toBe('notify');
    expect(s.User).toBe('ferry');
    expect(s.StatusText).toMatch(/events total/);
    expect(c.run(['ps', '-o', 'user=', '-p', s.MainPID]).stdout.trim()).toBe('ferry');
    expect(c.run(['journalctl', '-u', 'ferry', '--no-pager', '-o', 'cat']).stdout).toMatch(
      /"backend":"addon"/,
    );
    expect(c.run(['/usr/bin/ferry', 'version']).stdout).toContain(OLD);
  });

  it('takes events under the unit sandbox into /var/lib/ferry/out; systemctl reload keeps the process', () => {
    expect(post(c, 'systemd-1', 60)).toBe('200');
    const pid = c.show('MainPID').MainPID;
    c.run(['systemctl', 'reload', 'ferry']);
    expect(c.run(['systemctl', 'is-active', 'ferry']).stdout.trim()).toBe('active');
    expect(c.show('MainPID').MainPID).toBe(pid);
    expect(c.run(['journalctl', '-u', 'ferry', '--no-pager', '-o', 'cat']).stdout).toMatch(
      /config reload/i,
    );
    const got = envelopesIn(join(c.dir, 'var/lib/ferry/out')).filter(
      (e) => e.payload.tag === 'systemd-1',
    );
    expect(got.length).toBe(60);
  });

  it('upgrade restarts the service onto the new version', async () => {
    const before = c.show('MainPID').MainPID;
    c.run(['dpkg', '-i', c.put(artefact(`ferry_${VERSION}_amd64.deb`), '/root/ferry.deb')]);
    await until(
      'ferry active again',
      () =>
        c.run(['systemctl', 'is-active', 'ferry'], { allowFail: true }).stdout.trim() === 'active',
    );
    const after = c.show('MainPID').MainPID;
    expect(after).not.toBe(before);
    expect(after).not.toBe('0');
    expect(c.run(['/usr/bin/ferry', 'version']).stdout).toContain(VERSION);
    expect(post(c, 'systemd-2', 40)).toBe('200');
    expect(
      envelopesIn(join(c.dir, 'var/lib/ferry/out')).filter((e) => e.payload.tag === 'systemd-2')
        .length,
    ).toBe(40);
  });

  it("an admin's systemctl disable survives a reinstall (enable only on first install)", () => {
    c.run(['systemctl', 'disable', 'ferry']);
    c.run(['dpkg', '-i', '/root/ferry.deb']);
    expect(c.run(['systemctl', 'is-enabled', 'ferry'], { allowFail: true }).stdout.trim()).toBe(
      'disabled',
    );
    c.run(['systemctl', 'enable', 'ferry']);
  });

  it('remove stops the service and keeps config and state; purge deletes them', async () => {
    c.run(['dpkg', '-r', 'ferry']);
    expect(c.run(['systemctl', 'is-active', 'ferry'], { allowFail: true }).stdout.trim()).not.toBe(
      'active',
    );
    expect(c.run(['pgrep', '-u', 'ferry'], { allowFail: true }).status).not.toBe(0);
    expect(existsSync(join(c.dir, 'etc/ferry/ferry.yaml'))).toBe(true);
    expect(envelopesIn(join(c.dir, 'var/lib/ferry/out')).length).toBe(100);
    c.run(['dpkg', '-P', 'ferry']);
    expect(existsSync(join(c.dir, 'etc/ferry'))).toBe(false);
    expect(existsSync(join(c.dir, 'var/lib/ferry'))).toBe(false);
  });
});

describe.skipIf(why !== '')('the tarball under a running systemd', () => {
  let c: Booted;
  const name = `ferry-${VERSION}-linux-x64`;
  beforeAll(async () => {
    c = await bootRoot('systemd-tar');
    sh('tar', ['-xzf', artefact(`${name}.tar.gz`), '-C', join(c.dir, 'root')]);
  }, 5 * 60_000);
  afterAll(async () => c?.shutdown());

  it('install.sh enables and starts the unit from the prefix; it takes events', async () => {
    const r = c.run([`/root/${name}/install.sh`, '--prefix', '/opt/ferry']);
    expect(r.stdout).toContain('ferry.service enabled and (re)started');
    await until(
      'ferry active',
      () =>
        c.run(['systemctl', 'is-active', 'ferry'], { allowFail: true }).stdout.trim() === 'active',
    );
    expect(c.show('ExecMainStartTimestampMonotonic').ExecMainStartTimestampMonotonic).not.toBe('0');
    expect(c.run(['cat', '/proc/' + c.show('MainPID').MainPID + '/cmdline']).stdout).toContain(
      '/opt/ferry/lib/ferry/node/bin/node',
    );
    expect(post(c, 'systemd-tar', 30)).toBe('200');
    expect(envelopesIn(join(c.dir, 'var/lib/ferry/out')).length).toBe(30);
  });

  it('uninstall.sh stops and removes the unit, keeps config and state', () => {
    c.run(['/opt/ferry/uninstall.sh']);
    expect(c.run(['systemctl', 'is-active', 'ferry'], { allowFail: true }).stdout.trim()).not.toBe(
      'active',
    );
    expect(existsSync(join(c.dir, 'etc/systemd/system/ferry.service'))).toBe(false);
    expect(readFileSync(join(c.dir, 'etc/ferry/ferry.yaml'), 'utf8')).toContain(
      'state_dir: /var/lib/ferry',
    );
    expect(existsSync(join(c.dir, 'var/lib/ferry/out'))).toBe(true);
  });
});
