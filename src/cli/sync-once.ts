import { type Config, requireCredentials } from '../config/load-config.ts';
import { checkSchemaCurrent } from '../db/migrate.ts';
import { ensureBootstrapEndpoint } from '../events/webhook-endpoints.ts';
import { displayText } from '../shared/display-text.ts';
import { formatDuration } from '../shared/duration.ts';
import type { RegionSyncResult } from '../sync/run-sync.ts';
import type { CommandContext } from './context.ts';
import { EXIT } from './exit-codes.ts';
import { renderTable } from './table.ts';
import { deliverInProcess } from './webhook-commands.ts';

/**
 * Runs one full sync of the given accounts (all when empty), prints the summary, returns the exit
 * code. `regions`, when given, is what every account syncs, whatever its own configuration lists.
 */
export async function syncOnce(
  context: CommandContext,
  config: Config,
  accountNames: readonly string[],
  options: { deliver: boolean; regions: Config['regions'] | null } = { deliver: true, regions: null },
) {
  const accounts = requireCredentials(config, accountNames);
  const app = await context.createApp(config);
  const logger = context.logger(config).child({ component: 'sync' });
  // Ctrl-C stops the listings in flight: their runs are recorded as failed (aborted) and no
  // region is left half-written, since a region's writes are one transaction after its listing.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const database = app.database();
    const schemaChecked = checkSchemaCurrent(database.db);
    // ioredis loads while PostgreSQL answers, and connects (a current schema only) while the run
    // starts, rather than both at the first API call.
    app.connectRateBudget(schemaChecked);
    await schemaChecked;
    // Before the syncs, so their events already fan out to the WEBHOOK_URL endpoint.
    await ensureBootstrapEndpoint(app.webhookStore(), app.ids, config.webhook.bootstrap);
    const started = app.clock.now();
    const report = await app.regionSyncs().syncAll(
      accounts.map((account) => ({
        name: account.name,
        regions: options.regions ?? account.regions ?? config.regions,
      })),
      {
        trigger: 'manual',
        signal: interrupt.signal,
        onProgress: (result, done, total) => {
          logger.info(
            {
              account: result.scope.account,
              regionId: result.scope.regionId,
              status: result.status,
              ...result.counts,
            },
            'region synced',
          );
          if (context.isTty) {
            context.err(
              `[${done}/${total}] ${result.scope.account} ${result.scope.regionId}: ${result.status}`,
            );
          }
        },
      },
    );
    context.out(renderSummary(report.results));
    for (const failure of report.accountFailures) {
      context.out(`account ${failure.account}: could not list regions: ${displayText(failure.error, 2_000)}`);
    }
    const failed = report.results.filter((r) => r.status === 'failed').length + report.accountFailures.length;
    context.out(
      `${report.results.length} region(s) in ${formatDuration(app.clock.now() - started)}; ${failed === 0 ? 'no failures' : `${failed} failed`}`,
    );
    if (options.deliver) await deliverInProcess(context, app, interrupt.signal);
    return report.ok ? EXIT.ok : EXIT.failed;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await app.close();
  }
}

function renderSummary(results: readonly RegionSyncResult[]): string {
  const table = renderTable(
    [
      'ACCOUNT',
      'REGION',
      'STATUS',
      'PAGES',
      'CALLS',
      'IMAGES',
      'CREATED',
      'UPDATED',
      'DELETED',
      'EVENTS',
      'TIME',
    ],
    results.map((r) => [
      r.scope.account,
      r.scope.regionId,
      r.status,
      r.pages,
      r.apiCalls,
      r.counts.imagesSeen,
      r.counts.created,
      r.counts.updated,
      r.counts.deleted,
      r.counts.events,
      formatDuration(r.durationMs),
    ]),
  );
  const notes = results
    .filter((r) => r.error !== undefined)
    .map((r) => `  ${r.scope.account} ${r.scope.regionId} ${r.status}: ${displayText(r.error ?? '', 2_000)}`);
  return notes.length === 0 ? table : `${table}\n${notes.join('\n')}`;
}
