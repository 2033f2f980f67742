import type { RunStatus, RunTrigger } from '../../sync/model.ts';
import { boolean, check, index, integer, pgTable, sql, text, timestamp, uuid } from '../drizzle.ts';

export const RUN_TRIGGERS = ['schedule', 'watch', 'manual'] as const satisfies readonly RunTrigger[];
export const RUN_STATUSES = [
  'running',
  'succeeded',
  'partial',
  'failed',
  'superseded',
] as const satisfies readonly RunStatus[];

type Missing<All, Listed> = Exclude<All, Listed> extends never ? true : never;
const allListed: [
  Missing<RunTrigger, (typeof RUN_TRIGGERS)[number]>,
  Missing<RunStatus, (typeof RUN_STATUSES)[number]>,
] = [true, true];
void allListed;

const list = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));

/**
 * `sync_runs`: one row per region sync (full or watch), written `running` when it starts
 * and finished in the sync's transaction (or, when the sync fails, on its own).
 *
 * `complete` is not among the documented columns: true when the run applied a complete full listing
 *; only a `succeeded` or `partial` run can be. A scope is at its baseline until it has
 * a `complete` run; held deletions are read from the latest such run. It is recorded rather than
 * derived because neither the trigger nor the status alone says whether a listing was complete.
 *
 * `started_at` is the run's observation instant, taken from the database's clock when the run
 * starts (one clock for every replica): it fences older listings, and the run's versions, events,
 * deletions and `last_seen_at` carry it. The scope's newest complete run by `started_at` is its
 * latest complete listing. `held_image_ids`: deletions the brake held (the next complete listing
 * confirms them). `heartbeat_at`: moved by the live process while the run lists; a `running` run
 * whose heartbeat is older than the bound was abandoned by a dead process and is closed `failed`.
 */
export const syncRuns = pgTable(
  'sync_runs',
  {
    id: uuid('id').primaryKey(),
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    trigger: text('trigger').$type<RunTrigger>().notNull(),
    status: text('status').$type<RunStatus>().notNull(),
    startedAt: timestamp('started_at', { withTimezone: true, precision: 3 }).notNull(),
    finishedAt: timestamp('finished_at', { withTimezone: true, precision: 3 }),
    apiCalls: integer('api_calls').notNull().default(0),
    pages: integer('pages').notNull().default(0),
    imagesSeen: integer('images_seen').notNull().default(0),
    created: integer('created').notNull().default(0),
    updated: integer('updated').notNull().default(0),
    deleted: integer('deleted').notNull().default(0),
    events: integer('events').notNull().default(0),
    error: text('error'),
    complete: boolean('complete').notNull().default(false),
    heldImageIds: text('held_image_ids').array(),
    heartbeatAt: timestamp('heartbeat_at', { withTimezone: true, precision: 3 }),
    /** How long the run's own process lets its heartbeat go silent before the run counts as abandoned. */
    abandonAfterMs: integer('abandon_after_ms'),
  },
  (t) => [
    index('sync_runs_account_region_started_idx').on(t.account, t.regionId, t.startedAt.desc()),
    index('sync_runs_complete_started_idx')
      .on(t.account, t.regionId, t.startedAt.desc())
      .where(sql`${t.complete}`),
    index('sync_runs_running_idx').on(t.heartbeatAt).where(sql`${t.status} = 'running'`),
    check('sync_runs_trigger_check', sql`${t.trigger} in (${list(RUN_TRIGGERS)})`),
    check('sync_runs_status_check', sql`${t.status} in (${list(RUN_STATUSES)})`),
    check('sync_runs_finished_check', sql`(${t.status} = 'running') = (${t.finishedAt} is null)`),
    check('sync_runs_complete_check', sql`not ${t.complete} or ${t.status} in ('succeeded', 'partial')`),
  ],
);
