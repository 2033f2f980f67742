import type { Config } from '../config/load-config.ts';
import { checkSchemaCurrent } from '../db/migrate.ts';
import { createReportStore, type ReportStore } from '../db/report-store.ts';
import type { CommandContext } from './context.ts';
import type { EventsRequest, ReportRequest } from './report.ts';
import {
  AS_OF_COLUMNS,
  EVENT_COLUMNS,
  FAILURE_COLUMNS,
  INVENTORY_COLUMNS,
  SHARE_COLUMNS,
  STATUS_TIMELINE_COLUMNS,
  SYNC_HEALTH_COLUMNS,
} from './report-columns.ts';
import { type Column, renderRows } from './report-output.ts';

async function withStore(
  context: CommandContext,
  config: Config,
  use: (store: ReportStore) => Promise<string>,
): Promise<void> {
  const app = await context.createApp(config);
  try {
    const { db } = app.database();
    await checkSchemaCurrent(db);
    context.out(await use(createReportStore(db)));
  } finally {
    await app.close();
  }
}

/** Reads one report through the store and prints it in the requested format. */
export function printReport(context: CommandContext, config: Config, request: ReportRequest): Promise<void> {
  const options = { terminal: context.isTty };
  const render = <R>(rows: readonly R[], columns: readonly Column<R>[]) =>
    renderRows(rows, columns, request.format, options);
  const timeline = { ...request.scope, ...request.window, imageIds: request.imageIds };
  return withStore(context, config, async (store) => {
    switch (request.name) {
      case 'inventory':
        return render(await store.inventory(request.scope), INVENTORY_COLUMNS);
      case 'failures':
        return render(await store.failures(timeline), FAILURE_COLUMNS);
      case 'status-timeline':
        return render(await store.statusTimeline(timeline), STATUS_TIMELINE_COLUMNS);
      case 'shares':
        return render(await store.shares(timeline), SHARE_COLUMNS);
      case 'sync-health':
        return render(await store.syncHealth(request.scope), SYNC_HEALTH_COLUMNS);
      case 'as-of':
        return render(await store.asOf(request.at ?? new Date(), request.scope), AS_OF_COLUMNS);
      default: {
        const never: never = request.name;
        throw new Error(`unknown report ${String(never)}`);
      }
    }
  });
}

/** Reads the events asked for and prints them. */
export function printEvents(context: CommandContext, config: Config, request: EventsRequest): Promise<void> {
  return withStore(context, config, async (store) =>
    renderRows(await store.events(request.query), EVENT_COLUMNS, request.format, { terminal: context.isTty }),
  );
}
