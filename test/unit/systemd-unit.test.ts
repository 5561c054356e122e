/**
 * systemd/ferry.service: `systemd-analyze verify` passes and the sandbox keeps the
 * `systemd-analyze security` exposure at or below 2.0 (the figure docs/operations.md quotes).
 * Both run offline on the unit file (no running systemd needed); systemd-analyze comes from
 * Debian's systemd package (scripts/setup-test-deps.sh).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { configSchema } from '../../src/config/schema.js';

const ROOT = resolve(import.meta.dirname, '..', '..');
const UNIT = readFileSync(join(ROOT, 'systemd', 'ferry.service'), 'utf8');
let dir = '';

function analyze(...args: string[]) {
  const r = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (r.error)
    throw new Error(
      `systemd-analyze is missing (bash scripts/setup-test-deps.sh): ${r.error.message}`,
    );
  return r;
}

/**
 * The unit as installed names /usr/bin/ferry, which verify rightly insists on. Point it at a
 * real executable in a temp dir instead: a wrapper that runs this checkout's ferry.
 */
function installable(unit: string, name: string): string {
  const bin = join(dir, 'ferry');
  writeFileSync(
    bin,
    `#!/bin/sh\nexec "${process.execPath}" "${join(ROOT, 'dist', 'src', 'cli.js')}" "$@"\n`,
  );
  chmodSync(bin, 0o755);
  const file = join(dir, name);
  writeFileSync(file, unit.replaceAll('/usr/bin/ferry', bin));
  return file;
}

const directive = (key: string) =>
  [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1].trim());
const seconds = (v: string) => Number(/^(\d+)s?$/.exec(v)?.[1] ?? NaN);

describe('systemd/ferry.service', () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-unit-'));
  });

  it('passes systemd-analyze verify', () => {
    const r = analyze('verify', installable(UNIT, 'ferry.service'));
    expect(r.stderr + r.stdout).toBe('');
    expect(r.status).toBe(0);
  });

  it('verify is a real check: a broken unit is reported', () => {
    const broken = UNIT.replace('Type=notify', 'Type=notfy').replace(
      'WatchdogSec=',
      'WatchdogSecs=',
    );
    const r = analyze('verify', installable(broken, 'ferry-broken.service'));
    expect(r.stderr).toMatch(/notfy/);
    expect(r.stderr).toMatch(/WatchdogSecs/);
  });

  it('has an exposure score of at most 2.0, the one docs/operations.md quotes', () => {
    const r = analyze('security', '--offline=true', installable(UNIT, 'ferry.service'));
    const score = Number(
      /Overall exposure level for ferry\.service: (\d+\.\d+)/.exec(r.stdout)?.[1],
    );
    expect(score, r.stdout + r.stderr).toBeLessThanOrEqual(2.0);
    const doc = readFileSync(join(ROOT, 'docs', 'operations.md'), 'utf8');
    expect(doc).toContain(`exposure level ${score.toFixed(1)}`);
  });

  it('is Type=notify with a watchdog, ExecReload → SIGHUP and a stop timeout that covers the drain', () => {
    expect(directive('Type')).toEqual(['notify']);
    expect(directive('NotifyAccess')).toEqual(['main']);
    expect(directive('Restart')).toEqual(['on-failure']);
    expect(seconds(directive('WatchdogSec')[0])).toBeGreaterThan(0);
    expect(directive('ExecReload')).toEqual(['/bin/kill -HUP $MAINPID']);
    const drainS = configSchema.properties.shutdown.properties.drain_timeout_ms.default / 1000;
    expect(seconds(directive('TimeoutStopSec')[0])).toBeGreaterThan(drainS);
    for (const key of [
      'User',
      'StateDirectory',
      'ConfigurationDirectory',
      'LimitNOFILE',
      'NoNewPrivileges',
      'ProtectSystem',
      'ProtectHome',
      'PrivateTmp',
      'PrivateDevices',
      'RestrictAddressFamilies',
      'SystemCallFilter',
    ]) {
      expect(directive(key), key).not.toEqual([]);
    }
    expect(directive('CapabilityBoundingSet')).toEqual(['']);
  });
});
