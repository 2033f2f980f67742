import type { RunTrigger, SyncPlan } from '../sync/model.ts';
import type { SyncStore } from '../sync/run-sync.ts';
import type { Db } from './client.ts';
import { applyPlan, createRegionStore, loadRegionState } from './region-store.ts';
import { createSyncRunStore } from './sync-run-store.ts';

/**
 * Whether a run applied a complete full listing, from what the sync port hands over: the planner
 * marks a plan `partial` when its listing was incomplete or when the deletion brake held
 * (`held` set, which happens only on a complete listing); watch polls are never complete.
 */
export function isCompleteRun(trigger: RunTrigger, plan: Pick<SyncPlan, 'status' | 'held'>): boolean {
  if (trigger === 'watch') return false;
  return plan.status === 'succeeded' || plan.held !== null;
}

/** The {@link SyncStore} port of `sync/run-sync.ts` over PostgreSQL. */
export function createSyncStore(db: Db): SyncStore {
  const runs = createSyncRunStore(db);
  const regions = createRegionStore(db);
  return {
    startRun: (run) =>
      runs.startRun({
        id: run.id,
        account: run.scope.account,
        regionId: run.scope.regionId,
        trigger: run.trigger,
        startedAt: run.startedAt,
      }),

    commitRegion: (run, outcome, plan) =>
      regions.withRegionLock(run.scope, async (tx) => {
        const computed = plan(await loadRegionState(tx, run.scope));
        await applyPlan(tx, run.scope, run.id, computed, outcome.finishedAt);
        await runs.finishRun(tx, {
          id: run.id,
          status: computed.status,
          finishedAt: outcome.finishedAt,
          apiCalls: outcome.apiCalls,
          pages: outcome.pages,
          ...computed.counts,
          error: computed.held
            ? `deletions held: ${computed.held.count} of ${computed.held.total} images`
            : computed.status === 'partial' && run.trigger !== 'watch'
              ? 'listing incomplete: deletions not applied'
              : null,
          complete: isCompleteRun(run.trigger, computed),
        });
        return computed;
      }),

    async failRun(run, outcome, error) {
      await runs.failRun({
        id: run.id,
        finishedAt: outcome.finishedAt,
        error,
        apiCalls: outcome.apiCalls,
        pages: outcome.pages,
      });
    },
  };
}
