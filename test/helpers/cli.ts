import { execFileSync, spawn } from 'node:child_process';
import { join, resolve } from 'node:path';

const CLI = join(resolve(import.meta.dirname, '..', '..'), 'dist', 'src', 'cli.js');

/** What one run of the built CLI (`dist/src/cli.js`) printed, and how it exited. */
export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A new token from `ferry token new` (its secret and the sha256 the config takes), as an operator makes one. */
export function newToken(name: string, source: string): { token: string; sha256: string } {
  const out = ferryCli(['token', 'new', '--name', name, '--source', source]);
  return {
    token: /^token:\s+(\S+)$/m.exec(out)![1],
    sha256: /^sha256:\s+([0-9a-f]{64})$/m.exec(out)![1],
  };
}

/** Run `ferry <args>` from the build and return its stdout; throws when it exits non-zero. */
export function ferryCli(args: string[], env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, [CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ...env },
  });
}

/**
 * Run `ferry <args>` from the build, whatever its exit code. killAfterMs counts from the first `replay progress` line, so a
 * slow start (a loaded machine) cannot beat the signal handler.
 */
export function runFerryCli(
  args: string[],
  opts: {
    killAfterMs?: number;
    signal?: NodeJS.Signals;
    onSpawn?: (kill: (s: NodeJS.Signals) => void) => void;
  } = {},
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    opts.onSpawn?.((s) => child.kill(s));
    let stdout = '';
    let stderr = '';
    let armed = false;
    child.stdout.on('data', (d) => {
      stdout += d;
      if (opts.killAfterMs && !armed && stdout.includes('"msg":"replay progress"')) {
        armed = true;
        setTimeout(() => child.kill(opts.signal ?? 'SIGINT'), opts.killAfterMs);
      }
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** The last JSON report `ferry replay` or `ferry verify` printed on stdout ({} when none). */
// biome-ignore lint/suspicious/noExplicitAny: a report's shape depends on the command; tests read its fields.
export const cliReport = (r: CliResult): any =>
  JSON.parse(
    r.stdout
      .trim()
      .split('\n')
      .filter((l) => l.startsWith('{"msg":"replay: ') || l.startsWith('{"msg":"verify'))
      .pop() ?? '{}',
  );
