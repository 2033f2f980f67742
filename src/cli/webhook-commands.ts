import type { App } from '../app.ts';
import { readEnvironment } from '../config/environment.ts';
import type { Config } from '../config/load-config.ts';
import { checkSchemaCurrent } from '../db/migrate.ts';
import { addEndpoint, ensureBootstrapEndpoint } from '../events/webhook-endpoints.ts';
import { AppError } from '../shared/app-error.ts';
import { formatDuration } from '../shared/duration.ts';
import type { EventType } from '../shared/event-types.ts';
import { maskUrl } from '../shared/mask-url.ts';
import { Secret } from '../shared/secret.ts';
import type { WebhookFormat } from '../shared/webhook-formats.ts';
import type { CommandContext } from './context.ts';
import { EXIT, type ExitCode } from './exit-codes.ts';
import { safeJson } from './safe-json.ts';
import { renderTable } from './table.ts';

/**
 * The work of the `webhooks` and `deliveries` commands (loaded on use; `webhooks.ts` and
 * `deliveries.ts` parse the flags).
 */

/** How long `deliveries redrive` and `sync --once` deliver in-process before leaving the rest pending. */
export const IN_PROCESS_DELIVERY_WAIT_MS = 30_000;

/**
 * The app with the schema checked and the `WEBHOOK_URL` endpoint in place; closed after `work`.
 */
export async function withWebhookApp<T>(
  context: CommandContext,
  config: Config,
  work: (app: App) => Promise<T>,
): Promise<T> {
  const app = await context.createApp(config);
  try {
    await checkSchemaCurrent(app.database().db);
    await ensureBootstrapEndpoint(app.webhookStore(), app.ids, config.webhook.bootstrap);
    return await work(app);
  } finally {
    await app.close();
  }
}

export interface AddEndpointFlags {
  url: string;
  format: WebhookFormat;
  secret?: string;
  secretEnv?: string;
  events: EventType[];
  accounts: string[];
  regions: string[];
  includeBaseline: boolean;
}

export async function webhooksAdd(context: CommandContext, flags: AddEndpointFlags): Promise<ExitCode> {
  if (flags.secret !== undefined && flags.secretEnv !== undefined) {
    throw new AppError('cli.usage', 'give --secret or --secret-env, not both');
  }
  // `--secret "$SEC"` with SEC unset must not quietly add an unsigned endpoint.
  if (flags.secret !== undefined && flags.secret.trim() === '') {
    throw new AppError('cli.usage', '--secret is empty');
  }
  const secretText = flags.secretEnv === undefined ? flags.secret : readEnvironment()[flags.secretEnv];
  if (flags.secretEnv !== undefined && !secretText) {
    throw new AppError('cli.usage', `--secret-env: ${flags.secretEnv} is not set`);
  }
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const endpoint = await addEndpoint(app.webhookStore(), app.ids, {
      url: flags.url,
      format: flags.format,
      secret: secretText ? new Secret(secretText) : null,
      eventTypes: flags.events.length > 0 ? flags.events : null,
      accounts: flags.accounts.length > 0 ? flags.accounts : null,
      regionIds: flags.regions.length > 0 ? flags.regions : null,
      includeBaseline: flags.includeBaseline,
    });
    context.out(`endpoint ${endpoint.id} added (${endpoint.format}, ${maskUrl(endpoint.url)})`);
    return EXIT.ok;
  });
}

export async function webhooksList(context: CommandContext, format: 'table' | 'json'): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const endpoints = (await app.webhookStore().listEndpoints()).map((e) => ({
      id: e.id,
      url: maskUrl(e.url),
      format: e.format,
      events: e.eventTypes ?? ['*'],
      accounts: e.accounts ?? ['*'],
      regions: e.regionIds ?? ['*'],
      baseline: e.includeBaseline,
      enabled: e.enabled,
      signed: e.secret !== null,
      note: [e.bootstrap ? 'WEBHOOK_URL' : '', e.disabledReason ?? ''].filter(Boolean).join('; '),
    }));
    context.out(
      format === 'json'
        ? safeJson(endpoints)
        : renderTable(
            ['ID', 'FORMAT', 'URL', 'EVENTS', 'ACCOUNTS', 'REGIONS', 'BASELINE', 'ENABLED', 'NOTE'],
            endpoints.map((e) => [
              e.id,
              e.format,
              e.url,
              e.events.join(','),
              e.accounts.join(','),
              e.regions.join(','),
              e.baseline ? 'yes' : 'no',
              e.enabled ? 'yes' : 'no',
              e.note,
            ]),
          ),
    );
    return EXIT.ok;
  });
}

export async function webhooksRemove(context: CommandContext, id: string): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const removed = await app.webhookStore().removeEndpoint(id);
    context.out(removed ? `endpoint ${id} removed` : `no endpoint ${id}`);
    return removed ? EXIT.ok : EXIT.failed;
  });
}

export async function webhooksSetEnabled(
  context: CommandContext,
  id: string,
  enabled: boolean,
): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const done = await app.webhookStore().setEnabled(id, enabled);
    context.out(done ? `endpoint ${id} ${enabled ? 'enabled' : 'disabled'}` : `no endpoint ${id}`);
    return done ? EXIT.ok : EXIT.failed;
  });
}

export async function webhooksTest(context: CommandContext, id: string): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const endpoint = await app.webhookStore().getEndpoint(id);
    if (!endpoint) {
      context.out(`no endpoint ${id}`);
      return EXIT.failed;
    }
    const result = await app.webhookDelivery().sendTest(endpoint);
    const answer = result.statusCode === null ? 'no answer' : `HTTP ${result.statusCode}`;
    context.out(
      result.ok
        ? `ok: ${answer} in ${result.durationMs}ms`
        : `failed: ${answer} in ${result.durationMs}ms: ${result.error ?? ''}`,
    );
    return result.ok ? EXIT.ok : EXIT.failed;
  });
}

const iso = (ms: number | null) => (ms === null ? '' : new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z'));

export async function deliveriesList(
  context: CommandContext,
  options: { failed: boolean; limit: number; format: 'table' | 'json' },
): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const rows = await app.webhookStore().listDeliveries({ failed: options.failed, limit: options.limit });
    context.out(
      options.format === 'json'
        ? safeJson(rows)
        : renderTable(
            [
              'ID',
              'STATUS',
              'ATTEMPTS',
              'EVENT',
              'IMAGE',
              'ENDPOINT',
              'CODE',
              'NEXT ATTEMPT',
              'DELIVERED',
              'LAST ERROR',
            ],
            rows.map((r) => [
              r.id,
              r.status,
              r.attempts,
              r.eventType,
              r.imageId ?? `${r.account}/${r.regionId}`,
              r.endpointId,
              r.lastStatusCode,
              iso(r.nextAttemptAt),
              iso(r.deliveredAt),
              r.lastError,
            ]),
          ),
    );
    return EXIT.ok;
  });
}

/** Delivers what is due in this process, within the bounded wait, and prints one summary line. */
export async function deliverInProcess(
  context: CommandContext,
  app: App,
  signal?: AbortSignal,
): Promise<void> {
  const started = app.clock.now();
  const report = await app
    .webhookDelivery()
    .drain({ timeoutMs: IN_PROCESS_DELIVERY_WAIT_MS, ...(signal ? { signal } : {}) });
  context.out(
    `webhooks: ${report.delivered} delivered, ${report.retrying} to retry, ${report.dead} dead in ${formatDuration(app.clock.now() - started)}`,
  );
}

export async function deliveriesRedrive(
  context: CommandContext,
  ids: readonly number[],
  deliver: boolean,
): Promise<ExitCode> {
  return withWebhookApp(context, await context.loadConfig(), async (app) => {
    const result = await app.webhookStore().redrive(ids);
    context.out(`${result.redriven.length} delivery(ies) re-queued`);
    if (result.endpointDisabled.length > 0) {
      context.out(
        `not re-queued, endpoint disabled (\`webhooks enable\` it first): ${result.endpointDisabled.join(' ')}`,
      );
    }
    if (result.notDead.length > 0)
      context.out(`not re-queued, not a dead delivery: ${result.notDead.join(' ')}`);
    if (deliver && result.redriven.length > 0) await deliverInProcess(context, app);
    return result.redriven.length === new Set(ids).size ? EXIT.ok : EXIT.failed;
  });
}
