import type { SQL } from 'drizzle-orm';
import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { EventType } from '../shared/event-types.ts';
import type { DbOrTx } from './client.ts';
import { and, desc, getViewSelectedFields, gt, gte, inArray, isNull, lt, or, sql } from './drizzle.ts';
import {
  imageFailuresView,
  imageShareHistoryView,
  imageStatusPeriodsView,
  imageVersionsView,
  inventoryByRegionView,
  syncHealthView,
} from './reporting-views.ts';
import { imageEvents } from './schema/index.ts';

/** Narrows a report; an empty or absent list means "all". */
export interface ReportScope {
  accounts?: readonly string[];
  regions?: readonly string[];
}

/** A time window, half-open: `[since, until)`. Either end may be open. */
export interface ReportWindow {
  since?: Date;
  until?: Date;
}

export interface TimelineQuery extends ReportScope, ReportWindow {
  imageIds?: readonly string[];
}

export interface EventsQuery extends ReportScope, ReportWindow {
  types?: readonly EventType[];
  imageIds?: readonly string[];
  /** The newest `limit` events (returned oldest first). */
  limit: number;
}

export type InventoryRow = typeof inventoryByRegionView.$inferSelect;
// Durations are read as seconds: the `duration` intervals would be formatted by the server and
// parsed by the client for every row of a report that shows neither.
export type FailureRow = Omit<typeof imageFailuresView.$inferSelect, 'duration'>;
export type StatusPeriodRow = Omit<typeof imageStatusPeriodsView.$inferSelect, 'duration'>;
export type ShareRow = Omit<typeof imageShareHistoryView.$inferSelect, 'duration'>;
export type SyncHealthRow = typeof syncHealthView.$inferSelect;
export type ImageVersionRow = typeof imageVersionsView.$inferSelect;
export type EventRow = typeof imageEvents.$inferSelect;

/**
 * The reads behind `report` and `events`: typed selects from the views of schema
 * `reporting`, narrowed by account, region and time. Windows select the periods that overlap
 * them; rows come in a stable order (scope, image, time) so that output can be diffed. How the
 * views derive periods and last-seen times: docs/reporting.md.
 */
export interface ReportStore {
  /** Listed images per account, region and status. */
  inventory(scope: ReportScope): Promise<InventoryRow[]>;
  /** Failure periods (create_failed, unavailable) overlapping the window, oldest first. */
  failures(query: TimelineQuery): Promise<FailureRow[]>;
  /** Status periods overlapping the window, per image in order. */
  statusTimeline(query: TimelineQuery): Promise<StatusPeriodRow[]>;
  /** Share periods overlapping the window, oldest first. */
  shares(query: TimelineQuery): Promise<ShareRow[]>;
  /** One row per account and region that has sync runs. */
  syncHealth(scope: ReportScope): Promise<SyncHealthRow[]>;
  /** The inventory at `at` (`reporting.images_as_of`). */
  asOf(at: Date, scope: ReportScope): Promise<ImageVersionRow[]>;
  /** Recorded events, the newest `limit` matching ones, oldest first. */
  events(query: EventsQuery): Promise<EventRow[]>;
}

type Conditions = (SQL | undefined)[];

function scopeConditions(
  columns: { account: AnyPgColumn; regionId: AnyPgColumn },
  scope: ReportScope,
): Conditions {
  return [
    scope.accounts?.length ? inArray(columns.account, [...scope.accounts]) : undefined,
    scope.regions?.length ? inArray(columns.regionId, [...scope.regions]) : undefined,
  ];
}

/** {@link scopeConditions}, and the image ids when the query names some. */
function imageConditions(
  columns: { account: AnyPgColumn; regionId: AnyPgColumn; imageId: AnyPgColumn },
  query: ReportScope & { imageIds?: readonly string[] | undefined },
): Conditions {
  return [
    ...scopeConditions(columns, query),
    query.imageIds?.length ? inArray(columns.imageId, [...query.imageIds]) : undefined,
  ];
}

/** A period `[start, end)` (end null while it lasts) overlaps `[since, until)`. */
function overlaps(start: AnyPgColumn, end: AnyPgColumn, window: ReportWindow): Conditions {
  return [
    window.until ? lt(start, window.until) : undefined,
    window.since ? or(isNull(end), gt(end, window.since)) : undefined,
  ];
}

function withoutDuration<T extends { duration: unknown }>(fields: T): Omit<T, 'duration'> {
  const { duration: _duration, ...rest } = fields;
  return rest;
}

export function createReportStore(db: DbOrTx): ReportStore {
  const failureFields = withoutDuration(getViewSelectedFields(imageFailuresView));
  const periodFields = withoutDuration(getViewSelectedFields(imageStatusPeriodsView));
  const shareFields = withoutDuration(getViewSelectedFields(imageShareHistoryView));
  return {
    inventory: (scope) =>
      db
        .select()
        .from(inventoryByRegionView)
        .where(and(...scopeConditions(inventoryByRegionView, scope)))
        .orderBy(inventoryByRegionView.account, inventoryByRegionView.regionId, inventoryByRegionView.status),

    failures: (query) => {
      const v = imageFailuresView;
      return db
        .select(failureFields)
        .from(v)
        .where(and(...imageConditions(v, query), ...overlaps(v.enteredAt, v.leftAt, query)))
        .orderBy(v.enteredAt, v.account, v.regionId, v.imageId);
    },

    statusTimeline: (query) => {
      const v = imageStatusPeriodsView;
      return db
        .select(periodFields)
        .from(v)
        .where(and(...imageConditions(v, query), ...overlaps(v.enteredAt, v.leftAt, query)))
        .orderBy(v.account, v.regionId, v.imageId, v.period);
    },

    shares: (query) => {
      const v = imageShareHistoryView;
      return db
        .select(shareFields)
        .from(v)
        .where(and(...imageConditions(v, query), ...overlaps(v.sharedAt, v.unsharedAt, query)))
        .orderBy(v.sharedAt, v.account, v.regionId, v.imageId, v.target);
    },

    syncHealth: (scope) =>
      db
        .select()
        .from(syncHealthView)
        .where(and(...scopeConditions(syncHealthView, scope)))
        .orderBy(syncHealthView.account, syncHealthView.regionId),

    asOf: (at, scope) => {
      // A set-returning function is no table to drizzle: read it through a CTE typed as the view
      // whose rows it returns. PostgreSQL inlines both, so the filters still reach the index.
      const asOf = db
        .$with('as_of', getViewSelectedFields(imageVersionsView))
        .as(sql`select * from reporting.images_as_of(${at})`);
      return db
        .with(asOf)
        .select()
        .from(asOf)
        .where(and(...scopeConditions(asOf, scope)))
        .orderBy(asOf.account, asOf.regionId, asOf.imageId);
    },

    events: async (query) => {
      const e = imageEvents;
      const newest = await db
        .select()
        .from(e)
        .where(
          and(
            ...imageConditions(e, query),
            query.types?.length ? inArray(e.type, [...query.types]) : undefined,
            query.since ? gte(e.occurredAt, query.since) : undefined,
            query.until ? lt(e.occurredAt, query.until) : undefined,
          ),
        )
        // Ids are UUID v7: within one instant they sort in creation order.
        .orderBy(desc(e.occurredAt), desc(e.id))
        .limit(query.limit);
      return newest.reverse();
    },
  };
}
