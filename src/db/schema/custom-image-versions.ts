import {
  check,
  foreignKey,
  index,
  integer,
  pgTable,
  primaryKey,
  sql,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from '../drizzle.ts';
import { customImages } from './custom-images.ts';
import { imageAttributeColumns } from './image-columns.ts';
import { imageStatuses, statusCodeList } from './image-statuses.ts';
import { syncRuns } from './sync-runs.ts';

/**
 * `custom_image_versions`: SCD2 history, one row per distinct consecutive state of an
 * image, numbered from 1. The current row has `valid_to = null`; at most one per image (a partial
 * unique index), and none once the image is deleted.
 */
export const customImageVersions = pgTable(
  'custom_image_versions',
  {
    account: text('account').notNull(),
    imageId: text('image_id').notNull(),
    version: integer('version').notNull(),
    ...imageAttributeColumns(),
    validFrom: timestamp('valid_from', { withTimezone: true, precision: 3 }).notNull(),
    validTo: timestamp('valid_to', { withTimezone: true, precision: 3 }),
    syncRunId: uuid('sync_run_id').notNull(),
  },
  (t) => [
    primaryKey({ name: 'custom_image_versions_pkey', columns: [t.account, t.imageId, t.version] }),
    uniqueIndex('custom_image_versions_current_idx')
      .on(t.account, t.imageId)
      .where(sql`${t.validTo} is null`),
    index('custom_image_versions_sync_run_idx').on(t.syncRunId),
    // Reporting: one image's history by its id alone. The region's history has a covering index
    // (custom_image_versions_region_idx) that drizzle cannot express: see migration 0007_reporting_views.
    index('custom_image_versions_image_idx').on(t.imageId, t.version),
    foreignKey({
      name: 'custom_image_versions_image_fkey',
      columns: [t.account, t.imageId],
      foreignColumns: [customImages.account, customImages.imageId],
    }),
    foreignKey({
      name: 'custom_image_versions_status_fkey',
      columns: [t.status],
      foreignColumns: [imageStatuses.code],
    }),
    foreignKey({
      name: 'custom_image_versions_sync_run_fkey',
      columns: [t.syncRunId],
      foreignColumns: [syncRuns.id],
    }),
    check('custom_image_versions_status_check', sql`${t.status} in (${statusCodeList})`),
    check('custom_image_versions_version_check', sql`${t.version} >= 1`),
    check('custom_image_versions_valid_check', sql`${t.validTo} is null or ${t.validTo} >= ${t.validFrom}`),
  ],
);
