import type { Command } from 'commander';
import { AppError } from '../shared/app-error.ts';
import { EVENT_TYPES, type EventType, isEventType } from '../shared/event-types.ts';
import { WEBHOOK_FORMATS } from '../shared/webhook-formats.ts';
import type { CommandContext } from './context.ts';
import { collect, parseFormat } from './options.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
function endpointId(value: string): string {
  if (!UUID.test(value))
    throw new AppError('cli.usage', `not an endpoint id: "${value}" (see \`webhooks list\`)`);
  return value.toLowerCase();
}

// The work is loaded on use, so `--help` does not load the database and HTTP stacks.
const commands = () => import('./webhook-commands.ts');

/** `webhooks add|list|remove|enable|disable|test`: the subscriber endpoints. */
export function registerWebhooksCommand(program: Command, context: CommandContext): void {
  const webhooks = program
    .command('webhooks')
    .description('manage webhook endpoints: add, list, remove, enable, disable, test');

  webhooks
    .command('add')
    .description('add an endpoint that receives change events')
    .requiredOption('--url <url>', 'http:// or https:// URL')
    .option('--format <format>', WEBHOOK_FORMATS.join(', '), 'standard')
    .option('--secret <secret>', 'whsec_… for standard; the robot signing secret for dingtalk/feishu')
    .option('--secret-env <variable>', 'read the secret from this environment variable instead')
    .option('--event <type>', `only this event type (repeatable): ${EVENT_TYPES.join(', ')}`, collect, [])
    .option('--account <name>', 'only events of this account (repeatable)', collect, [])
    .option('--region <id>', 'only events of this region (repeatable)', collect, [])
    .option('--include-baseline', 'also deliver the baseline image.created events of first syncs')
    .action(
      async (options: {
        url: string;
        format: string;
        secret?: string;
        secretEnv?: string;
        event: string[];
        account: string[];
        region: string[];
        includeBaseline?: boolean;
      }) => {
        const format = parseFormat(options.format, WEBHOOK_FORMATS);
        const unknown = options.event.filter((type) => !isEventType(type));
        if (unknown.length > 0) {
          throw new AppError(
            'cli.usage',
            `unknown event type(s): ${unknown.join(', ')} (known: ${EVENT_TYPES.join(', ')})`,
          );
        }
        process.exitCode = await (await commands()).webhooksAdd(context, {
          url: options.url,
          format,
          ...(options.secret === undefined ? {} : { secret: options.secret }),
          ...(options.secretEnv === undefined ? {} : { secretEnv: options.secretEnv }),
          events: options.event as EventType[],
          accounts: options.account,
          regions: options.region,
          includeBaseline: options.includeBaseline === true,
        });
      },
    );

  webhooks
    .command('list')
    .description('list the endpoints (URLs masked, secrets never shown)')
    .option('--format <format>', 'table or json', 'table')
    .action(async (options: { format: string }) => {
      const format = parseFormat(options.format, ['table', 'json']);
      process.exitCode = await (await commands()).webhooksList(context, format);
    });

  webhooks
    .command('remove <id>')
    .description('remove an endpoint and its delivery log')
    .action(async (id: string) => {
      process.exitCode = await (await commands()).webhooksRemove(context, endpointId(id));
    });

  webhooks
    .command('enable <id>')
    .description(
      'enable an endpoint again (e.g. after 410 Gone); then `deliveries redrive` its dead deliveries',
    )
    .action(async (id: string) => {
      process.exitCode = await (await commands()).webhooksSetEnabled(context, endpointId(id), true);
    });

  webhooks
    .command('disable <id>')
    .description('stop delivering to an endpoint (its deliveries wait, pending)')
    .action(async (id: string) => {
      process.exitCode = await (await commands()).webhooksSetEnabled(context, endpointId(id), false);
    });

  webhooks
    .command('test <id>')
    .description('send a signed webhook.test message to the endpoint now and report its answer')
    .action(async (id: string) => {
      process.exitCode = await (await commands()).webhooksTest(context, endpointId(id));
    });
}
