import type { Command } from 'commander';
import type { CommandContext } from './context.ts';

/**
 * `worker`: the long-running process. Upserts the job schedulers, syncs the regions that
 * are due at start-up and then on SYNC_SCHEDULE, runs watch polls every SYNC_WATCH_INTERVAL, and
 * stops gracefully on SIGTERM/SIGINT.
 */
export function registerWorkerCommand(program: Command, context: CommandContext): void {
  program
    .command('worker')
    .description(
      'run the long-running worker: full syncs at start-up and on SYNC_SCHEDULE, watch polls, graceful on SIGTERM/SIGINT (needs Redis)',
    )
    .addHelpText(
      'after',
      `
Configured by the environment (a .env file in the working directory too): DATABASE_URL, REDIS_URL,
SYNC_SCHEDULE, SYNC_TZ, SYNC_WATCH_INTERVAL, SYNC_CONCURRENCY, … (the README's "Configuration"
lists them all). Several replicas may run against one Redis and one PostgreSQL: each region is
synced by one of them at a time. Exit 0 after a graceful stop.`,
    )
    .action(async () => {
      // Loaded on use: BullMQ and the database stack are not needed for --help.
      const { runWorker } = await import('../main.ts');
      process.exitCode = await runWorker(context);
    });
}
