import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const RIG = resolve(import.meta.dirname, '..', '..', 'scripts', 'rig');

/** Endpoints of the servers scripts/rig starts on loopback (ports in scripts/rig/common.sh). */
export const rig = {
  clickhouse: { url: 'http://127.0.0.1:18123' },
  s3: { endpoint: 'http://127.0.0.1:19000', accessKeyId: 'ferry', secretAccessKey: 'ferrysecret123', bucket: 'ferry-test', region: 'us-east-1' },
  kafka: { brokers: ['127.0.0.1:19092'] },
} as const;

export type Service = 'clickhouse' | 'minio' | 'kafka';

/** Stop a real server (SIGTERM, then SIGKILL after 10 s) to simulate an outage. */
export async function stopService(name: Service): Promise<void> {
  await run('bash', [resolve(RIG, `${name}.sh`), 'stop'], { timeout: 60000 });
}

/** Start it again and wait until it answers. */
export async function startService(name: Service): Promise<void> {
  await run('bash', [resolve(RIG, `${name}.sh`), 'start'], { timeout: 180000 });
}
