import {
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  sql,
  text,
  timestamp,
} from '../drizzle.ts';
import { imageAttributeColumns } from './image-columns.ts';
import { imageStatuses, statusCodeList, transitionalCodeList } from './image-statuses.ts';

/**
 * `custom_images`: the current state, one row per image ever seen by an account. Image ids
 * are unique per account, so the key is (account, image_id); `region_id` is an attribute, indexed
 * with the account because every sync reads one (account, region) at a time.
 *
 * `version` is not among the documented columns: it is the number of the image's current (or, once
 * deleted, last) `custom_image_versions` row, so a sync reads a region's state from this table
 * alone. Its pages are filled to 90% (migration 0009): unchanged images are never written, so
 * only the occasional changed image needs room for a HOT update.
 *
 * `state_hash` is not documented either: the canonical content hash of the versioned attributes
 * (sync/state-hash.ts), computed by the listing side and stored with every write, so that a sync
 * reads only ids, versions, observation times and hashes, and decodes full rows only for the images
 * whose hash moved. Null only on rows written before the column existed: such a row is compared
 * in full once and its hash written (docs/sync-design.md).
 *
 * `last_seen_at` is written only when the row is written (a change, a deletion's listing, a watch
 * poll's observation); a no-op sync writes nothing here. `reporting.current_images` derives the
 * true last-seen time from the region's latest complete listing. `greatest(last_seen_at,
 * deleted_at)` is the row's own observation time, which fences older listings (docs/sync-design.md).
 */
export const customImages = pgTable(
  'custom_images',
  {
    account: text('account').notNull(),
    imageId: text('image_id').notNull(),
    ...imageAttributeColumns(),
    version: integer('version').notNull(),
    firstSeenAt: timestamp('first_seen_at', { withTimezone: true, precision: 3 }).notNull(),
    lastSeenAt: timestamp('last_seen_at', { withTimezone: true, precision: 3 }).notNull(),
    deletedAt: timestamp('deleted_at', { withTimezone: true, precision: 3 }),
    raw: jsonb('raw').$type<Record<string, unknown>>().notNull(),
    stateHash: text('state_hash'),
  },
  (t) => [
    primaryKey({ name: 'custom_images_pkey', columns: [t.account, t.imageId] }),
    // A region's keys: migration 0010 adds INCLUDE (image_id, version, deleted_at, last_seen_at,
    // state_hash), which drizzle-kit cannot express, so a sync's two key reads are index-only scans.
    index('custom_images_account_region_idx').on(t.account, t.regionId),
    // Reporting: one image by id alone (ids are unique per account; users rarely name the account).
    index('custom_images_image_idx').on(t.imageId),
    // The worker's watch planner asks every interval which live images are transitional: a few
    // rows of this small index, not a scan of every image of the fleet.
    index('custom_images_transitional_idx')
      .on(t.account, t.regionId, t.imageId)
      .where(sql`${t.deletedAt} is null and ${t.status} in (${transitionalCodeList})`),
    check('custom_images_status_check', sql`${t.status} in (${statusCodeList})`),
    check('custom_images_version_check', sql`${t.version} >= 1`),
    foreignKey({
      name: 'custom_images_status_fkey',
      columns: [t.status],
      foreignColumns: [imageStatuses.code],
    }),
  ],
);
