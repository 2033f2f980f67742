import type { Command } from 'commander';
import { AppError } from '../shared/app-error.ts';
import type { CommandContext } from './context.ts';
import { parseFormat, parseInteger } from './options.ts';

const commands = () => import('./webhook-commands.ts');

/** `deliveries [--failed]` and `deliveries redrive ID…`: the delivery log. */
export function registerDeliveriesCommand(program: Command, context: CommandContext): void {
  const deliveries = program
    .command('deliveries')
    .description('the webhook delivery log, newest first; `deliveries redrive ID…` re-queues dead ones')
    .option('--failed', 'only dead deliveries and pending ones whose last attempt failed')
    .option('--limit <n>', 'at most this many rows', '100')
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { failed?: boolean; limit: string; format: string }) => {
      const format = parseFormat(options.format, ['table', 'json']);
      const limit = parseInteger('--limit', options.limit, 1, 100_000);
      process.exitCode = await (await commands()).deliveriesList(context, {
        failed: options.failed === true,
        limit,
        format,
      });
    });

  deliveries
    .command('redrive <ids...>')
    .description('make dead deliveries pending again with a fresh retry schedule, then deliver them')
    .option('--no-deliver', 'only re-queue them (the worker or the next sync --once delivers them)')
    .action(async (ids: string[], options: { deliver: boolean }) => {
      const numbers = ids.map((id) => {
        // Ids are bigint serials; past 2^53 a number would no longer be the id typed.
        if (!/^\d+$/.test(id) || !Number.isSafeInteger(Number(id)))
          throw new AppError('cli.usage', `not a delivery id: "${id}"`);
        return Number(id);
      });
      process.exitCode = await (await commands()).deliveriesRedrive(context, numbers, options.deliver);
    });
}
