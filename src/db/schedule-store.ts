import type { Database } from './client.ts';
import { and, eq, gt, isNull, ne, sql } from './drizzle.ts';
import { withDatabaseErrors } from './errors.ts';
import { transitionalCodeList } from './schema/image-statuses.ts';
import { customImages, syncRuns } from './schema/index.ts';

export interface ScopeKey {
  account: string;
  regionId: string;
}

/** What the worker's planners read to decide which region syncs and watch polls to enqueue. */
export interface ScheduleStore {
  /**
   * Scopes with a full sync (not a watch poll) that started within the last `withinMs` on the
   * database's clock and did not fail: running ones included, since another process is at it.
   */
  recentlySynced(withinMs: number): Promise<ScopeKey[]>;
  /** Scopes holding live images in a transitional status, with how many. */
  scopesToWatch(): Promise<(ScopeKey & { images: number })[]>;
  /** Ids of the scope's live images in a transitional status, the ones a watch poll re-reads. */
  imagesToWatch(scope: ScopeKey): Promise<string[]>;
}

/** Over PostgreSQL; failures come out as coded AppErrors (`db.unreachable`, …) like the sync store's. */
export function createScheduleStore(database: Database): ScheduleStore {
  const { db, target } = database;
  // The predicate of custom_images_transitional_idx, word for word.
  const transitional = sql`${customImages.status} in (${transitionalCodeList})`;
  const store: ScheduleStore = {
    async recentlySynced(withinMs) {
      return db
        .selectDistinct({ account: syncRuns.account, regionId: syncRuns.regionId })
        .from(syncRuns)
        .where(
          and(
            ne(syncRuns.trigger, 'watch'),
            ne(syncRuns.status, 'failed'),
            gt(syncRuns.startedAt, sql`clock_timestamp() - make_interval(secs => ${withinMs / 1000})`),
          ),
        );
    },

    async scopesToWatch() {
      const rows = await db
        .select({
          account: customImages.account,
          regionId: customImages.regionId,
          images: sql<number>`count(*)::int`,
        })
        .from(customImages)
        .where(and(isNull(customImages.deletedAt), transitional))
        .groupBy(customImages.account, customImages.regionId);
      return rows;
    },

    async imagesToWatch(scope) {
      const rows = await db
        .select({ imageId: customImages.imageId })
        .from(customImages)
        .where(
          and(
            eq(customImages.account, scope.account),
            eq(customImages.regionId, scope.regionId),
            isNull(customImages.deletedAt),
            transitional,
          ),
        )
        .orderBy(customImages.imageId);
      return rows.map((row) => row.imageId);
    },
  };
  return withDatabaseErrors(store, target);
}
