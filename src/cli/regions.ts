import type { Command } from 'commander';
import type { CommandContext } from './context.ts';
import { collect, parseFormat } from './options.ts';
import { safeJson } from './safe-json.ts';
import { renderTable } from './table.ts';

/** `regions [--account NAME]…`: the regions each account can see (ListRegions). */
export function registerRegionsCommand(program: Command, context: CommandContext): void {
  program
    .command('regions')
    .description('list the regions each configured account can see (SWAS ListRegions)')
    .option('--account <name>', 'only this account (repeatable)', collect, [])
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { account: string[]; format: string }) => {
      const format = parseFormat(options.format, ['table', 'json']);
      const config = await context.loadConfig();
      const { requireCredentials } = await import('../config/load-config.ts');
      const accounts = requireCredentials(config, options.account);
      const app = await context.createApp(config);
      try {
        const rows: {
          account: string;
          regionId: string;
          localName: string | null;
          endpoint: string | null;
        }[] = [];
        for (const account of accounts) {
          for (const region of await app.swasClient(account).listRegions()) {
            rows.push({ account: account.name, ...region });
          }
        }
        context.out(
          format === 'json'
            ? safeJson(rows)
            : renderTable(
                ['ACCOUNT', 'REGION', 'NAME', 'ENDPOINT'],
                rows.map((r) => [r.account, r.regionId, r.localName, r.endpoint]),
              ),
        );
      } finally {
        await app.close();
      }
    });
}
