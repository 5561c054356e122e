import process from 'node:process';
import { parseArgs } from 'node:util';
import { REPLAY_USAGE } from './usage.js';
import { loadConfig } from '../config/load.js';
import { createLogger } from '../observe/log.js';
import { replay, type ReplayReport } from '../replay/replay.js';
import { verify } from '../replay/verify.js';
import { createProgress } from '../replay/progress.js';
import { createReplayMetrics, serveMetrics } from '../replay/metrics.js';
import { errorMessage } from '../util/errors.js';

const GiB = 1024 ** 3;

const OPTIONS = {
  config: { type: 'string', short: 'c' },
  from: { type: 'string' },
  to: { type: 'string' },
  against: { type: 'string' },
  since: { type: 'string' },
  until: { type: 'string' },
  'dry-run': { type: 'boolean', default: false },
  yes: { type: 'boolean', default: false },
  resume: { type: 'boolean', default: false },
  'max-events-per-sec': { type: 'string', default: '50000' },
  'confirm-above-bytes': { type: 'string', default: String(GiB) },
  's3-sink': { type: 'string' },
  'clickhouse-sink': { type: 'string' },
  'metrics-port': { type: 'string' },
} as const;

function parseReplayArgs(argv: string[]) {
  return parseArgs({ args: argv, options: OPTIONS }).values;
}

/** `ferry replay` and `ferry verify`. Exit codes: 0 ok, 1 failed or differing, 2 usage, 3 needs --yes, 130 interrupted. */
export async function replayCommand(cmd: 'replay' | 'verify', argv: string[]): Promise<number> {
  let values: ReturnType<typeof parseReplayArgs>;
  try {
    values = parseReplayArgs(argv);
  } catch (err) {
    process.stderr.write(`ferry ${cmd}: ${errorMessage(err)}\n\n${REPLAY_USAGE}`);
    return 2;
  }
  if (!values.from) {
    process.stderr.write(`ferry ${cmd}: --from s3://BUCKET/PREFIX is required\n\n${REPLAY_USAGE}`);
    return 2;
  }
  const rate = Number(values['max-events-per-sec']);
  if (!(rate > 0)) {
    process.stderr.write(`ferry ${cmd}: --max-events-per-sec must be a positive number\n`);
    return 2;
  }
  const { config } = loadConfig(values.config);
  // Logs to stderr: stdout carries the report (and JSON progress lines off a terminal).
  const log = createLogger(config.log.level, process.stderr);
  const metrics = createReplayMetrics();
  const server = values['metrics-port']
    ? await serveMetrics(metrics, Number(values['metrics-port']))
    : undefined;
  const ac = new AbortController();
  const onInt = () => {
    if (ac.signal.aborted) process.exit(130);
    log.warn(
      'interrupted: stopping after the last finished object; the checkpoint keeps it (again to exit at once)',
    );
    ac.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onInt);
  try {
    if (cmd === 'verify') {
      const r = await verify(
        config,
        {
          from: values.from,
          against: values.against,
          since: values.since,
          until: values.until,
          s3Sink: values['s3-sink'],
          clickhouseSink: values['clickhouse-sink'],
        },
        log,
        metrics,
        ac.signal,
      );
      process.stdout.write(
        JSON.stringify({
          msg: r.differing.length ? 'verify: hours differ' : 'verify: archive and table agree',
          ...r,
        }) + '\n',
      );
      for (const d of r.differing)
        process.stderr.write(`differs: ${d.hour}  archive ${d.archive}  table ${d.table}\n`);
      return r.differing.length ? 1 : 0;
    }
    const report: ReplayReport = await replay(
      config,
      {
        from: values.from,
        to: values.to,
        since: values.since,
        until: values.until,
        dryRun: values['dry-run'],
        yes: values.yes,
        resume: values.resume,
        maxEventsPerSec: rate,
        confirmAboveBytes: Number(values['confirm-above-bytes']),
        s3Sink: values['s3-sink'],
        clickhouseSink: values['clickhouse-sink'],
      },
      log,
      createProgress(),
      metrics,
      ac.signal,
    );
    process.stdout.write(JSON.stringify({ msg: `replay: ${report.outcome}`, ...report }) + '\n');
    if (report.outcome === 'needs-confirmation') {
      process.stderr.write(
        `ferry replay: ${report.objects} objects, ${report.bytes} bytes — above --confirm-above-bytes; check with --dry-run, then add --yes\n`,
      );
      return 3;
    }
    if (report.outcome === 'interrupted') return 130;
    return 0;
  } catch (err) {
    log.error({ err: errorMessage(err) }, `${cmd} failed`);
    process.stderr.write(`ferry ${cmd}: ${errorMessage(err)}\n`);
    return 1;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onInt);
    server?.close();
  }
}
