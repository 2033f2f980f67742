import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { ScheduleStore } from '../db/schedule-store.ts';
import type { Logger } from '../observability/logger.ts';
import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Scope } from '../sync/model.ts';
import type { RegionSyncs } from '../sync/region-syncs.ts';
import type { RegionSyncResult } from '../sync/run-sync.ts';
import { JOB_NAMES, type PlanJobData, type RegionJobData } from './queues.ts';
import type { SyncPlanner } from './sync-planner.ts';

export interface SyncJobsDeps {
  regionSyncs: RegionSyncs;
  planner: SyncPlanner;
  store: ScheduleStore;
  /** Whether this process's configuration still has the scope (a job may predate a config change). */
  isConfigured(scope: Scope): boolean;
  /** The full-sync schedule's current interval, ms. */
  intervalMs(): number;
  /** Aborted when the worker gives up waiting for in-flight syncs at shutdown. */
  shutdownSignal: AbortSignal;
  logger: Logger;
  /** Told of failures that mean a dependency is away (for the outage log), and of successes. */
  onDatabaseFailure(error: unknown): void;
  onDatabaseSuccess(): void;
  /**
   * Milliseconds until the account's rate budget could grant a listing call (0: now). When given,
   * a full sync whose account is quota-bound goes back to the delayed set instead of taking a
   * slot another account's sync could use.
   */
  budgetWaitMs?(account: string): Promise<number>;
}

/** A full sync waits in its slot for a budget this close; longer, it yields the slot. */
const YIELD_SLOT_AFTER_MS = 2_000;

/** What a region or watch job returns to BullMQ (kept with the finished job for a while). */
export interface RegionJobResult {
  runId?: string;
  status: RegionSyncResult['status'] | 'skipped';
  reason?: string;
}

/**
 * The thin processors of the worker's queues: decode the job, call one use case, and translate the
 * outcome for BullMQ (a retryable failure is rethrown so BullMQ backs off; any other failure is an
 * UnrecoverableError). Only this folder knows BullMQ.
 */
export function createSyncJobProcessors(deps: SyncJobsDeps) {
  const log = deps.logger.child({ component: 'jobs' });

  /** A plan tick: full syncs of the regions not synced in the last half interval, or watch polls. */
  async function plan(job: Job<PlanJobData>): Promise<number> {
    // A tick of a scheduler this version does not own (removed at the next reconcile) plans nothing.
    if (job.name !== JOB_NAMES.planFull && job.name !== JOB_NAMES.planWatch) return 0;
    try {
      const count =
        job.name === JOB_NAMES.planWatch
          ? await deps.planner.planWatch()
          : // Half an interval: a tick right after a start-up plan (or a restored scheduler's
            // immediate first tick) does not sync again what was just synced.
            await deps.planner.planFull(Math.floor(deps.intervalMs() / 2));
      deps.onDatabaseSuccess();
      return count;
    } catch (error) {
      throw translate(error);
    }
  }

  async function region(
    job: Job<RegionJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<RegionJobResult> {
    const scope = { account: job.data.account, regionId: job.data.regionId };
    if (!deps.isConfigured(scope)) return { status: 'skipped', reason: 'not configured in this process' };
    const waitMs = deps.budgetWaitMs ? await deps.budgetWaitMs(scope.account).catch(() => 0) : 0;
    if (waitMs > YIELD_SLOT_AFTER_MS && token !== undefined) {
      // Fairness between accounts: a sync that would only wait for its account's quota leaves
      // the slot to others and comes back when the budget frees (still deduplicated meanwhile).
      await job.moveToDelayed(Date.now() + waitMs, token);
      throw new DelayedError();
    }
    const result = await deps.regionSyncs.syncRegion(scope, {
      trigger: job.data.trigger,
      signal: combine(signal),
    });
    return outcome(job, result);
  }

  async function watch(
    job: Job<RegionJobData>,
    _token?: string,
    signal?: AbortSignal,
  ): Promise<RegionJobResult> {
    const scope = { account: job.data.account, regionId: job.data.regionId };
    if (!deps.isConfigured(scope)) return { status: 'skipped', reason: 'not configured in this process' };
    let imageIds: string[];
    try {
      // Read when the poll runs, not when it was planned: a full sync may have settled them since.
      imageIds = await deps.store.imagesToWatch(scope);
    } catch (error) {
      throw translate(error);
    }
    if (imageIds.length === 0) return { status: 'skipped', reason: 'no image in a transitional status' };
    const result = await deps.regionSyncs.syncRegion(scope, {
      trigger: 'watch',
      watchImageIds: imageIds,
      signal: combine(signal),
    });
    return outcome(job, result);
  }

  function combine(signal: AbortSignal | undefined): AbortSignal {
    return signal === undefined ? deps.shutdownSignal : AbortSignal.any([signal, deps.shutdownSignal]);
  }

  function outcome(job: Job<RegionJobData>, result: RegionSyncResult): RegionJobResult {
    const fields = {
      jobId: job.id,
      account: result.scope.account,
      regionId: result.scope.regionId,
      trigger: job.data.trigger,
      syncRunId: result.runId,
      status: result.status,
      attempt: job.attemptsMade + 1,
      apiCalls: result.apiCalls,
      durationMs: result.durationMs,
      ...result.counts,
    };
    if (result.status !== 'failed') {
      deps.onDatabaseSuccess();
      log.info(fields, job.data.trigger === 'watch' ? 'watch poll done' : 'region synced');
      return {
        runId: result.runId,
        status: result.status,
        ...(result.error ? { reason: result.error } : {}),
      };
    }
    const message = `${result.scope.account} ${result.scope.regionId}: ${result.error ?? 'failed'}`;
    if (result.errorCode === 'db.unreachable')
      deps.onDatabaseFailure(new AppError('db.unreachable', result.error ?? ''));
    else
      log.warn(
        { ...fields, error: result.error },
        job.data.trigger === 'watch' ? 'watch poll failed' : 'region sync failed',
      );
    // Retryable (throttling, 5xx, the database away) or cut short by this worker's shutdown:
    // BullMQ retries with backoff, possibly on another replica. Anything else would fail again.
    const retry = result.retryable === true || deps.shutdownSignal.aborted;
    throw retry ? new Error(message) : new UnrecoverableError(message);
  }

  function translate(error: unknown): Error {
    if (error instanceof AppError) {
      if (error.code === 'db.unreachable') deps.onDatabaseFailure(error);
      return error.retryable ? error : new UnrecoverableError(`${error.code}: ${error.message}`);
    }
    return error instanceof Error ? error : new Error(errorMessage(error));
  }

  return {
    plan,
    region,
    watch,
  };
}
