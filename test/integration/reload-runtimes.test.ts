import { describe, it, expect, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFerryProcess, type FerryProc, type Runtime } from '../helpers/ferry-proc.js';
import { rewriteConfig, reloadAndWait } from '../helpers/reload.js';

const procs: FerryProc[] = [];
afterAll(() => {
  for (const f of procs) f.kill('SIGKILL');
});

/** SIGHUP reaches ferry on every runtime (Bun and Deno map process.on('SIGHUP') differently from Node). */
describe.each<Runtime>(['bun', 'deno'])('SIGHUP on %s', (runtime) => {
  it('reloads the config', async () => {
    const cfg = (n: number) => ({
      batch: { max_events: n, codec: 'gzip' },
      sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
    });
    const f = await startFerryProcess(cfg(100), { runtime });
    procs.push(f);
    rewriteConfig(f, cfg(50));
    const outcome = await reloadAndWait(f);
    expect(outcome.msg).toBe('config reloaded');
    expect(outcome.applied).toEqual(['batch.max_events']);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);

  it('reports a renewed certificate as needing a restart (this runtime cannot swap it live)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-tls-'));
    const make = (name: string) => {
      execFileSync(
        'openssl',
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:prime256v1',
          '-nodes',
          '-days',
          '2',
          '-subj',
          `/CN=${name}`,
          '-addext',
          'subjectAltName=IP:127.0.0.1',
          '-keyout',
          join(dir, `${name}.key`),
          '-out',
          join(dir, `${name}.crt`),
        ],
        { stdio: 'ignore' },
      );
    };
    make('a');
    make('b');
    const tls = { cert: join(dir, 'a.crt'), key: join(dir, 'a.key') };
    const f = await startFerryProcess(
      {
        listen: { host: '127.0.0.1', port: 0, tls },
        sinks: [{ name: 'local', type: 'directory', path: '${STATE_DIR}/out' }],
      },
      { runtime },
    );
    procs.push(f);
    copyFileSync(join(dir, 'b.crt'), tls.cert);
    copyFileSync(join(dir, 'b.key'), tls.key);
    const outcome = await reloadAndWait(f);
    expect(outcome.msg).toBe('config reloaded: no live changes');
    expect(
      (outcome.restart_required as string[]).some((k) =>
        k.startsWith('listen.tls (certificate files changed'),
      ),
    ).toBe(true);
    f.kill('SIGTERM');
    expect(await f.exited).toBe(0);
  }, 60000);
});
