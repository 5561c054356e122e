// What the packaged launcher (packaging/files/ferry) adds for the memory where ferry runs:
// dist/src/config/node-flags.js run inside the same cgroup prints Node flags (--…) and
// environment words (NAME=value); the benches apply both as the launcher does.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

/**
 * @param {string} root the ferry checkout (built)
 * @param {(argv: string[]) => string[]} wrap puts a command into the cgroup ferry will run in
 * @returns {{ flags: string[], env: Record<string, string> }}
 */
export function launcherPlan(root, wrap) {
  const a = wrap([process.execPath, join(root, 'dist/src/config/node-flags.js')]);
  const words = execFileSync(a[0], a.slice(1), { encoding: 'utf8' }).trim().split(/\s+/);
  /** @type {Record<string, string>} */
  const env = {};
  const flags = [];
  for (const w of words.filter(Boolean)) {
    if (w.startsWith('--')) flags.push(w);
    else if (w.includes('=')) env[w.slice(0, w.indexOf('='))] = w.slice(w.indexOf('=') + 1);
  }
  return { flags, env };
}
