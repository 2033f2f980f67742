import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { IdSource } from '../shared/ids.ts';
import type { Listing, RegionState, RunStatus, RunTrigger, Scope, SyncPlan } from './model.ts';
import { planSync } from './plan.ts';

/** Reads a scope's images from the API (the SWAS client implements it). */
export interface ImageLister {
  listAllImages(regionId: string, signal?: AbortSignal): Promise<Listing>;
  listImagesByIds(regionId: string, imageIds: readonly string[], signal?: AbortSignal): Promise<Listing>;
}

export interface RunRecord {
  id: string;
  scope: Scope;
  trigger: RunTrigger;
  /** Epoch ms. */
  startedAt: number;
}

export interface RunOutcome {
  apiCalls: number;
  pages: number;
  /** Epoch ms: also the time of every write of the sync (versions, events, last_seen_at). */
  finishedAt: number;
  /** The listing was a complete full listing (SPEC §5.2): it ends the scope's baseline. */
  complete: boolean;
  /** Why a listing was not complete, for the run's `error` column. */
  incompleteReason?: string | undefined;
}

/** The database side of a sync (the db layer implements it). */
export interface SyncStore {
  /** Inserts the run's row with status `running`, committed at once so it is visible while listing. */
  startRun(run: RunRecord): Promise<void>;
  /**
   * In ONE transaction under the scope's lock: reads the region's state, calls `plan` with it,
   * writes the plan and finishes the run row with its counts. Returns the plan it wrote.
   */
  commitRegion(
    run: RunRecord,
    outcome: RunOutcome,
    plan: (region: RegionState) => SyncPlan,
  ): Promise<SyncPlan>;
  /** Finishes the run row as `failed` with the error text; writes nothing else. */
  failRun(run: RunRecord, outcome: RunOutcome, error: string): Promise<void>;
}

export interface RunSyncDeps {
  lister: ImageLister;
  store: SyncStore;
  clock: Clock;
  ids: IdSource;
}

export interface RegionSyncRequest {
  scope: Scope;
  trigger: RunTrigger;
  /** A watch poll re-reads these ids only and never deletes (SPEC §5.5). */
  watchImageIds?: readonly string[];
  /** Share of a region above which deletions are held (SYNC_DELETE_BRAKE). */
  deleteBrake: number;
  signal?: AbortSignal;
}

export interface RegionSyncResult {
  runId: string;
  scope: Scope;
  status: Exclude<RunStatus, 'running'>;
  apiCalls: number;
  pages: number;
  counts: SyncPlan['counts'];
  durationMs: number;
  /** Why the run failed or is partial. */
  error?: string;
  errorCode?: string;
}

const NO_COUNTS: SyncPlan['counts'] = { imagesSeen: 0, created: 0, updated: 0, deleted: 0, events: 0 };

/**
 * One region sync (SPEC §5): record the run, list, then diff and write in one transaction. Any
 * failure leaves the data as it was and records only the run's `failed` row with the cause.
 * Never throws for a failed sync: the result says what happened.
 */
export async function runRegionSync(
  deps: RunSyncDeps,
  request: RegionSyncRequest,
): Promise<RegionSyncResult> {
  const run: RunRecord = {
    id: deps.ids.uuid(),
    scope: request.scope,
    trigger: request.trigger,
    startedAt: deps.clock.now(),
  };
  await deps.store.startRun(run);
  let listing: Listing | undefined;
  try {
    listing =
      request.watchImageIds === undefined
        ? await deps.lister.listAllImages(request.scope.regionId, request.signal)
        : await deps.lister.listImagesByIds(request.scope.regionId, request.watchImageIds, request.signal);
    const done = listing;
    // One instant for the whole write: versions, events and last_seen_at agree on it.
    const now = deps.clock.now();
    const outcome: RunOutcome = {
      apiCalls: done.apiCalls,
      pages: done.pages,
      finishedAt: now,
      complete: done.kind === 'full' && done.complete,
      incompleteReason: done.incompleteReason,
    };
    const plan = await deps.store.commitRegion(run, outcome, (region) =>
      planSync({
        scope: request.scope,
        listing: done,
        region,
        deleteBrake: request.deleteBrake,
        now,
        newId: () => deps.ids.uuid(),
      }),
    );
    const reason = partialReason(plan, outcome, run.trigger);
    return {
      runId: run.id,
      scope: run.scope,
      status: plan.status,
      apiCalls: done.apiCalls,
      pages: done.pages,
      counts: plan.counts,
      durationMs: deps.clock.now() - run.startedAt,
      ...(reason === null ? {} : { error: reason }),
    };
  } catch (error) {
    const apiCalls = listing?.apiCalls ?? numberDetail(error, 'apiCalls');
    const pages = listing?.pages ?? numberDetail(error, 'pages');
    const message = describeError(error);
    await deps.store.failRun(
      run,
      { apiCalls, pages, finishedAt: deps.clock.now(), complete: false },
      message,
    );
    return {
      runId: run.id,
      scope: run.scope,
      status: 'failed',
      apiCalls,
      pages,
      counts: NO_COUNTS,
      durationMs: deps.clock.now() - run.startedAt,
      error: message,
      ...(error instanceof AppError ? { errorCode: error.code } : {}),
    };
  }
}

/**
 * Why a committed run is `partial` (its `error` column and the summary), or null: the deletion
 * brake held, or a full listing stayed incomplete so no deletion was applied.
 */
export function partialReason(
  plan: Pick<SyncPlan, 'held'>,
  outcome: Pick<RunOutcome, 'complete' | 'incompleteReason'>,
  trigger: RunTrigger,
): string | null {
  if (plan.held) return `deletions held: ${plan.held.count} of ${plan.held.total} images`;
  if (outcome.complete || trigger === 'watch') return null;
  return `listing incomplete, deletions not applied: ${outcome.incompleteReason ?? 'unknown reason'}`;
}

function describeError(error: unknown): string {
  return error instanceof AppError ? `${error.code}: ${error.message}` : errorMessage(error);
}

function numberDetail(error: unknown, key: string): number {
  const value = error instanceof AppError ? error.details[key] : undefined;
  return typeof value === 'number' ? value : 0;
}

/**
 * Runs `work` over `items` with at most `concurrency` in flight, results in input order.
 * (SYNC_CONCURRENCY bounds region syncs in flight per process.)
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
