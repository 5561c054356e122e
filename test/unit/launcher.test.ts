import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FERRY_NODE_FLAGS } from '../../bench/lib/proc.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const LAUNCHER = join(ROOT, 'packaging', 'files', 'ferry');

describe('packaged launcher (packaging/files/ferry)', () => {
  it('runs Node with the same flags the benches run ferry with', () => {
    const exec = readFileSync(LAUNCHER, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('exec '))!;
    expect(FERRY_NODE_FLAGS.length).toBeGreaterThan(0);
    for (const flag of FERRY_NODE_FLAGS) expect(exec).toContain(` ${flag} `);
  });

  it('starts ferry from a prefix laid out like the tarball (the flags are accepted by this Node)', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'ferry-launcher-'));
    mkdirSync(join(prefix, 'bin'));
    mkdirSync(join(prefix, 'lib', 'ferry', 'node', 'bin'), { recursive: true });
    copyFileSync(LAUNCHER, join(prefix, 'bin', 'ferry'));
    symlinkSync(process.execPath, join(prefix, 'lib', 'ferry', 'node', 'bin', 'node'));
    symlinkSync(ROOT, join(prefix, 'lib', 'ferry', 'app'));
    const out = execFileSync(
      'sh',
      [
        join(prefix, 'bin', 'ferry'),
        'config',
        'check',
        '--config',
        join(ROOT, 'config', 'ferry.yaml'),
      ],
      { encoding: 'utf8' },
    );
    expect(out).toMatch(/ok|valid/i);
  });
});
