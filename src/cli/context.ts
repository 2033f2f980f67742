import type { App } from '../app.ts';
import { readConfigFile, readEnvironment } from '../config/environment.ts';
import { type Config, type Environment, loadConfig } from '../config/load-config.ts';
import { createLogger, type Logger } from '../observability/logger.ts';

/**
 * What every command gets: configuration (env < flags), the root logger and the composition root.
 * Commands print to `out`/`err` only; logs go to stderr as JSON lines (pretty on a TTY).
 */
export interface CommandContext {
  loadConfig(flagOverrides?: Environment): Config;
  logger(config: Config): Logger;
  /** The composition root, loaded on first use so `--help` stays fast. */
  createApp(config: Config): Promise<App>;
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal (progress lines, colours). */
  isTty: boolean;
}

export function createCommandContext(): CommandContext {
  const loggers = new Map<string, Logger>();
  const loggerFor = (config: Config) => {
    let logger = loggers.get(config.log.level);
    if (!logger) {
      logger = createLogger({ level: config.log.level });
      loggers.set(config.log.level, logger);
    }
    return logger;
  };
  return {
    loadConfig: (flagOverrides = {}) =>
      loadConfig(readEnvironment(flagOverrides), { readFile: readConfigFile }),
    logger: loggerFor,
    createApp: async (config) => {
      const { createApp } = await import('../app.ts');
      return createApp(config, { logger: loggerFor(config) });
    },
    out: (text) => {
      process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    err: (text) => {
      process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
    },
    isTty: process.stdout.isTTY === true,
  };
}
