import { pino, type Logger } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear in a log object, so secrets never reach journald. */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'secret_access_key',
  '*.secret_access_key',
  '*.*.secret_access_key',
  'access_key_id',
  '*.access_key_id',
  '*.*.access_key_id',
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * JSON lines to stdout (journald picks them up); one logger per process, children per module.
 * Commands whose stdout is their report (replay, verify) log to stderr instead.
 */
export function createLogger(
  level: string = process.env.FERRY_LOG_LEVEL ?? 'info',
  destination?: NodeJS.WritableStream,
): Logger {
  const options = {
    level,
    base: { service: 'ferry' },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}
