import { sql } from 'drizzle-orm';
import {
  check,
  foreignKey,
  index,
  integer,
  jsonb,
  pgTable,
  primaryKey,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';
import { imageAttributeColumns, STATE_HASH_SQL } from './image-columns.ts';
import { imageStatuses, statusCodeList } from './image-statuses.ts';

/**
 * SPEC §6 `custom_images`: the current state, one row per image ever seen by an account. Image ids
 * are unique per account, so the key is (account, image_id); `region_id` is an attribute, indexed
 * with the account because every sync reads one (account, region) at a time.
 *
 * `version` is not in the SPEC's column list: it is the number of the image's current (or, once
 * deleted, last) `custom_image_versions` row, so a sync reads a region's state from this table
 * alone. The table is created with `fillfactor = 50` (migration 0002) so that the `last_seen_at`
 * bump of unchanged images, the commonest write, stays a HOT update.
 *
 * `state_hash` is not in the SPEC either: an md5 of the versioned attributes that PostgreSQL keeps
 * (a stored generated column), so it cannot drift from the columns whoever writes them. A region
 * read compares it with the states it decoded before and decodes again only the rows whose hash
 * moved (region-store.ts). Updates of other columns (the `last_seen_at` bump) do not recompute it.
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
    stateHash: text('state_hash').notNull().generatedAlwaysAs(sql.raw(STATE_HASH_SQL)),
  },
  (t) => [
    primaryKey({ name: 'custom_images_pkey', columns: [t.account, t.imageId] }),
    index('custom_images_account_region_idx').on(t.account, t.regionId),
    check('custom_images_status_check', sql`${t.status} in (${statusCodeList})`),
    check('custom_images_version_check', sql`${t.version} >= 1`),
    foreignKey({
      name: 'custom_images_status_fkey',
      columns: [t.status],
      foreignColumns: [imageStatuses.code],
    }),
  ],
);
