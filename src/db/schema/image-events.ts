import { EVENT_TYPES, type EventType } from '../../shared/event-types.ts';
import { boolean, check, foreignKey, index, jsonb, pgTable, sql, text, timestamp, uuid } from '../drizzle.ts';
import { syncRuns } from './sync-runs.ts';

const eventTypeList = sql.raw(EVENT_TYPES.map((type) => `'${type}'`).join(', '));

/**
 * `image_events`: the outbox, written in the transaction of the state it describes.
 * `id` is a UUID v7 from the application, so ids sort by creation time. `image_id` is null for
 * scope events (`sync.deletions_held`, whose `data.imageIds` lists the held ids). No foreign key
 * to `custom_images`: events are a log and outlive any future pruning of images.
 */
export const imageEvents = pgTable(
  'image_events',
  {
    id: uuid('id').primaryKey(),
    type: text('type').$type<EventType>().notNull(),
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    imageId: text('image_id'),
    occurredAt: timestamp('occurred_at', { withTimezone: true, precision: 3 }).notNull(),
    syncRunId: uuid('sync_run_id').notNull(),
    baseline: boolean('baseline').notNull().default(false),
    data: jsonb('data').$type<Record<string, unknown>>().notNull(),
  },
  (t) => [
    index('image_events_account_region_occurred_idx').on(t.account, t.regionId, t.occurredAt),
    index('image_events_image_idx').on(t.imageId),
    index('image_events_type_occurred_idx').on(t.type, t.occurredAt),
    // The webhook outbox fans a run's events out to endpoints right after inserting them.
    index('image_events_sync_run_idx').on(t.syncRunId),
    // `events` without filters: the newest events first.
    index('image_events_occurred_idx').on(t.occurredAt),
    foreignKey({ name: 'image_events_sync_run_fkey', columns: [t.syncRunId], foreignColumns: [syncRuns.id] }),
    check('image_events_type_check', sql`${t.type} in (${eventTypeList})`),
  ],
);
