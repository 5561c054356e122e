// Drive a server with wrk (POSTing a body file) and read its figures.
import { execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';

const LUA = resolve(import.meta.dirname, '..', 'post.lua');

export function requireWrk() {
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (e) {
    if (e instanceof Error && 'code' in e && e.code === 'ENOENT') {
      console.error(
        'bench: wrk is required (apt-get install wrk, or bash scripts/setup-test-deps.sh)',
      );
      process.exit(2);
    }
  }
}

/** @param {string | undefined} s */
const toMs = (s) => {
  if (!s) return NaN;
  const v = parseFloat(s);
  return s.endsWith('us') ? v / 1000 : s.endsWith('ms') ? v : s.endsWith('s') ? v * 1000 : v;
};

/**
 * @typedef {object} WrkOptions
 * @property {string} url
 * @property {number} seconds
 * @property {number} [connections]
 * @property {number} [threads]
 * @property {string} bodyFile
 * @property {string} [contentType] default application/x-ndjson
 * @property {string} [contentEncoding] default none
 * @property {string} [cpus] run wrk under `taskset -c cpus` (e.g. "0": off the core ferry is pinned to)
 */

/**
 * One wrk run: requests, non-2xx, socket errors, p50/p99 latency in ms.
 * @param {WrkOptions} o
 */
export function wrk({
  url,
  seconds,
  connections = 16,
  threads = 2,
  bodyFile,
  contentType,
  contentEncoding,
  cpus,
}) {
  const args = [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--latency', '-s', LUA, url];
  const out = execFileSync(
    cpus === undefined ? 'wrk' : 'taskset',
    cpus === undefined ? args : ['-c', cpus, 'wrk', ...args],
    {
      env: {
        ...process.env,
        BODY_FILE: bodyFile,
        CONTENT_TYPE: contentType ?? 'application/x-ndjson',
        CONTENT_ENCODING: contentEncoding ?? '',
      },
      encoding: 'utf8',
    },
  );
  /** @param {RegExp} re */
  const num = (re) => re.exec(out)?.[1];
  return {
    requests: Number(num(/(\d+) requests in/)),
    non2xx: Number(num(/Non-2xx or 3xx responses: (\d+)/) ?? 0),
    socketErrors: out.match(/Socket errors: (.*)/)?.[1],
    p50: toMs(num(/^\s+50%\s+(\S+)/m)),
    p99: toMs(num(/^\s+99%\s+(\S+)/m)),
    raw: out,
  };
}

export { join };
