import type { Command } from 'commander';
import type { CommandContext } from './context.ts';

/** `migrate`: creates the database when missing and applies pending migrations (replica-safe). */
export function registerMigrateCommand(program: Command, context: CommandContext): void {
  program
    .command('migrate')
    .description(
      'create the database if it does not exist and apply pending migrations (safe to run concurrently)',
    )
    .action(async () => {
      const config = await context.loadConfig();
      const logger = context.logger(config).child({ component: 'migrate' });
      const { migrateDatabase } = await import('../db/migrate.ts');
      const result = await migrateDatabase({ databaseUrl: config.databaseUrl, logger });
      context.out(`database is current: ${result.applied} migration(s) applied now, ${result.total} in all`);
    });
}
