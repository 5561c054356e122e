#!/usr/bin/env node
import process from 'node:process';
import { parseArgs } from 'node:util';
import { loadConfig, ConfigError, DEFAULT_CONFIG_PATH } from './config/load.js';
import { createLogger } from './observe/log.js';
import { ferryVersion } from './cli/version.js';
import { runCommand } from './cli/run.js';
import { tokenCommand } from './cli/token.js';
import { REPLAY_USAGE, DLQ_USAGE, kafkaSummary } from './cli/usage.js';
import { appliedMemoryPlan, describeMemoryPlan } from './config/memory.js';

const USAGE = `ferry ${ferryVersion()} — edge-to-core ingest

usage:
  ferry run [--config FILE]             run the ingest service (SIGTERM/SIGINT: graceful stop)
  ferry config check [--config FILE]    validate the config and exit (0 ok, 1 invalid)
  ferry config schema                   print the config JSON schema
  ferry migrate [--config FILE] [--sink NAME]
                                        apply ClickHouse schema migrations (glob-ordered *.sql)
  ferry token new [--name NAME] [--source SOURCE] [--routes ingest,metrics] [--rate N]
                                        print a new bearer token, its sha256 and the auth: YAML
  ferry kafka init [--config FILE]      create kafka.topics and their DLQ topics (partitions and
                                        replication from kafka.init)
${REPLAY_USAGE}${DLQ_USAGE}  ferry version                         print the version

The config defaults to ${DEFAULT_CONFIG_PATH} (or $FERRY_CONFIG); without one ferry runs
on its embedded default: a directory sink under <state_dir>/out.
Any key can be overridden from the environment: FERRY_BATCH__MAX_EVENTS=3000,
FERRY_SINKS__<NAME>__PASSWORD=..., FERRY_STATE_DIR=./data.
`;

async function main(argv: string[]): Promise<number> {
  // replay and verify parse their own flags.
  // Commands load their modules on demand: `ferry run` need not carry the S3 client replay uses.
  if (argv[0] === 'replay' || argv[0] === 'verify')
    return (await import('./cli/replay.js')).replayCommand(argv[0], argv.slice(1));
  if (argv[0] === 'dlq') return (await import('./cli/dlq.js')).dlqCommand(argv.slice(1));
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      sink: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      name: { type: 'string' },
      source: { type: 'string' },
      routes: { type: 'string' },
      rate: { type: 'string' },
    },
  });
  const [cmd, sub] = positionals;
  if (values.help || !cmd || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd || values.help ? 0 : 2;
  }
  switch (cmd) {
    case 'version':
      process.stdout.write(`ferry ${ferryVersion()}\n`);
      return 0;
    case 'run':
      return runCommand(values.config);
    case 'migrate':
      return (await import('./cli/migrate.js')).migrateCommand(values.config, values.sink);
    case 'token':
      return tokenCommand(sub, values);
    case 'kafka':
      return (await import('./cli/kafka.js')).kafkaCommand(sub, values.config);
    case 'config':
      if (sub === 'check') return configCheck(values.config);
      if (sub === 'schema') {
        const { configSchemaJson } = await import('./config/schema-json.js');
        process.stdout.write(configSchemaJson());
        return 0;
      }
      break;
  }
  process.stderr.write(`ferry: unknown command "${positionals.join(' ')}"\n\n${USAGE}`);
  return 2;
}

function configCheck(path: string | undefined): number {
  try {
    const { config, source } = loadConfig(path);
    const sinks = config.sinks.length
      ? config.sinks.map((s) => `${s.name} (${s.type})`).join(', ')
      : `local (directory, embedded default: ${config.state_dir}/out)`;
    process.stdout.write(
      `config OK: ${source}\n  listen ${config.listen.tls ? 'https' : 'http'}://${config.listen.host}:${config.listen.port}${config.listen.path}, auth ${config.auth.enabled ? `on (${config.auth.tokens.length} tokens)` : 'off'}\n  sinks: ${sinks}\n  workers: ${config.workers.threads}, batch: ${config.batch.max_events} events / ${config.batch.max_age_ms} ms, codec ${config.batch.codec}\n`,
    );
    if (config.kafka.enabled) process.stdout.write(`  ${kafkaSummary(config.kafka)}\n`);
    const memory = appliedMemoryPlan(config);
    if (memory) process.stdout.write(`  ${describeMemoryPlan(config, memory).join('\n  ')}\n`);
    return 0;
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(err.message + '\n');
      return 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== -1) process.exitCode = code;
  },
  (err) => {
    if (err instanceof ConfigError) process.stderr.write(err.message + '\n');
    else
      createLogger().fatal(
        { err: (err instanceof Error && err.stack) || String(err) },
        'ferry failed',
      );
    process.exit(1);
  },
);
