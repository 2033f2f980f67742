import { setFlagsFromString } from 'node:v8';
import type { App } from '../app.ts';
import { readConfigFile, readEnvironment } from '../config/environment.ts';
import type { Config, Environment } from '../config/load-config.ts';
import type { Logger } from '../observability/logger.ts';

/**
 * What every command gets: configuration (env < flags), the root logger and the composition root.
 * Commands print to `out`/`err` only; logs go to stderr as JSON lines (pretty on a TTY).
 */
export interface CommandContext {
  /**
   * The configuration. Its parser (valibot) and the logger (pino) are loaded by the first call, so
   * that `--help` and usage errors load neither.
   */
  loadConfig(flagOverrides?: Environment): Promise<Config>;
  /** The root logger, for a configuration {@link CommandContext.loadConfig} returned. */
  logger(config: Config): Logger;
  /** The composition root, loaded on first use so `--help` stays fast. */
  createApp(config: Config): Promise<App>;
  out(text: string): void;
  err(text: string): void;
  /** True when stdout is a terminal (progress lines, colours). */
  isTty: boolean;
}

/**
 * The heap settings of a process that reads pages and drops them, set once the composition root is
 * loaded rather than as node flags: any V8 flag on the command line changes the hash V8 checks
 * code caches against, so Node's built-in modules would compile from source instead of from its
 * embedded cache (~40 ms of every start-up).
 *
 * - No allocation-site pretenuring. V8 samples where the objects that survive a young collection
 *   were allocated and, for a site whose objects mostly survive, allocates straight in the old
 *   generation from then on. During a listing it came to do that for parsed items and their
 *   states (the sampling heap profiler found ~89 MB and ~31 MB of them in the old generation after
 *   a 100,000-image no-op), so pages became old-generation garbage: ~125 MB promoted and 12 full
 *   collections with pretenuring, ~55 MB and 8 without (measured with --trace-gc-nvp).
 * - The heap grows by 60% of what is live before the next full collection (V8 allows up to 4×):
 *   a 100,000-image no-op stays near 190 MB; at 100% and 150% it took two and four fewer full
 *   collections (of 8) for 15 and 35 MB more, no faster beyond the machine's noise.
 */
export function tuneHeap(): void {
  setFlagsFromString('--no-allocation-site-pretenuring');
  setFlagsFromString('--heap-growing-percent=60');
}

export function createCommandContext(): CommandContext {
  let modules:
    | Promise<[typeof import('../config/load-config.ts'), typeof import('../observability/logger.ts')]>
    | undefined;
  let createLogger: typeof import('../observability/logger.ts').createLogger | undefined;
  const loggers = new Map<string, Logger>();
  const loggerFor = (config: Config) => {
    if (!createLogger) throw new Error('the logger is available once a configuration was loaded');
    let logger = loggers.get(config.log.level);
    if (!logger) {
      logger = createLogger({ level: config.log.level });
      loggers.set(config.log.level, logger);
    }
    return logger;
  };
  return {
    loadConfig: async (flagOverrides = {}) => {
      modules ??= Promise.all([import('../config/load-config.ts'), import('../observability/logger.ts')]);
      const [{ loadConfig }, logging] = await modules;
      createLogger = logging.createLogger;
      return loadConfig(readEnvironment(flagOverrides), { readFile: readConfigFile });
    },
    logger: loggerFor,
    createApp: async (config) => {
      const { createApp } = await import('../app.ts');
      tuneHeap();
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
