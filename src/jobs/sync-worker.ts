import { type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Config } from '../config/load-config.ts';
import type { ScheduleStore } from '../db/schedule-store.ts';
import type { Logger } from '../observability/logger.ts';
import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { Scope } from '../sync/model.ts';
import type { RegionSyncs } from '../sync/region-syncs.ts';
import { createOutageLog, type Dependency, isRedisConnectionError, type OutageLog } from './outages.ts';
import {
  DEFAULT_QUEUE_PREFIX,
  JOB_NAMES,
  PLAN_JOB_OPTIONS,
  type PlanJobData,
  QUEUE_NAMES,
  REGION_SYNC_JOB_OPTIONS,
  type RegionJobData,
  SCHEDULER_IDS,
  scheduleRepeat,
  WATCH_POLL_CONCURRENCY,
  WATCH_POLL_JOB_OPTIONS,
} from './queues.ts';
import {
  claimSchedulers,
  type DesiredScheduler,
  ownsSchedulers,
  reconcileSchedulers,
  releaseSchedulers,
  schedulerFingerprint,
} from './schedulers.ts';
import { type AccountBudgetView, createSyncJobProcessors } from './sync-jobs.ts';
import { createSyncPlanner, isConfiguredScope, scheduleIntervalMs } from './sync-planner.ts';

/**
 * Something else the worker process runs beside the region syncs (webhook deliveries, …): started
 * after the sync queues with the same Redis connection and prefix, closed before the connection.
 */
export interface WorkerComponent {
  name: string;
  start(context: WorkerComponentContext): Promise<{ close(): Promise<void> }>;
}

export interface WorkerComponentContext {
  connection: Redis;
  prefix: string;
  /**
   * Where a component reports its errors: connection failures go to the worker's outage log (one
   * line per outage, not one per failed command), anything else is a warning naming `source`.
   */
  onError(source: string, error: unknown): void;
}

export interface SyncWorkerDeps {
  config: Pick<Config, 'accounts' | 'regions' | 'sync'>;
  logger: Logger;
  clock: Clock;
  regionSyncs: RegionSyncs;
  scheduleStore: ScheduleStore;
  /** ListRegions of an account (`SWAS_REGIONS=all`). */
  /** ListRegions; `signal` ends a discovery still going when the worker stops. */
  discoverRegions(account: string, signal?: AbortSignal): Promise<string[]>;
  /** Throws when PostgreSQL does not answer or its schema is behind (`db.behind`: fatal). */
  checkDatabase(): Promise<void>;
  /** Closes the abandoned runs of every scope (their process died); returns how many. */
  reapAbandoned(): Promise<number>;
  /** For BullMQ (`maxRetriesPerRequest: null`); the caller owns it and quits it after {@link SyncWorker.stop}. */
  connection: Redis;
  /** `host:port` of Redis and PostgreSQL, for the outage lines. */
  targets: Readonly<Record<Dependency, string>>;
  components?: readonly WorkerComponent[];
  /**
   * The operations endpoint (health, readiness, metrics): listening before anything else starts,
   * so that liveness answers while the worker waits for a dependency, and closed last.
   */
  operations?: { start(): Promise<void>; close(): Promise<void> };
  /** See `SyncJobsDeps.budget`. */
  budget?: AccountBudgetView;
}

export interface SyncWorkerOptions {
  /** BullMQ key prefix; default `swas-inventory` (tests pass a unique one). */
  prefix?: string;
  /** How long in-flight syncs may run on after SIGTERM before they are aborted, ms. Default 7 000. */
  shutdownGraceMs?: number;
  /** How often Redis and PostgreSQL are probed and the schedulers checked, ms. Default 5 000. */
  probeIntervalMs?: number;
}

export interface SyncWorker {
  /** Starts serving: reaps abandoned runs, restores the schedulers, syncs the regions that are due. */
  start(): Promise<void>;
  /**
   * Stops taking jobs, lets in-flight ones finish within the grace period, then aborts them (their
   * runs are recorded failed, their jobs retried later by any replica), and closes queues and
   * workers. Never throws; idempotent.
   */
  stop(): Promise<void>;
  /** Whether Redis and PostgreSQL answered at the last probe (for readiness). */
  health(): { redis: boolean; postgres: boolean };
}

/**
 * The long-running `worker`: three queues (plan ticks, full region syncs, watch polls), their
 * workers, the job schedulers that tick the planners, and the probes that keep an outage to one
 * log line and restore the schedulers when Redis comes back empty.
 */
export function createSyncWorker(deps: SyncWorkerDeps, options: SyncWorkerOptions = {}): SyncWorker {
  const { config, clock } = deps;
  const log = deps.logger.child({ component: 'worker' });
  const prefix = options.prefix ?? DEFAULT_QUEUE_PREFIX;
  const graceMs = options.shutdownGraceMs ?? 7_000;
  const probeMs = options.probeIntervalMs ?? 5_000;
  const outages: OutageLog = createOutageLog(log, clock, deps.targets);
  /** Aborts the in-flight syncs when the shutdown grace period ends. */
  const shutdown = new AbortController();
  /** Aborted when stop begins: ends a start-up still waiting for the database, and a region discovery. */
  const startup = new AbortController();
  const connection = deps.connection;

  const accounts = config.accounts
    .filter((account) => account.credentials !== null)
    .map((account) => ({ name: account.name, regions: account.regions ?? config.regions }));
  const isConfigured = (scope: Scope) => isConfiguredScope(accounts, scope);
  const intervalMs = () => scheduleIntervalMs(config.sync.schedule, clock.now());

  const queueOptions = (defaultJobOptions: Queue['defaultJobOptions']) => ({
    connection,
    prefix,
    defaultJobOptions,
  });
  const planQueue = new Queue<PlanJobData>(QUEUE_NAMES.syncPlan, queueOptions(PLAN_JOB_OPTIONS));
  const regionQueue = new Queue<RegionJobData>(QUEUE_NAMES.regionSync, queueOptions(REGION_SYNC_JOB_OPTIONS));
  const watchQueue = new Queue<RegionJobData>(QUEUE_NAMES.watchPoll, queueOptions(WATCH_POLL_JOB_OPTIONS));
  const queues = [planQueue, regionQueue, watchQueue];

  const planner = createSyncPlanner({
    accounts,
    // A plan still discovering regions when the worker stops has nothing left to plan for.
    discoverRegions: (account) => deps.discoverRegions(account, startup.signal),
    store: deps.scheduleStore,
    regionQueue,
    watchQueue,
    clock,
    logger: deps.logger,
  });
  const processors = createSyncJobProcessors({
    regionSyncs: deps.regionSyncs,
    planner,
    store: deps.scheduleStore,
    isConfigured,
    intervalMs,
    shutdownSignal: shutdown.signal,
    logger: deps.logger,
    onDatabaseFailure: (error) => outages.failed('postgres', error),
    onDatabaseSuccess: () => databaseAnswers(),
    ...(deps.budget === undefined ? {} : { budget: deps.budget }),
    // Half the slots at most: a quota-bound account's syncs that page (and wait for its budget
    // between pages) leave the other half to other accounts.
    maxSyncsPerAccount: Math.max(1, Math.floor(config.sync.concurrency / 2)),
  });

  const desiredSchedulers: DesiredScheduler[] = [
    {
      id: SCHEDULER_IDS.fullSync,
      repeat: scheduleRepeat(config.sync.schedule),
      jobName: JOB_NAMES.planFull,
      data: { kind: 'full' },
    },
    ...(config.sync.watchIntervalMs === null
      ? []
      : [
          {
            id: SCHEDULER_IDS.watch,
            repeat: { every: config.sync.watchIntervalMs },
            jobName: JOB_NAMES.planWatch,
            data: { kind: 'watch' as const },
          },
        ]),
  ];

  let workers: Worker[] = [];
  const componentHandles: { name: string; close(): Promise<void> }[] = [];
  let probeTimer: NodeJS.Timeout | undefined;
  let probing = false;
  let started = false;
  let stopping: Promise<void> | undefined;
  let starting: Promise<void> | undefined;
  /** Set once stop has taken the list of components to close (a later one closes itself). */
  let stopFinishedClosing = false;
  const health = { redis: false, postgres: false };
  /** Jobs being processed in this process, and who waits for there to be none. */
  let inFlight = 0;
  const idleWaiters: (() => void)[] = [];
  const idle = () =>
    inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));

  /** Set when a full-sync plan (a tick, or start-up's) failed; cleared when one succeeds. */
  let planMissed = false;
  /**
   * PostgreSQL answers (again). If a full-sync plan failed meanwhile, it is made at once, as a
   * tick does: a tick that failed for good during the outage (a daily cron at 03:00) would
   * otherwise leave its cycle out until the next firing. A blip that cost no plan plans nothing
   * (on a daily schedule that would be an extra cycle).
   */
  const databaseAnswers = (): void => {
    health.postgres = true;
    if (!outages.recovered('postgres') || !planMissed || stopping || !started) return;
    planner.planFull(Math.floor(intervalMs() / 2)).then(
      (due) => {
        planMissed = false;
        if (due > 0) log.info({ due }, `planned ${due} region(s) missed during the outage`);
      },
      (error: unknown) =>
        log.warn({ err: error }, `planning after the outage failed: ${errorMessage(error)}`),
    );
  };
  /**
   * A start-up step that needs PostgreSQL and met an outage after the first check: the outage is
   * logged and the probe plans once it answers, instead of the worker exiting. Other failures end
   * start-up.
   */
  const duringOutage = (error: unknown): void => {
    if (!(error instanceof AppError) || error.code !== 'db.unreachable') throw error;
    health.postgres = false;
    outages.failed('postgres', error);
  };
  const onPlanTick = (job: Job | undefined, missed: boolean) => {
    if (job?.name === JOB_NAMES.planFull) planMissed = missed;
  };

  const onRedisError = (source: string) => (error: unknown) => {
    if (isRedisConnectionError(error) || connection.status !== 'ready') {
      health.redis = false;
      outages.failed('redis', error);
    } else {
      log.warn({ err: error, source }, `${source}: ${errorMessage(error)}`);
    }
  };
  const onReady = () => {
    health.redis = true;
    outages.recovered('redis');
  };
  connection.on('error', onRedisError('redis'));
  connection.on('ready', onReady);
  const onComponentError = (source: string, error: unknown) => {
    if (error instanceof AppError && error.code === 'db.unreachable') outages.failed('postgres', error);
    else onRedisError(source)(error);
  };
  for (const queue of queues) queue.on('error', onRedisError(`queue ${queue.name}`));

  function buildWorker<D, R>(
    name: string,
    processor: (job: Job<D>, token?: string, signal?: AbortSignal) => Promise<R>,
    concurrency: number,
  ): Worker<D, R> {
    // A lost process's job is taken over once its lock lapses: a few heartbeats of the run, and
    // at least 5 s so that a busy event loop does not pass for a dead process.
    const lockDuration = Math.max(5_000, config.sync.heartbeatMs * 4);
    const counted = async (job: Job<D>, token?: string, signal?: AbortSignal) => {
      inFlight++;
      try {
        return await processor(job, token, signal);
      } finally {
        inFlight--;
        if (inFlight === 0) for (const resolve of idleWaiters.splice(0)) resolve();
      }
    };
    const worker = new Worker<D, R>(name, counted, {
      connection,
      prefix,
      concurrency,
      lockDuration,
      stalledInterval: lockDuration,
      maxStalledCount: 2,
      autorun: false,
    });
    worker.on('error', onRedisError(`worker ${name}`));
    worker.on('failed', (job, error) => {
      if (job && job.attemptsMade >= (job.opts.attempts ?? 1)) {
        log.debug({ jobId: job.id, queue: name, reason: error.message }, 'job failed for good');
      }
    });
    return worker;
  }

  const schedulerOwnerKey = `${prefix}:${QUEUE_NAMES.syncPlan}:scheduler-config`;
  const fingerprint = schedulerFingerprint(desiredSchedulers);
  // Six probes without a renewal: the owner is gone, not merely slow.
  const schedulerLeaseMs = probeMs * 6;
  let deferring = false;

  /**
   * Re-creates missing schedulers (Redis lost its data) and removes foreign ones: at start-up as
   * the fleet's configuration from now on, later only while it still is (see claimSchedulers).
   */
  async function ensureSchedulers(startingUp = false): Promise<void> {
    if (startingUp) await claimSchedulers(connection, schedulerOwnerKey, fingerprint, schedulerLeaseMs);
    else if (!(await ownsSchedulers(connection, schedulerOwnerKey, fingerprint, schedulerLeaseMs))) {
      if (!deferring) {
        log.warn(
          'a replica that started later schedules with another SYNC_SCHEDULE or SYNC_WATCH_INTERVAL: its job schedulers stay as they are',
        );
      }
      deferring = true;
      return;
    }
    deferring = false;
    const result = await reconcileSchedulers(
      planQueue,
      connection,
      `${prefix}:${QUEUE_NAMES.syncPlan}:reconcile-lock`,
      desiredSchedulers,
    );
    if (result.upserted.length > 0 || result.removed.length > 0) {
      log.info({ upserted: result.upserted, removed: result.removed }, 'job schedulers updated');
    }
  }

  /** True when `work` settled within `ms` (its timer never keeps the process alive longer). */
  async function settlesWithin(work: Promise<unknown>, ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work.then(() => true),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(false), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        work,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** One probe round: both dependencies answered or not, and the schedulers are in place. */
  async function probe(): Promise<void> {
    if (probing || stopping) return;
    probing = true;
    try {
      try {
        await withTimeout(deps.checkDatabase(), 3_000, 'PostgreSQL');
        databaseAnswers();
      } catch (error) {
        health.postgres = false;
        outages.failed('postgres', error);
      }
      try {
        await withTimeout(connection.ping(), 3_000, 'Redis');
        health.redis = true;
        outages.recovered('redis');
        await withTimeout(ensureSchedulers(), 10_000, 'job schedulers');
      } catch (error) {
        health.redis = false;
        outages.failed('redis', error);
      }
    } finally {
      probing = false;
    }
  }

  /** Waits until PostgreSQL answers with a current schema; an old schema is fatal, an outage is waited out. */
  async function waitForDatabase(): Promise<void> {
    for (;;) {
      try {
        await deps.checkDatabase();
        databaseAnswers();
        return;
      } catch (error) {
        if (error instanceof AppError && error.code === 'db.behind') throw error;
        outages.failed('postgres', error);
        await clock.sleep(Math.min(probeMs, 2_000), startup.signal);
      }
    }
  }

  /**
   * Start-up; a stop during it ends it at the next step (what it made by then is closed by stop,
   * which waits for it), so a signal while it waits for PostgreSQL or Redis exits cleanly.
   */
  async function startUp(): Promise<void> {
    await deps.operations?.start();
    try {
      await waitForDatabase();
    } catch (error) {
      if (startup.signal.aborted) return;
      throw error;
    }
    // The next sync of a region closes its abandoned runs too, so a failed reap is no loss.
    const reaped = await deps.reapAbandoned().catch((error: unknown) => {
      duringOutage(error);
      return 0;
    });
    if (reaped > 0) log.warn({ runs: reaped }, `closed ${reaped} abandoned sync run(s) as failed`);
    if (startup.signal.aborted) return;
    const planWorker = buildWorker(QUEUE_NAMES.syncPlan, processors.plan, 1);
    planWorker.on('failed', (job) => onPlanTick(job, true));
    planWorker.on('completed', (job) => onPlanTick(job, false));
    workers = [
      planWorker,
      buildWorker(QUEUE_NAMES.regionSync, processors.region, config.sync.concurrency),
      buildWorker(QUEUE_NAMES.watchPoll, processors.watch, WATCH_POLL_CONCURRENCY),
    ] as Worker[];
    await ensureSchedulers(true);
    if (startup.signal.aborted) return;
    // Probing (which renews the scheduler lease just claimed) starts now: the rest of start-up
    // has no time bound, and a lapsed lease would hand the schedulers back to an older replica.
    probeTimer = setInterval(() => void probe(), probeMs);
    // A replica that starts syncs only what was not synced within the interval, so a rolling
    // restart of several replicas spends no extra quota.
    const due = await planner.planFull(intervalMs()).catch((error: unknown) => {
      duringOutage(error);
      planMissed = true;
      return 0;
    });
    log.info(
      {
        due,
        schedule: desiredSchedulers[0]?.repeat,
        watchIntervalMs: config.sync.watchIntervalMs,
        concurrency: config.sync.concurrency,
      },
      `worker started: ${due} region(s) due now`,
    );
    if (startup.signal.aborted) return;
    for (const worker of workers) void worker.run().catch(onRedisError(`worker ${worker.name}`));
    for (const component of deps.components ?? []) {
      if (startup.signal.aborted) return;
      const handle = {
        name: component.name,
        ...(await component.start({ connection, prefix, onError: onComponentError })),
      };
      // Started after stop closed the others (it waited for start-up only so long): close it here.
      if (stopFinishedClosing) {
        await handle.close().catch(() => undefined);
        return;
      }
      componentHandles.push(handle);
    }
    if (startup.signal.aborted) return;
    health.redis = connection.status === 'ready';
  }

  return {
    health: () => ({ ...health }),

    async start() {
      if (started) throw new Error('the worker was started already');
      started = true;
      starting = startUp();
      return starting;
    },

    stop() {
      stopping ??= (async () => {
        startup.abort(new AppError('sync.aborted', 'the worker is shutting down'));
        // What start-up has made by the time it ends is closed below (it stops at its next step).
        await settlesWithin(
          (starting ?? Promise.resolve()).catch(() => undefined),
          graceMs,
        );
        clearInterval(probeTimer);
        const allClosed = Promise.allSettled(workers.map((worker) => worker.close()));
        /**
         * Closing waits for the jobs in flight, then tells Redis they ended: once none has been
         * left for a second it has waited enough (with Redis away it would never answer, and the
         * grace period is for syncs to finish, not for Redis). A job handed over meanwhile is
         * waited for too. True when nothing is left in flight within `ms`.
         */
        const drained = async (ms: number): Promise<boolean> => {
          const until = performance.now() + ms;
          for (;;) {
            const left = until - performance.now();
            if (left <= 0) return inFlight === 0;
            // Closed (its close may settle on an error) still waits for the jobs, never spins.
            await settlesWithin(
              Promise.race([allClosed.then(() => idle()), idle().then(() => clock.sleep(1_000))]),
              left,
            );
            if (inFlight === 0) return true;
          }
        };
        if (!(await drained(graceMs))) {
          log.warn(
            { graceMs },
            'in-flight syncs did not finish in time: aborting them (their runs are recorded failed, their jobs retried)',
          );
          shutdown.abort(new AppError('sync.aborted', 'the worker is shutting down', { retryable: true }));
          await drained(2_000);
        }
        if (!(await settlesWithin(allClosed, 0))) {
          await settlesWithin(Promise.allSettled(workers.map((worker) => worker.close(true))), 1_000);
        }
        stopFinishedClosing = true;
        for (const component of componentHandles.reverse()) {
          await withTimeout(component.close(), 2_000, component.name).catch((error: unknown) =>
            log.warn({ err: error }, `closing ${component.name} failed`),
          );
        }
        if (connection.status === 'ready') {
          await withTimeout(
            releaseSchedulers(connection, schedulerOwnerKey, fingerprint),
            1_000,
            'Redis',
          ).catch(() => undefined);
        }
        await settlesWithin(Promise.allSettled(queues.map((queue) => queue.close())), 1_000);
        connection.off('ready', onReady);
        await deps.operations
          ?.close()
          .catch((error: unknown) => log.warn({ err: error }, 'closing the operations endpoint failed'));
      })();
      return stopping;
    },
  };
}
