import { type Worker as BullWorker, type Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { isDatabaseFailure, toDatabaseError } from '../db/errors.ts';
import type { EndpointDue, WebhookStore } from '../db/webhook-store.ts';
import type { WebhookDelivery } from '../events/webhook-delivery.ts';
import type { Logger } from '../observability/logger.ts';
import { AppError, errorMessage } from '../shared/app-error.ts';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Adds one `deliver` job per endpoint, delayed until its deliveries can be claimed (ids only in job data). */
async function enqueueEndpoints(
  queue: Queue,
  due: readonly Pick<EndpointDue, 'endpointId' | 'dueAt'>[],
  nowMs: number,
  jobId: (endpoint: Pick<EndpointDue, 'endpointId' | 'dueAt'>) => string,
): Promise<void> {
  if (due.length === 0) return;
  await queue.addBulk(
    due.map((endpoint) => ({
      name: JOB_NAMES.deliver,
      data: { endpointId: endpoint.endpointId } satisfies DeliverJobData,
      opts: { jobId: jobId(endpoint), delay: Math.max(0, endpoint.dueAt - nowMs) },
    })),
  );
}

/**
 * After a sync commits: one `deliver` job per endpoint its events fan out to. If this fails
 * (Redis down, the process dies first), nothing is lost: the rows are committed and the sweep
 * finds them. Returns the number of pending deliveries of the run.
 */
export async function enqueueDeliveriesForRun(
  queue: Queue,
  store: WebhookStore,
  runId: string,
  clock: Clock,
): Promise<number> {
  const endpoints = await store.endpointsOfRun(runId);
  await enqueueEndpoints(queue, endpoints, clock.now(), (endpoint) =>
    deliverJobId.forRun(endpoint.endpointId, runId),
  );
  return endpoints.reduce((sum, endpoint) => sum + endpoint.count, 0);
}

export interface WebhookJobsDeps {
  delivery: WebhookDelivery;
  store: WebhookStore;
  clock: Clock;
  logger: Logger;
  /** `host:port/database`, for the message of a database failure. Default `PostgreSQL`. */
  databaseTarget?: string;
}

function deliverJobData(data: unknown): DeliverJobData {
  const endpointId = (data as { endpointId?: unknown } | null)?.endpointId;
  if (typeof endpointId !== 'string' || !UUID.test(endpointId)) {
    throw new AppError('webhook.job', `a deliver job needs an endpoint id, got ${JSON.stringify(data)}`);
  }
  return { endpointId };
}

/**
 * The processor of the webhook queue. `deliver`: delivers the endpoint's due deliveries (batched
 * claims and outcome writes, see docs/webhook-delivery.md), then adds a delayed job for when its
 * next pending delivery falls due (a retry). `sweep`: adds a job for every endpoint with
 * deliveries due soon, whatever happened to their jobs; job ids make that idempotent. Failures are
 * translated for BullMQ here: retryable ones (the database away) are rethrown so BullMQ backs
 * off; anything else (malformed data, an unknown job, a non-retryable error) fails at once.
 */
export function createWebhookJobProcessor(
  deps: WebhookJobsDeps,
  queue: Queue,
  sweepEveryMs = WEBHOOK_SWEEP_EVERY_MS,
  /** Aborted when the worker stops: runs stop claiming, attempts in flight finish. */
  stop?: AbortSignal,
) {
  const log = deps.logger.child({ component: 'webhook-jobs' });

  async function process(job: Job): Promise<string | number> {
    switch (job.name) {
      case JOB_NAMES.deliver: {
        const { endpointId } = deliverJobData(job.data);
        const run = await deps.delivery.deliverEndpoint(endpointId, stop ? { stop } : {});
        if (run.state === 'joined') return run.state;
        if (run.nextDueAt !== null) {
          const next = { endpointId, dueAt: run.nextDueAt };
          await enqueueEndpoints(queue, [next], deps.clock.now(), () =>
            deliverJobId.dueAt(endpointId, next.dueAt),
          );
        }
        return run.report.attempts;
      }
      case JOB_NAMES.sweep: {
        const due = await deps.store.dueEndpoints(sweepEveryMs);
        await enqueueEndpoints(queue, due, deps.clock.now(), (endpoint) =>
          deliverJobId.dueAt(endpoint.endpointId, endpoint.dueAt),
        );
        if (due.length > 0) log.debug({ endpoints: due.length }, 'swept endpoints with pending deliveries');
        return due.length;
      }
      default:
        throw new AppError('webhook.job', `unknown job ${job.name} in ${QUEUE_NAMES.webhookDelivery}`);
    }
  }

  function translate(error: unknown): Error {
    const coded = isDatabaseFailure(error)
      ? toDatabaseError(error, deps.databaseTarget ?? 'PostgreSQL')
      : error;
    if (coded instanceof AppError) {
      return coded.retryable ? coded : new UnrecoverableError(`${coded.code}: ${coded.message}`);
    }
    // Anything else (Redis refusing the follow-up job, …) may well work next time.
    return coded instanceof Error ? coded : new Error(errorMessage(coded));
  }

  return async (job: Job): Promise<string | number> => {
    try {
      return await process(job);
    } catch (error) {
      throw translate(error);
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
  /** How often it checks that the sweep's scheduler is still in Redis, ms (default 5 s). */
  schedulerCheckMs?: number;
  /**
   * Receives the queue's and the worker's errors (`source` names which). The worker process
   * passes its outage log here, so a Redis outage is one line; default: a warning per error.
   */
  onError?: (source: string, error: unknown) => void;
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
  const log = deps.logger.child({ component: 'webhook-jobs' });
  const onError =
    options.onError ?? ((source: string, err: unknown) => log.warn({ err, source }, `${source} error`));
  const stopping = new AbortController();
  const queue = new Queue(QUEUE_NAMES.webhookDelivery, {
    connection: options.connection,
    ...prefix,
    defaultJobOptions: WEBHOOK_DELIVERY_JOB_OPTIONS,
  });
  queue.on('error', (error) => onError('webhook queue', error));
  const worker = new Worker(
    QUEUE_NAMES.webhookDelivery,
    createWebhookJobProcessor(deps, queue, sweepEveryMs, stopping.signal),
    {
      connection: options.connection,
      ...prefix,
      concurrency: options.concurrency ?? WEBHOOK_WORKER_CONCURRENCY,
    },
  );
  worker.on('error', (error) => onError('webhook worker', error));
  worker.on('failed', (job, err) => {
    // A retried job is logged when it fails for good; the sweep covers what it would have done.
    if (job && job.attemptsMade < (job.opts.attempts ?? 1) && !(err instanceof UnrecoverableError)) return;
    onError('webhook job', err);
  });
  const upsertSweep = () =>
    queue.upsertJobScheduler(WEBHOOK_SWEEP_SCHEDULER_ID, { every: sweepEveryMs }, { name: JOB_NAMES.sweep });
  await upsertSweep();
  // A Redis that comes back empty lost the scheduler too: without it, deliveries whose jobs were
  // lost would wait for a restart. Upserting is idempotent, so every reconnect does it.
  const onReady = () =>
    void upsertSweep().catch((error: unknown) => onError('webhook sweep scheduler', error));
  options.connection.on('ready', onReady);
  // Keys can go without a reconnect too (FLUSHALL, an eviction): look for the scheduler now and
  // then, and put it back only when missing (an upsert also queues a sweep at once).
  const restore = setInterval(() => {
    void queue
      .getJobScheduler(WEBHOOK_SWEEP_SCHEDULER_ID)
      .then((scheduler) => (scheduler ? undefined : upsertSweep()))
      .catch((error: unknown) => onError('webhook sweep scheduler', error));
  }, options.schedulerCheckMs ?? 5_000);
  restore.unref();
  return {
    queue,
    worker,
    close: async () => {
      clearInterval(restore);
      stopping.abort();
      options.connection.off('ready', onReady);
      await worker.close();
      await queue.close();
    },
  };
}
