import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { rig } from '../setup/rig.js';

/**
 * Producers nobody here wrote: kcat (librdkafka, from Debian: scripts/setup-test-deps.sh) and
 * the Java console producer from the rig's Kafka jars. Each reads "key:value" lines on stdin.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
const RIG = process.env.FERRY_RIG_DIR ?? join(ROOT, '.rig');
export const KAFKA_LIBS = join(RIG, 'kafka', 'libs');
/** The rig broker's log directory: <topic>-<partition>/<segment>.log */
export const KAFKA_DATA = join(RIG, 'kafka', 'data');

export type KafkaCodec = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

function run(cmd: string, args: string[], input: string, timeoutMs = 60_000): Promise<void> {
  return new Promise((res, rej) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', rej);
    p.on('exit', (code, sig) => {
      clearTimeout(t);
      if (code === 0) res();
      else rej(new Error(`${cmd} exited ${code ?? sig}: ${err.slice(-2000)}`));
    });
    p.stdin.end(input);
  });
}

/** kcat -P: lines "key:value" into topic, compressed with codec, in batches of many records. */
export function kcatProduce(
  topic: string,
  lines: string[],
  codec: KafkaCodec,
  extra: string[] = [],
  broker: string = rig.kafka.brokers[0],
): Promise<void> {
  return run(
    'kcat',
    ['-P', '-b', broker, '-t', topic, '-K', ':', '-z', codec, '-X', 'linger.ms=50', ...extra],
    `${lines.join('\n')}\n`,
  );
}

/** Java client properties for the rig's SASL_SSL listener with a SCRAM mechanism. */
export function javaSasl(mechanism: 'SCRAM-SHA-256' | 'SCRAM-SHA-512'): string[] {
  const { username, password } = rig.kafka.sasl;
  return [
    'security.protocol=SASL_SSL',
    `sasl.mechanism=${mechanism}`,
    `sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="${username}" password="${password}";`,
    'ssl.truststore.type=PEM',
    `ssl.truststore.location=${join(rig.kafka.tlsDir, 'ca.pem')}`,
  ].flatMap((p) => ['--producer-property', p]);
}

/** Apache Kafka's own ConsoleProducer (the Java client) with compression.type codec. */
export function javaConsoleProduce(
  topic: string,
  lines: string[],
  codec: KafkaCodec,
  extra: string[] = [],
  broker: string = rig.kafka.brokers[0],
): Promise<void> {
  if (!existsSync(KAFKA_LIBS))
    throw new Error(`no Kafka jars in ${KAFKA_LIBS} (the rig installs them)`);
  return run(
    'java',
    [
      '-Xmx256m',
      '-cp',
      `${KAFKA_LIBS}/*`,
      'kafka.tools.ConsoleProducer',
      '--bootstrap-server',
      broker,
      '--topic',
      topic,
      ...extra,
      '--producer-property',
      `compression.type=${codec}`,
      '--producer-property',
      'linger.ms=50',
      '--property',
      'parse.key=true',
      '--property',
      'key.separator=:',
    ],
    `${lines.join('\n')}\n`,
    120_000,
  );
}

/** kcat options for the rig's SASL_SSL listener with mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512). */
export function kcatSasl(mechanism: string): string[] {
  return [
    '-X',
    'security.protocol=SASL_SSL',
    '-X',
    `sasl.mechanisms=${mechanism}`,
    '-X',
    `sasl.username=${rig.kafka.sasl.username}`,
    '-X',
    `sasl.password=${rig.kafka.sasl.password}`,
    '-X',
    `ssl.ca.location=${join(rig.kafka.tlsDir, 'ca.pem')}`,
  ];
}
