import { type Worker as BullWorker, DelayedError, type Job, Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PendingDelivery, WebhookStore } from '../db/webhook-store.ts';
import type { WebhookDelivery } from '../events/webhook-delivery.ts';
import type { Logger } from '../observability/logger.ts';
import type { Clock } from '../shared/clock.ts';
import {
  type DeliverJobData,
  deliverJobId,
  JOB_NAMES,
  QUEUE_NAMES,
  WEBHOOK_DELIVERY_JOB_OPTIONS,
  WEBHOOK_SWEEP_EVERY_MS,
  WEBHOOK_SWEEP_SCHEDULER_ID,
  WEBHOOK_WORKER_CONCURRENCY,
} from './queues.ts';

/** How long a job waits when this process already has its maximum in flight to the endpoint. */
const BUSY_DELAY_MS = 250;

/** Adds one `deliver` job per pending delivery, delayed until it is due (ids only in job data). */
export async function enqueueDeliveries(
  queue: Queue,
  pending: readonly PendingDelivery[],
  nowMs: number,
): Promise<void> {
  if (pending.length === 0) return;
  await queue.addBulk(
    pending.map((delivery) => ({
      name: JOB_NAMES.deliver,
      data: { deliveryId: delivery.id, endpointId: delivery.endpointId } satisfies DeliverJobData,
      opts: {
        jobId: deliverJobId(delivery.id, delivery.attempts),
        delay: Math.max(0, delivery.nextAttemptAt - nowMs),
      },
    })),
  );
}

/**
 * After a sync commits: enqueue its deliveries. If this fails (Redis down, the process dies
 * first), nothing is lost: the rows are committed and the sweep enqueues them.
 */
export async function enqueueDeliveriesForRun(
  queue: Queue,
  store: WebhookStore,
  runId: string,
  clock: Clock,
): Promise<number> {
  const pending = await store.pendingForRun(runId);
  await enqueueDeliveries(queue, pending, clock.now());
  return pending.length;
}

export interface WebhookJobsDeps {
  delivery: WebhookDelivery;
  store: WebhookStore;
  clock: Clock;
  logger: Logger;
}

/**
 * The processor of the webhook queue. `deliver`: one attempt through the delivery engine; a retry
 * is enqueued as the next attempt's delayed job; a job that is early, or whose endpoint is at its
 * in-flight limit here, goes back to delayed (so a slow endpoint never takes every slot). `sweep`:
 * enqueues the pending deliveries that are due soon and not leased, whatever happened to their
 * jobs; job ids make that idempotent.
 */
export function createWebhookJobProcessor(
  deps: WebhookJobsDeps,
  queue: Queue,
  sweepEveryMs = WEBHOOK_SWEEP_EVERY_MS,
) {
  const log = deps.logger.child({ component: 'webhook-jobs' });
  return async (job: Job, token?: string, signal?: AbortSignal): Promise<string | number> => {
    switch (job.name) {
      case JOB_NAMES.deliver: {
        const { deliveryId, endpointId } = job.data as DeliverJobData;
        const result = await deps.delivery.deliverById(deliveryId, endpointId, signal);
        switch (result.state) {
          case 'retry':
            await enqueueDeliveries(queue, [result.next], deps.clock.now());
            return result.state;
          case 'busy':
          case 'not-due': {
            const at =
              result.state === 'busy'
                ? deps.clock.now() + BUSY_DELAY_MS
                : Math.max(result.nextAttemptAt, deps.clock.now() + 10);
            await job.moveToDelayed(at, token);
            throw new DelayedError();
          }
          default:
            return result.state;
        }
      }
      case JOB_NAMES.sweep: {
        const pending = await deps.store.pendingUnleased(5_000, sweepEveryMs);
        await enqueueDeliveries(queue, pending, deps.clock.now());
        if (pending.length > 0)
          log.debug({ count: pending.length }, 'swept pending deliveries into the queue');
        return pending.length;
      }
      default:
        throw new Error(`unknown job ${job.name} in ${QUEUE_NAMES.webhookDelivery}`);
    }
  };
}

export interface WebhookWorkerOptions {
  /** ioredis connection for the worker (`maxRetriesPerRequest: null`). */
  connection: Redis;
  /** BullMQ key prefix (tests use a unique one). */
  prefix?: string;
  concurrency?: number;
  sweepEveryMs?: number;
}

export interface WebhookWorker {
  queue: Queue;
  worker: BullWorker;
  close(): Promise<void>;
}

/**
 * The delivery side of the `worker` process: the queue, its worker and the sweep scheduler. The
 * caller owns the connection (and quits it after `close`).
 */
export async function startWebhookWorker(
  deps: WebhookJobsDeps,
  options: WebhookWorkerOptions,
): Promise<WebhookWorker> {
  const prefix = options.prefix === undefined ? {} : { prefix: options.prefix };
  const sweepEveryMs = options.sweepEveryMs ?? WEBHOOK_SWEEP_EVERY_MS;
  const queue = new Queue(QUEUE_NAMES.webhookDelivery, {
    connection: options.connection,
    ...prefix,
    defaultJobOptions: WEBHOOK_DELIVERY_JOB_OPTIONS,
  });
  const log = deps.logger.child({ component: 'webhook-jobs' });
  queue.on('error', (err) => log.warn({ err }, 'webhook queue error'));
  const worker = new Worker(
    QUEUE_NAMES.webhookDelivery,
    createWebhookJobProcessor(deps, queue, sweepEveryMs),
    {
      connection: options.connection,
      ...prefix,
      concurrency: options.concurrency ?? WEBHOOK_WORKER_CONCURRENCY,
    },
  );
  worker.on('error', (err) => log.warn({ err }, 'webhook worker error'));
  worker.on('failed', (job, err) => log.warn({ err, jobId: job?.id }, 'webhook job failed'));
  await queue.upsertJobScheduler(
    WEBHOOK_SWEEP_SCHEDULER_ID,
    { every: sweepEveryMs },
    { name: JOB_NAMES.sweep },
  );
  return {
    queue,
    worker,
    close: async () => {
      await worker.close();
      await queue.close();
    },
  };
}
