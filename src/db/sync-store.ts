import type { Clock } from '../shared/clock.ts';
import type { SyncStore } from '../sync/run-sync.ts';
import type { Database } from './client.ts';
import { codedDatabaseCall } from './errors.ts';
import {
  applyPlan,
  findImagesElsewhere,
  lockRegion,
  readRegionKeys,
  readRegionSnapshot,
  readRegionStates,
} from './region-store.ts';
import { createSyncRunStore } from './sync-run-store.ts';
import { insertDeliveriesForRun } from './webhook-outbox.ts';

export interface SyncStoreOptions {
  /** ms between heartbeats of a running run; a run silent for {@link ABANDON_AFTER_HEARTBEATS} of them is abandoned. */
  heartbeatMs: number;
  /** ms to wait for another process's commit of the same scope. */
  lockTimeoutMs: number;
  clock: Clock;
  /** Told when a heartbeat fails (the database may be away); the run goes on. */
  onHeartbeatError?: (error: unknown) => void;
}

/** Heartbeats a run may miss before another process closes it as abandoned. */
export const ABANDON_AFTER_HEARTBEATS = 4;

/**
 * The {@link SyncStore} port of `sync/run-sync.ts` over PostgreSQL. Failures come out as coded
 * AppErrors (`db.unreachable`, `db.query`, `db.lock_timeout`, …) naming `host:port/database`.
 */
export function createSyncStore(database: Database, options: SyncStoreOptions): SyncStore {
  const { db, target } = database;
  const runs = createSyncRunStore(db);
  const abandon = { staleAfterMs: options.heartbeatMs * ABANDON_AFTER_HEARTBEATS };
  const coded = <T>(work: () => Promise<T>): Promise<T> => codedDatabaseCall(work, target);
  return {
    async startRun(run) {
      const observedAt = await coded(() =>
        runs.startRun(
          { id: run.id, account: run.scope.account, regionId: run.scope.regionId, trigger: run.trigger },
          abandon,
        ),
      );
      const timer = setInterval(() => {
        runs.heartbeat(run.id).catch((error: unknown) => options.onHeartbeatError?.(error));
      }, options.heartbeatMs);
      // A heartbeat never keeps the process alive on its own.
      timer.unref();
      return { observedAt, release: () => clearInterval(timer) };
    },

    withRegion: (scope, signal, work) =>
      coded(() =>
        database.transaction(async (tx) => {
          await lockRegion(tx, scope, {
            timeoutMs: options.lockTimeoutMs,
            signal,
            clock: options.clock,
          });
          return work({
            readKeys: (snapshot) => readRegionKeys(tx, scope, snapshot),
            readStates: (imageIds) => readRegionStates(tx, scope, imageIds),
            findElsewhere: (imageIds) => findImagesElsewhere(tx, scope, imageIds),
            async apply(run, started, outcome, plan) {
              if (plan.status !== 'superseded') {
                await applyPlan(tx, scope, run.id, plan, started.observedAt);
                // No events, no deliveries: a no-op sync spends no statement on the outbox.
                if (plan.events.length > 0) await insertDeliveriesForRun(tx.db, run.id);
              }
              await runs.finishRun(tx.db, {
                id: run.id,
                status: plan.status,
                apiCalls: outcome.apiCalls,
                pages: outcome.pages,
                ...plan.counts,
                error: plan.reason,
                complete: plan.complete,
                heldImageIds: plan.held?.imageIds ?? [],
              });
            },
          });
        }),
      ),

    readSnapshot: (scope) => coded(() => readRegionSnapshot({ client: database.pool }, scope)),

    async failRun(run, outcome, error) {
      await coded(() =>
        runs.failRun({ id: run.id, error, apiCalls: outcome.apiCalls, pages: outcome.pages }),
      );
    },
  };
}
