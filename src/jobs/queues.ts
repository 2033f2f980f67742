import type { DefaultJobOptions } from 'bullmq';
import type { Schedule } from '../config/schedule.ts';
import type { RunTrigger, Scope } from '../sync/model.ts';

/**
 * Queue names, job names, scheduler ids, deduplication ids and job options in one place (house
 * style). Job data carries names and ids only, never credentials: BullMQ keeps it in clear text.
 */
export const QUEUE_NAMES = {
  /** `deliver` jobs (deliver an endpoint's due deliveries), and the `sweep` job of its scheduler. */
  webhookDelivery: 'webhook-delivery',
  /** The planners' ticks: one job per SYNC_SCHEDULE or SYNC_WATCH_INTERVAL slot. */
  syncPlan: 'sync-plan',
  /** One job per full region sync. */
  regionSync: 'region-sync',
  /** One job per watch poll of a region, served by slots of its own. */
  watchPoll: 'watch-poll',
} as const;

export const JOB_NAMES = {
  deliver: 'deliver',
  sweep: 'sweep',
  planFull: 'plan-full',
  planWatch: 'plan-watch',
  syncRegion: 'sync-region',
  watchRegion: 'watch-region',
} as const;

/** The job schedulers of the `sync-plan` queue; any other scheduler there is removed. */
export const SCHEDULER_IDS = {
  fullSync: 'full-sync-plan',
  watch: 'watch-plan',
} as const;

/** Prefix of every BullMQ key (tests pass a unique one). */
export const DEFAULT_QUEUE_PREFIX = 'swas-inventory';

export interface PlanJobData {
  kind: 'full' | 'watch';
}

/** A region sync or a watch poll: which scope, and why. Nothing else (the ids to watch are read at run time). */
export interface RegionJobData {
  account: string;
  regionId: string;
  trigger: RunTrigger;
}

/**
 * One id per (kind, account, region): while a job with it is waiting, delayed (retry) or active,
 * adding another is a no-op, so a slow region never piles up jobs. JSON keeps any account name
 * unambiguous.
 */
export const regionDeduplicationId = (kind: 'full' | 'watch', scope: Scope): string =>
  JSON.stringify([kind, scope.account, scope.regionId]);

/** BullMQ repeat options of a schedule: `every` for an interval, a cron pattern in its time zone. */
export function scheduleRepeat(schedule: Schedule): { every: number } | { pattern: string; tz: string } {
  switch (schedule.kind) {
    case 'interval':
      return { every: schedule.everyMs };
    case 'cron':
      return { pattern: schedule.pattern, tz: schedule.tz };
    default: {
      const never: never = schedule;
      throw new Error(`unknown schedule ${JSON.stringify(never)}`);
    }
  }
}

/**
 * Plan ticks: a few attempts a couple of seconds apart, since the next tick may be a day away (a
 * daily cron) and a database blip must not skip a cycle; planning twice is harmless (one job per
 * region, deduplicated). A short history: every queue keeps a bounded number of finished jobs so
 * Redis memory stays flat.
 */
export const PLAN_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 3,
  backoff: { type: 'exponential', delay: 2_000, jitter: 0.5 },
  removeOnComplete: { count: 50 },
  removeOnFail: { count: 200 },
};

/**
 * Region syncs: a retryable failure (API outage, database away) backs off exponentially with
 * jitter; anything else fails at once (UnrecoverableError). Each API call already has retries of
 * its own, so these cover longer outages.
 */
export const REGION_SYNC_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 4,
  backoff: { type: 'exponential', delay: 5_000, jitter: 0.5 },
  removeOnComplete: { age: 24 * 3600, count: 1_000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 1_000 },
};

/** Watch polls: one retry; the next watch tick polls again anyway. */
export const WATCH_POLL_JOB_OPTIONS: DefaultJobOptions = {
  attempts: 2,
  backoff: { type: 'exponential', delay: 1_000, jitter: 0.5 },
  removeOnComplete: { age: 3600, count: 500 },
  removeOnFail: { age: 24 * 3600, count: 500 },
};

/**
 * Watch polls in flight per process: slots of their own, so full syncs never take them all. A poll
 * may wait in its slot for up to one call spacing of its account, so there are enough for several
 * quota-bound accounts at once; a waiting poll costs a timer, not a connection.
 */
export const WATCH_POLL_CONCURRENCY = 16;

/** The job scheduler that runs `sweep` (re-enqueues deliveries whose enqueue was lost). */
export const WEBHOOK_SWEEP_SCHEDULER_ID = 'webhook-sweep';

/** An endpoint to deliver to: the job carries its id only (the URL and secret stay in the database). */
export interface DeliverJobData {
  endpointId: string;
}

/**
 * Job ids of `deliver` jobs (no `:` allowed). After a sync commits, one per (endpoint, run), so a
 * repeated enqueue is a no-op; for deliveries falling due later (retries, the sweep), one per
 * (endpoint, due instant), so the sweep and a finished run asking for the same moment add one job.
 */
export const deliverJobId = {
  forRun: (endpointId: string, runId: string): string => `deliver-${endpointId}-run-${runId}`,
  dueAt: (endpointId: string, dueAtMs: number): string => `deliver-${endpointId}-at-${Math.round(dueAtMs)}`,
};

/**
 * Deliver jobs are removed once finished: the table is the record and the source of truth, and a
 * finished job left in Redis would keep its id taken. Their own retries cover processor failures
 * (the database down), not HTTP answers, which the delivery schedule handles.
 */
export const WEBHOOK_DELIVERY_JOB_OPTIONS: DefaultJobOptions = {
  removeOnComplete: true,
  removeOnFail: true,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
};

/**
 * Endpoints delivered to at once by one worker process: a job holds its slot while it delivers to
 * its endpoint, so a hanging endpoint takes one slot, never another endpoint's.
 */
export const WEBHOOK_WORKER_CONCURRENCY = 32;

/** How often the sweep runs, ms. */
export const WEBHOOK_SWEEP_EVERY_MS = 30_000;
