import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { IdSource } from '../shared/ids.ts';
import { type FullSyncAccount, type FullSyncReport, runFullSync } from './full-sync.ts';
import type { RunTrigger, Scope } from './model.ts';
import { type ImageLister, type RegionSyncResult, runRegionSync, type SyncStore } from './run-sync.ts';

export interface RegionSyncsDeps {
  /** The account's API reader; may throw (unknown account, no credentials): that region fails. */
  listerFor(account: string): ImageLister;
  /** ListRegions of the account (`SWAS_REGIONS=all`). */
  discoverRegions(account: string, signal?: AbortSignal): Promise<string[]>;
  store: SyncStore;
  clock: Clock;
  ids: IdSource;
  /** SYNC_DELETE_BRAKE, a share in (0, 1]. */
  deleteBrake: number;
  /** SYNC_CONCURRENCY: region syncs in flight at once in {@link RegionSyncs.syncAll}. */
  concurrency: number;
  /** Told of every region sync that ended, whoever asked for it (logs, metrics). Must not throw. */
  onResult?: (result: RegionSyncResult, trigger: RunTrigger) => void;
}

export interface RegionSyncOptions {
  trigger: RunTrigger;
  /** A watch poll: re-read these ids only, never delete. */
  watchImageIds?: readonly string[];
  signal?: AbortSignal;
}

export interface SyncAllOptions {
  trigger: RunTrigger;
  signal?: AbortSignal;
  /** Progress, as each region ends. */
  onProgress?: (result: RegionSyncResult, done: number, total: number) => void;
}

/**
 * The one use case of a region sync, shared by its drivers (`sync --once` and the worker's job
 * processors): the composition root builds it once with the store and the API clients.
 */
export interface RegionSyncs {
  /** One region sync. Never throws: whatever fails (the API, the database, even recording the failure) is in the result. */
  syncRegion(scope: Scope, options: RegionSyncOptions): Promise<RegionSyncResult>;
  /** Every region of these accounts, discovery first, at most `concurrency` at once; never drops a region's result. */
  syncAll(accounts: readonly FullSyncAccount[], options: SyncAllOptions): Promise<FullSyncReport>;
}

export function createRegionSyncs(deps: RegionSyncsDeps): RegionSyncs {
  async function syncRegion(scope: Scope, options: RegionSyncOptions): Promise<RegionSyncResult> {
    // Resolved on first call, after the run row exists, so that an account the process cannot
    // read (no credentials) is a recorded failure of the region, not a lost one.
    const lister: ImageLister = {
      // `known` (the scope's stored hashes) lets the listing keep unchanged images as ids and hashes.
      listAllImages: (regionId, signal, known) =>
        deps.listerFor(scope.account).listAllImages(regionId, signal, known),
      listImagesByIds: (regionId, imageIds, signal) =>
        deps.listerFor(scope.account).listImagesByIds(regionId, imageIds, signal),
    };
    const began = deps.clock.now();
    let result: RegionSyncResult;
    try {
      result = await runRegionSync(
        { lister, store: deps.store, clock: deps.clock, ids: deps.ids },
        {
          scope,
          trigger: options.trigger,
          deleteBrake: deps.deleteBrake,
          ...(options.watchImageIds === undefined ? {} : { watchImageIds: options.watchImageIds }),
          ...(options.signal === undefined ? {} : { signal: options.signal }),
        },
      );
    } catch (error) {
      // runRegionSync reports failures in its result; this is the guard for a defect there.
      result = {
        runId: '',
        scope,
        status: 'failed',
        apiCalls: 0,
        pages: 0,
        counts: { imagesSeen: 0, created: 0, updated: 0, deleted: 0, events: 0 },
        durationMs: deps.clock.now() - began,
        error: error instanceof AppError ? `${error.code}: ${error.message}` : errorMessage(error),
        ...(error instanceof AppError ? { errorCode: error.code, retryable: error.retryable } : {}),
      };
    }
    try {
      deps.onResult?.(result, options.trigger);
    } catch {
      // An observer's failure is not the region's.
    }
    return result;
  }

  return {
    syncRegion,
    syncAll: (accounts, options) =>
      runFullSync(
        {
          concurrency: deps.concurrency,
          discoverRegions: (account) => deps.discoverRegions(account, options.signal),
          syncRegion: (scope) =>
            syncRegion(scope, {
              trigger: options.trigger,
              ...(options.signal === undefined ? {} : { signal: options.signal }),
            }),
          ...(options.onProgress === undefined ? {} : { onResult: options.onProgress }),
        },
        accounts,
      ),
  };
}
