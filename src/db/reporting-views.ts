import type { ImageStatus, RunStatus, RunTrigger } from '../sync/model.ts';
import {
  boolean,
  doublePrecision,
  integer,
  interval,
  jsonb,
  pgSchema,
  text,
  timestamp,
  uuid,
} from './drizzle.ts';
import { imageAttributeColumns } from './schema/image-columns.ts';

/**
 * The views of schema `reporting` (migration 0007_reporting_views) as drizzle sees them: declared
 * `.existing()`, so drizzle-kit never generates them and this file only types the reads. Kept out
 * of `schema/index.ts`, which drizzle-kit diffs. A public interface: columns are added, never renamed.
 */
export const reporting = pgSchema('reporting');

const at = (name: string) => timestamp(name, { withTimezone: true, precision: 3, mode: 'date' });

/**
 * The versioned attributes, as `current_images` and `image_versions` expose them: the tables' own
 * column list, with the status typed and its label beside it.
 */
const imageAttributes = () => ({
  account: text('account').notNull(),
  imageId: text('image_id').notNull(),
  ...imageAttributeColumns(),
  status: text('status').$type<ImageStatus>().notNull(),
  statusLabel: text('status_label').notNull(),
  version: integer('version').notNull(),
});

export const currentImagesView = reporting
  .view('current_images', {
    ...imageAttributes(),
    firstSeenAt: at('first_seen_at').notNull(),
    lastSeenAt: at('last_seen_at').notNull(),
    deletedAt: at('deleted_at'),
    raw: jsonb('raw').$type<Record<string, unknown>>().notNull(),
    lastSeenStoredAt: at('last_seen_stored_at').notNull(),
  })
  .existing();

/** Also the row type of `reporting.images_as_of(ts)`. */
export const imageVersionsView = reporting
  .view('image_versions', {
    ...imageAttributes(),
    validFrom: at('valid_from').notNull(),
    validTo: at('valid_to'),
    syncRunId: uuid('sync_run_id').notNull(),
  })
  .existing();

export const imageStatusPeriodsView = reporting
  .view('image_status_periods', {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    imageId: text('image_id').notNull(),
    period: integer('period').notNull(),
    status: text('status').$type<ImageStatus>().notNull(),
    statusLabel: text('status_label').notNull(),
    enteredAt: at('entered_at').notNull(),
    leftAt: at('left_at'),
    duration: interval('duration').notNull(),
    durationSeconds: doublePrecision('duration_seconds').notNull(),
    isCurrent: boolean('is_current').notNull(),
    endedBy: text('ended_by').$type<'status_changed' | 'deleted'>(),
    nextStatus: text('next_status').$type<ImageStatus>(),
    nextStatusLabel: text('next_status_label'),
    firstVersion: integer('first_version').notNull(),
    lastVersion: integer('last_version').notNull(),
  })
  .existing();

export const imageFailuresView = reporting
  .view('image_failures', {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    imageId: text('image_id').notNull(),
    name: text('name'),
    status: text('status').$type<'2' | '3'>().notNull(),
    statusLabel: text('status_label').notNull(),
    enteredAt: at('entered_at').notNull(),
    leftAt: at('left_at'),
    duration: interval('duration').notNull(),
    durationSeconds: doublePrecision('duration_seconds').notNull(),
    isCurrent: boolean('is_current').notNull(),
    endedBy: text('ended_by').$type<'status_changed' | 'deleted'>(),
    nextStatus: text('next_status').$type<ImageStatus>(),
    nextStatusLabel: text('next_status_label'),
    currentStatus: text('current_status').$type<ImageStatus>().notNull(),
    currentStatusLabel: text('current_status_label').notNull(),
    deletedAt: at('deleted_at'),
    period: integer('period').notNull(),
  })
  .existing();

export const imageShareHistoryView = reporting
  .view('image_share_history', {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    imageId: text('image_id').notNull(),
    name: text('name'),
    target: text('target').$type<'ecs' | 'account'>().notNull(),
    sharedAt: at('shared_at').notNull(),
    unsharedAt: at('unshared_at'),
    duration: interval('duration').notNull(),
    durationSeconds: doublePrecision('duration_seconds').notNull(),
    isCurrent: boolean('is_current').notNull(),
    endedBy: text('ended_by').$type<'unshared' | 'deleted'>(),
    firstVersion: integer('first_version').notNull(),
  })
  .existing();

export const inventoryByRegionView = reporting
  .view('inventory_by_region', {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    status: text('status').$type<ImageStatus>().notNull(),
    statusLabel: text('status_label').notNull(),
    images: integer('images').notNull(),
    sharedImages: integer('shared_images').notNull(),
  })
  .existing();

export const syncHealthView = reporting
  .view('sync_health', {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    state: text('state').$type<'ok' | 'failing' | 'pending'>().notNull(),
    consecutiveFailures: integer('consecutive_failures').notNull(),
    lastRunId: uuid('last_run_id'),
    lastRunTrigger: text('last_run_trigger').$type<RunTrigger>(),
    lastRunStatus: text('last_run_status').$type<RunStatus>(),
    lastRunAbandoned: boolean('last_run_abandoned').notNull(),
    lastRunStartedAt: at('last_run_started_at'),
    lastRunFinishedAt: at('last_run_finished_at'),
    lastRunError: text('last_run_error'),
    lastSuccessStartedAt: at('last_success_started_at'),
    lastCompleteRunId: uuid('last_complete_run_id'),
    lastCompleteStartedAt: at('last_complete_started_at'),
    lastCompleteFinishedAt: at('last_complete_finished_at'),
    staleness: interval('staleness'),
    stalenessSeconds: doublePrecision('staleness_seconds'),
  })
  .existing();
