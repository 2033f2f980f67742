import { Command } from 'commander';
import { readEnvironment } from '../config/environment.ts';
import { createCommandContext } from './context.ts';
import { registerDeliveriesCommand } from './deliveries.ts';
import { registerDemoCommand } from './demo.ts';
import { describeFailure } from './exit-codes.ts';
import { registerMigrateCommand } from './migrate.ts';
import { registerRegionsCommand } from './regions.ts';
import { registerEventsCommand, registerReportCommand } from './report.ts';
import { registerSimulateCommand } from './simulate.ts';
import { registerSyncCommand } from './sync.ts';
import { registerWebhooksCommand } from './webhooks.ts';
import { registerWorkerCommand } from './worker.ts';

/** Process entry of the `swas-inventory` executable: parse, run one command, exit 0/1/2. */
// `report … | head` closes the pipe before the output ends: the reader's choice, not a failure.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(0);
  throw error;
});
const context = createCommandContext();
const program = new Command('swas-inventory')
  .description(
    'Inventory of Alibaba Cloud SWAS custom images: history in PostgreSQL, change events to webhooks.',
  )
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerDeliveriesCommand(program, context);
registerDemoCommand(program, context);
registerMigrateCommand(program, context);
registerRegionsCommand(program, context);
registerReportCommand(program, context);
registerEventsCommand(program, context);
registerSimulateCommand(program, context);
registerSyncCommand(program, context);
registerWebhooksCommand(program, context);
registerWorkerCommand(program, context);

for (const command of program.commands) command.exitOverride();

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const debug = /^(debug|trace)$/i.test(readEnvironment().LOG_LEVEL ?? '');
  const { exitCode, message } = describeFailure(error, debug);
  if (message) context.err(message);
  process.exitCode = exitCode;
}

// Every command is done here (the long-running ones return once stopped, their connections
// closed): exit now rather than wait for Node to tear its runtime down, ~15 ms of every command.
// Output still in a stream's buffer (a pipe that is not synchronous on this platform) goes first.
for (const stream of [process.stdout, process.stderr]) {
  if (stream.writableNeedDrain) await new Promise((resolve) => stream.once('drain', resolve));
}
process.exit();
