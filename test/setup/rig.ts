import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';

/**
 * The real servers that scripts/rig starts on loopback (ports also in scripts/rig/common.sh),
 * and helpers to stop and start them in tests that simulate outages.
 */
const SCRIPTS = resolve(import.meta.dirname, '..', '..', 'scripts', 'rig');

/** FERRY_RIG_PORT_OFFSET shifts every port (as in common.sh) for side-by-side checkouts. */
const OFF = Number(process.env.FERRY_RIG_PORT_OFFSET ?? 0) || 0;

export const rig = {
  clickhouse: { url: `http://127.0.0.1:${18123 + OFF}`, tcpPort: 19100 + OFF },
  /** The current ClickHouse engine (chdb-core) behind scripts/rig/chdb_http.py. */
  chdb: { url: `http://127.0.0.1:${18124 + OFF}` },
  s3: {
    endpoint: `http://127.0.0.1:${19000 + OFF}`,
    accessKeyId: 'ferry',
    secretAccessKey: 'ferrysecret123',
    bucket: 'ferry-test',
    region: 'us-east-1',
    forcePathStyle: true,
  },
  kafka: {
    brokers: [`127.0.0.1:${19092 + OFF}`],
    /** SASL_SSL listener (scripts/rig/kafka.sh): PLAIN and SCRAM-SHA-256/512 for this user. */
    saslBrokers: [`127.0.0.1:${19094 + OFF}`],
    sasl: { username: 'ferry', password: 'ferry-sasl-secret' },
    /** ca.pem (verifies the broker), client.pem + client.key (mutual TLS). */
    tlsDir: join(process.env.FERRY_RIG_DIR ?? resolve(SCRIPTS, '..', '..', '.rig'), 'kafka', 'tls'),
  },
} as const;

export type Service = 'clickhouse' | 'chdb' | 'minio' | 'kafka';

/** A ClickHouse server the ClickHouse integration tests run against (describe.each). */
export interface ClickHouseTarget {
  /** Shown in test names. */
  name: string;
  url: string;
  /** The rig service to stop and start in outage tests. */
  service: Service;
}

const ALL_CH_TARGETS: readonly ClickHouseTarget[] = [
  { name: 'clickhouse-18.16', url: rig.clickhouse.url, service: 'clickhouse' },
  { name: 'chdb-current', url: rig.chdb.url, service: 'chdb' },
];

/**
 * Every ClickHouse target; FERRY_TEST_CH_TARGETS (comma-separated services) narrows it for a quick
 * local run, but under CI=true a target left out is an error, never a silent skip.
 */
export const CH_TARGETS: readonly ClickHouseTarget[] = (() => {
  const only = process.env.FERRY_TEST_CH_TARGETS?.split(',').map((s) => s.trim());
  if (!only) return ALL_CH_TARGETS;
  const picked = ALL_CH_TARGETS.filter((t) => only.includes(t.service));
  if (process.env.CI === 'true' && picked.length !== ALL_CH_TARGETS.length)
    throw new Error(
      `FERRY_TEST_CH_TARGETS=${process.env.FERRY_TEST_CH_TARGETS} leaves out a ClickHouse target; under CI every target must run`,
    );
  return picked;
})();

function script(
  name: Service,
  command: 'start' | 'stop' | 'kill' | 'status',
  timeoutMs: number,
): Promise<string> {
  return new Promise((res, rej) => {
    execFile(
      'bash',
      [resolve(SCRIPTS, `${name}.sh`), command],
      { timeout: timeoutMs },
      (err, stdout, stderr) => {
        if (err) {
          const why = err.killed
            ? `timed out after ${timeoutMs} ms`
            : `exit ${err.code ?? err.signal}`;
          rej(new Error(`scripts/rig/${name}.sh ${command} failed (${why}):\n${stderr}${stdout}`));
        } else res(stdout + stderr);
      },
    );
  });
}

/**
 * Stop a server to simulate an outage: SIGTERM, then SIGKILL if it is still up after the
 * script's timeout; resolves once the process is gone and its port is closed.
 * `{ crash: true }` sends SIGKILL straight away instead.
 */
export async function stopService(name: Service, opts: { crash?: boolean } = {}): Promise<void> {
  await script(name, opts.crash ? 'kill' : 'stop', 60_000);
}

/** Start a server again (no-op if it runs) and resolve once it answers. */
export async function startService(name: Service): Promise<void> {
  await script(name, 'start', 180_000);
}

/** True when the server runs and answers its readiness check. */
export async function serviceUp(name: Service): Promise<boolean> {
  return script(name, 'status', 30_000).then(
    () => true,
    () => false,
  );
}
