import { partialReason, type SyncStore } from '../sync/run-sync.ts';
import type { Db } from './client.ts';
import { isDatabaseFailure, toDatabaseError } from './errors.ts';
import { createRegionStore } from './region-store.ts';
import { createSyncRunStore } from './sync-run-store.ts';

/**
 * The {@link SyncStore} port of `sync/run-sync.ts` over PostgreSQL. Failures come out as coded
 * AppErrors (`db.unreachable`, `db.query`, …) naming `target` (host:port/database).
 */
export function createSyncStore(db: Db, target = 'the database'): SyncStore {
  const runs = createSyncRunStore(db);
  const regions = createRegionStore(db);
  const coded = async <T>(work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      throw isDatabaseFailure(error) ? toDatabaseError(error, target) : error;
    }
  };
  return {
    startRun: (run) =>
      coded(() =>
        runs.startRun({
          id: run.id,
          account: run.scope.account,
          regionId: run.scope.regionId,
          trigger: run.trigger,
          startedAt: run.startedAt,
        }),
      ),

    commitRegion: (run, outcome, plan) =>
      coded(() =>
        regions.withRegionLock(run.scope, async (tx) => {
          const computed = plan(await regions.loadRegionState(tx, run.scope));
          await regions.applyPlan(tx, run.scope, run.id, computed, outcome.finishedAt);
          await runs.finishRun(tx, {
            id: run.id,
            status: computed.status,
            finishedAt: outcome.finishedAt,
            apiCalls: outcome.apiCalls,
            pages: outcome.pages,
            ...computed.counts,
            error: partialReason(computed, outcome, run.trigger),
            complete: outcome.complete,
          });
          return computed;
        }),
      ),

    async failRun(run, outcome, error) {
      await coded(() =>
        runs.failRun({
          id: run.id,
          finishedAt: outcome.finishedAt,
          error,
          apiCalls: outcome.apiCalls,
          pages: outcome.pages,
        }),
      );
    },
  };
}
