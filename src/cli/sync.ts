import type { Command } from 'commander';
import { isRegionId } from '../config/region-id.ts';
import { AppError } from '../shared/app-error.ts';
import type { CommandContext } from './context.ts';
import { collect } from './options.ts';

interface SyncOptions {
  once?: boolean;
  account: string[];
  region: string[];
  deliver: boolean;
}

/**
 * `sync --once [--account NAME]… [--region ID]… [--no-deliver]`: one full sync now, without Redis,
 * then a per-region summary; exit 1 when any region failed.
 */
export function registerSyncCommand(program: Command, context: CommandContext): void {
  program
    .command('sync')
    .description('run one full sync of every configured account and region now (no Redis needed)')
    .requiredOption('--once', 'run one sync and exit (the scheduled sync is the `worker` command)')
    .option('--account <name>', 'only this account (repeatable)', collect, [])
    .option(
      '--region <id>',
      "only this region (repeatable; for every account, in place of SWAS_REGIONS and an accounts file's regions)",
      collect,
      [],
    )
    .option('--no-deliver', 'do not deliver pending webhook events afterwards')
    .action(async (options: SyncOptions) => {
      // An empty value (`--region "$REGION"` with REGION unset) must not widen the sync to all regions.
      const bad = options.region.filter((id) => !isRegionId(id));
      if (bad.length > 0) {
        throw new AppError(
          'cli.usage',
          `--region must be a region id such as cn-hangzhou, got ${bad.map((id) => `"${id}"`).join(', ')}`,
        );
      }
      const config = await context.loadConfig(
        options.region.length > 0 ? { SWAS_REGIONS: options.region.join(',') } : {},
      );
      // Loaded on use: the database and HTTP stacks are not needed for --help.
      const { syncOnce } = await import('./sync-once.ts');
      process.exitCode = await syncOnce(context, config, options.account, {
        deliver: options.deliver,
        // Validated as SWAS_REGIONS is; an account's own list must not widen what was asked for.
        regions: options.region.length > 0 ? config.regions : null,
      });
    });
}
