import type { DefaultJobOptions } from 'bullmq';

/**
 * Queue names, job names, job-id builders and job options in one place (house style). Job data
 * carries ids only: BullMQ stores it in clear text in Redis.
 */
export const QUEUE_NAMES = {
  /** One `deliver` job per delivery attempt, and the `sweep` job of the scheduler below. */
  webhookDelivery: 'webhook-delivery',
} as const;

export const JOB_NAMES = {
  deliver: 'deliver',
  sweep: 'sweep',
} as const;

/** The job scheduler that runs `sweep` (re-enqueues deliveries whose enqueue was lost). */
export const WEBHOOK_SWEEP_SCHEDULER_ID = 'webhook-sweep';

export interface DeliverJobData {
  deliveryId: number;
  /** Lets a worker see that the endpoint is at its in-flight limit before touching the database. */
  endpointId: string;
}

/**
 * One job id per (delivery, attempt): adding the same attempt twice (the enqueue after commit and
 * a sweep) is a no-op while the job exists, and the next attempt gets a fresh id. No `:` in ids.
 */
export const deliverJobId = (deliveryId: number, attempts: number): string =>
  `delivery-${deliveryId}-${attempts}`;

/**
 * Deliver jobs are removed once finished: the table is the record and the source of truth, and a
 * finished job left in Redis would keep its id taken, so a sweep could not re-enqueue that
 * attempt. Their own retries cover processor failures (the database down), not HTTP answers,
 * which the delivery schedule handles.
 */
export const WEBHOOK_DELIVERY_JOB_OPTIONS: DefaultJobOptions = {
  removeOnComplete: true,
  removeOnFail: true,
  attempts: 5,
  backoff: { type: 'exponential', delay: 1_000 },
};

/** Deliveries attempted at once by one worker process (each endpoint gets at most a few of them). */
export const WEBHOOK_WORKER_CONCURRENCY = 32;

/** How often the sweep runs, ms. */
export const WEBHOOK_SWEEP_EVERY_MS = 30_000;
