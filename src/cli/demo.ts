import type { Command } from 'commander';
import type { CommandContext } from './context.ts';

/**
 * `demo`: the one command of the README's first screen. Migrates the database, then runs one
 * full sync — against Alibaba Cloud when credentials are configured, otherwise against the
 * built-in simulator started for the duration of the command.
 */
export function registerDemoCommand(program: Command, context: CommandContext): void {
  program
    .command('demo')
    .description(
      'migrate, then one full sync: against Alibaba Cloud when credentials are set, else the built-in simulator',
    )
    .action(async () => {
      const config = await context.loadConfig();
      const logger = context.logger(config).child({ component: 'demo' });
      const [{ migrateDatabase }, { startSimulator }, { syncOnce }] = await Promise.all([
        import('../db/migrate.ts'),
        import('../simulator/index.ts'),
        import('./sync-once.ts'),
      ]);
      await migrateDatabase({ databaseUrl: config.databaseUrl, logger });
      if (config.accounts.every((account) => account.credentials !== null)) {
        process.exitCode = await syncOnce(context, config, []);
        return;
      }
      const simulator = await startSimulator({ port: 0 });
      try {
        context.out(
          `No Alibaba Cloud credentials configured: syncing against the built-in simulator at ${simulator.url}`,
        );
        const simulated = await context.loadConfig({
          SWAS_ENDPOINT: simulator.url,
          ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
          SWAS_ACCOUNTS_FILE: '',
        });
        process.exitCode = await syncOnce(context, simulated, []);
        context.out(
          `The data is in PostgreSQL: try\n  psql ${psqlTarget(config.databaseUrl)} -c "select status, count(*) from custom_images group by 1"`,
        );
      } finally {
        await simulator.close();
      }
    });
}

/** psql connection flags for a database URL, without its password (that stays in the environment). */
function psqlTarget(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  const parts = [`-h ${url.hostname || '127.0.0.1'}`, `-p ${url.port || '5432'}`];
  if (url.username) parts.push(`-U ${decodeURIComponent(url.username)}`);
  parts.push(`-d ${decodeURIComponent(url.pathname.slice(1))}`);
  return parts.join(' ');
}
