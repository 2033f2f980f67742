/**
 * Process entry of the long-running `worker` (also `swas-inventory worker`): loadConfig →
 * createApp → start → trap signals → graceful stop → exit 0. Run directly with
 * `node --import ./bin/compile-cache.mjs src/main.ts`, or through the CLI.
 */

import { type CommandContext, createCommandContext } from './cli/context.ts';
import { describeFailure, EXIT, type ExitCode } from './cli/exit-codes.ts';
import { readEnvironment } from './config/environment.ts';
import { requireCredentials } from './config/load-config.ts';

/** Runs the worker until SIGTERM or SIGINT; resolves with the exit code once everything is closed. */
export async function runWorker(context: CommandContext): Promise<ExitCode> {
  const config = await context.loadConfig();
  requireCredentials(config);
  const logger = context.logger(config).child({ component: 'main' });
  const app = await context.createApp(config);
  const worker = await app.worker();

  let signalled: NodeJS.Signals | undefined;
  let onSignal!: (signal: NodeJS.Signals) => void;
  const stopRequested = new Promise<void>((resolve) => {
    onSignal = (signal) => {
      if (signalled !== undefined) {
        // A second signal: the operator does not want to wait for the graceful stop.
        logger.warn({ signal }, 'second signal: exiting at once');
        process.exit(EXIT.failed);
      }
      signalled = signal;
      resolve();
    };
  });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const starting = worker.start();
    // A start-up still waiting for PostgreSQL ends on a signal too.
    const startedFirst = await Promise.race([starting.then(() => true), stopRequested.then(() => false)]);
    if (!startedFirst) starting.catch(() => undefined);
    await stopRequested;
    logger.info({ signal: signalled }, 'stopping: no new jobs; in-flight syncs may finish');
    await worker.stop();
    logger.info('worker stopped');
    return EXIT.ok;
  } catch (error) {
    await worker.stop();
    throw error;
  } finally {
    await app.close();
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

if (import.meta.main) {
  const context = createCommandContext();
  try {
    process.exitCode = await runWorker(context);
  } catch (error) {
    const debug = /^(debug|trace)$/i.test(readEnvironment().LOG_LEVEL ?? '');
    const { exitCode, message } = describeFailure(error, debug);
    if (message) context.err(message);
    process.exitCode = exitCode;
  }
}
