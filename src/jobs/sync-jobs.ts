import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { ScheduleStore } from '../db/schedule-store.ts';
import type { Logger } from '../observability/logger.ts';
import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Rate } from '../shared/duration.ts';
import type { Scope } from '../sync/model.ts';
import type { RegionSyncs } from '../sync/region-syncs.ts';
import type { RegionSyncResult } from '../sync/run-sync.ts';
import { createAccountSlots } from './account-slots.ts';
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
   * The accounts' rate budgets. When given, a full sync or watch poll whose account is quota-bound
   * goes back to the delayed set instead of waiting in a slot another account's job could use.
   */
  budget?: AccountBudgetView;
  /** Full syncs of one account in flight in this process at most (see account-slots.ts). */
  maxSyncsPerAccount?: number;
}

/** What the processors need to know of an account's budget. */
export interface AccountBudgetView {
  /** Milliseconds until a listing call could be granted (0: now); counts nothing. */
  waitMs(account: string): Promise<number>;
  /**
   * 0 when a listing call could be granted now; otherwise milliseconds until this caller's turn,
   * reserved in the budget every replica shares, so deferred syncs come back one per freed call.
   */
  turnMs(account: string): Promise<number>;
  /**
   * Takes one call of the account's watch-poll share (half its quota, shared by every replica):
   * 0 when taken, else milliseconds until the share has room (nothing taken).
   */
  takeWatchShare(account: string): Promise<number>;
  rate(account: string): Rate;
}

/** How soon a sync deferred only because its account holds its share of this process's slots tries again, ms at most. */
const AT_CAPACITY_RETRY_MS = 250;

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
  const slots = createAccountSlots({ maxPerAccount: deps.maxSyncsPerAccount ?? 1 });
  // A budget that cannot answer (Redis away) defers nothing: the sync's own calls wait or fail.
  const budgetWait = (account: string) => deps.budget?.waitMs(account).catch(() => 0) ?? Promise.resolve(0);
  const budgetTurn = (account: string) => deps.budget?.turnMs(account).catch(() => 0) ?? Promise.resolve(0);

  /** Sends the job back to the delayed set for `delayMs`; the slot is free for other accounts' jobs. */
  async function defer(job: Job<RegionJobData>, token: string, delayMs: number): Promise<never> {
    // BullMQ scores its delayed set on this process's clock, not an injected one.
    await job.moveToDelayed(Date.now() + Math.ceil(delayMs), token);
    throw new DelayedError();
  }

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
    let release = () => {};
    if (deps.budget !== undefined && token !== undefined) {
      // Fairness between accounts: a sync that would only wait for its account's quota leaves the
      // slot to others and comes back at its account's turn (still deduplicated meanwhile).
      const slot = slots.take(scope.account);
      if (slot === undefined) {
        const { intervalMs, limit } = deps.budget.rate(scope.account);
        return defer(job, token, Math.min(intervalMs / limit, AT_CAPACITY_RETRY_MS));
      }
      const turnMs = await budgetTurn(scope.account);
      if (turnMs > 0) {
        slot.release();
        return defer(job, token, turnMs);
      }
      release = slot.release;
    }
    try {
      const result = await deps.regionSyncs.syncRegion(scope, {
        trigger: job.data.trigger,
        signal: combine(signal),
      });
      return outcome(job, result);
    } finally {
      release();
    }
  }

  async function watch(
    job: Job<RegionJobData>,
    token?: string,
    signal?: AbortSignal,
  ): Promise<RegionJobResult> {
    const scope = { account: job.data.account, regionId: job.data.regionId };
    if (!deps.isConfigured(scope)) return { status: 'skipped', reason: 'not configured in this process' };
    if (deps.budget !== undefined && token !== undefined) {
      // A poll waits in its slot for up to one call spacing, first in line for its account's next
      // call (full syncs start only when a call is free); a longer wait (a spent burst, a throttle
      // hold) would keep the watch slots from other accounts' polls.
      const waitMs = await budgetWait(scope.account);
      const { intervalMs, limit } = deps.budget.rate(scope.account);
      if (waitMs > intervalMs / limit) return defer(job, token, Math.min(waitMs, intervalMs));
    }
    let imageIds: string[];
    try {
      // Read when the poll runs, not when it was planned: a full sync may have settled them since.
      imageIds = await deps.store.imagesToWatch(scope);
    } catch (error) {
      throw translate(error);
    }
    if (imageIds.length === 0) return { status: 'skipped', reason: 'no image in a transitional status' };
    if (deps.budget !== undefined && token !== undefined) {
      // Polls spend at most their share of the account's calls: transitional images in many
      // regions must not starve the account's full syncs (nor full syncs the polls: see above).
      const shareWaitMs = await deps.budget.takeWatchShare(scope.account).catch(() => 0);
      if (shareWaitMs > 0) return defer(job, token, shareWaitMs);
    }
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
    // The run's error already reads "db.unreachable: …": passed as it is, not coded twice.
    if (result.errorCode === 'db.unreachable') deps.onDatabaseFailure(new Error(result.error));
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
