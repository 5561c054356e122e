import { logLevel, type logCreator } from 'kafkajs';
import type { Logger } from '../../observe/log.js';

/** kafkajs's own log lines through ferry's pino logger (warn and up; its info is chatty). */
export function kafkaLogCreator(log: Logger): logCreator {
  return () =>
    ({ level, label, log: entry }) => {
      const { message, ...rest } = entry;
      const fields = { kafkajs: label, ...rest };
      if (level === logLevel.ERROR) log.error(fields, `kafkajs: ${message}`);
      else if (level === logLevel.WARN) log.warn(fields, `kafkajs: ${message}`);
      else log.debug(fields, `kafkajs: ${message}`);
    };
}

export const KAFKA_LOG_LEVEL = logLevel.WARN;
