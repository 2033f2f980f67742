import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { addEndpoint } from '../../src/events/webhook-endpoints.ts';
import { QUEUE_NAMES, WEBHOOK_SWEEP_SCHEDULER_ID } from '../../src/jobs/queues.ts';
import {
  enqueueDeliveriesForRun,
  startWebhookWorker,
  type WebhookWorker,
} from '../../src/jobs/webhook-delivery-jobs.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { Secret } from '../../src/shared/secret.ts';
import { rejection } from '../support/rejection.ts';
import { rows } from '../support/sync-harness.ts';
import { createTestDatabase, uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';
import { seedEvents } from '../support/webhook-fixtures.ts';
import {
  randomWebhookSecret,
  startWebhookReceiver,
  verifyStandardWebhook,
} from '../support/webhook-receiver.ts';

const SECRET = randomWebhookSecret();

// The BullMQ side against real Redis (a unique prefix per test) and this file's PostgreSQL.
describe('webhook delivery jobs', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(sweepEveryMs: number) {
    const databaseUrl = await createTestDatabase();
    const config = loadConfig(
      { DATABASE_URL: databaseUrl, WEBHOOK_RETRY_SCHEDULE: '100ms,100ms', WEBHOOK_TIMEOUT: '1s' },
      { readFile: () => '' },
    );
    const app: App = createApp(config, { logger: silentLogger });
    const sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    const receiver = await startWebhookReceiver();
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    const prefix = uniquePrefix('webhooks');
    cleanups.push(
      () => app.close(),
      () => sql.end(),
      () => receiver.close(),
      () => connection.quit(),
    );
    const start = async (schedulerCheckMs?: number): Promise<WebhookWorker> => {
      const worker = await startWebhookWorker(
        {
          delivery: app.webhookDelivery(),
          store: app.webhookStore(),
          clock: app.clock,
          logger: silentLogger,
        },
        { connection, prefix, sweepEveryMs, ...(schedulerCheckMs === undefined ? {} : { schedulerCheckMs }) },
      );
      cleanups.push(async () => {
        await worker.queue.obliterate({ force: true });
        await worker.close();
      });
      return worker;
    };
    await addEndpoint(app.webhookStore(), app.ids, {
      url: `${receiver.url}/hook`,
      format: 'standard',
      secret: new Secret(SECRET),
      eventTypes: null,
      accounts: null,
      regionIds: null,
      includeBaseline: false,
    });
    return { app, sql, receiver, start, prefix, connection };
  }

  it('delivers the jobs enqueued after commit, retrying through delayed jobs, each webhook-id once', async () => {
    const { app, sql, receiver, start } = await setup(60_000);
    receiver.answer = (_request, count) => (count < 2 ? { status: 500 } : { status: 200 });
    const worker = await start();
    const processed: { name: string; data: unknown }[] = [];
    worker.worker.on('active', (job) => processed.push({ name: job.name, data: job.data }));
    const ids = await seedEvents(sql, app.database().db, 5);
    const [runId] = (await rows<{ id: string }>(sql, 'select id::text from sync_runs')).map((r) => r.id);
    expect(await enqueueDeliveriesForRun(worker.queue, app.webhookStore(), runId ?? '', app.clock)).toBe(5);
    await waitFor('5 deliveries delivered', async () =>
      (await rows(sql, "select 1 from webhook_deliveries where status = 'delivered'")).length === 5
        ? true
        : undefined,
    );
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
    expect(receiver.requests).toHaveLength(15);
    for (const request of receiver.requests) verifyStandardWebhook(SECRET, request);
    // Job data holds ids only, never the endpoint's secret or URL.
    const deliverJobs = processed.filter((job) => job.name === 'deliver');
    expect(deliverJobs.length).toBeGreaterThan(0);
    for (const job of deliverJobs) {
      expect(JSON.stringify(job.data)).toMatch(/^\{"endpointId":"[0-9a-f-]{36}"\}$/);
    }
  });

  it('loses nothing when the process fails between the commit and the enqueue: the sweep delivers', async () => {
    const { app, sql, receiver, start, prefix } = await setup(200);
    const ids = await seedEvents(sql, app.database().db, 4);
    const [runId] = (await rows<{ id: string }>(sql, 'select id::text from sync_runs')).map((r) => r.id);
    // The injected failure: the enqueue after commit cannot reach Redis.
    const unreachable = new Redis({
      port: 1,
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    unreachable.on('error', () => undefined);
    const broken = new Queue(QUEUE_NAMES.webhookDelivery, { connection: unreachable, prefix });
    broken.on('error', () => undefined);
    expect(
      await rejection(enqueueDeliveriesForRun(broken, app.webhookStore(), runId ?? '', app.clock)),
    ).toBeInstanceOf(Error);
    await broken.close().catch(() => undefined);
    unreachable.disconnect();
    expect((await rows(sql, "select 1 from webhook_deliveries where status = 'pending'")).length).toBe(4);

    const worker = await start();
    let sweeps = 0;
    worker.worker.on('completed', (job) => {
      if (job.name === 'sweep') sweeps += 1;
    });
    await waitFor('the sweep to enqueue and the worker to deliver all 4', async () =>
      (await rows(sql, "select 1 from webhook_deliveries where status = 'delivered'")).length === 4
        ? true
        : undefined,
    );
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
    expect(receiver.requests).toHaveLength(4);
    // Sweeps over delivered rows add nothing.
    const swept = sweeps;
    await waitFor('two more sweeps', () => sweeps >= swept + 2);
    const queued = await worker.queue.getJobs(['waiting', 'delayed', 'prioritized']);
    expect(queued.filter((job) => job.name === 'deliver')).toEqual([]);
    expect(receiver.requests).toHaveLength(4);
  });

  it('puts the sweep scheduler back when Redis loses it without a reconnect (a flush, an eviction)', async () => {
    const { start } = await setup(60_000);
    const worker = await start(100);
    expect(await worker.queue.getJobScheduler(WEBHOOK_SWEEP_SCHEDULER_ID)).toBeDefined();
    await worker.queue.removeJobScheduler(WEBHOOK_SWEEP_SCHEDULER_ID);
    await waitFor(
      'the sweep scheduler back',
      async () => (await worker.queue.getJobScheduler(WEBHOOK_SWEEP_SCHEDULER_ID)) !== undefined,
    );
  });

  it('gives each webhook-id once when the worker and an in-process deliverer (sync --once) race', async () => {
    const { app, sql, receiver, start } = await setup(50);
    const other = createApp(app.config, { logger: silentLogger });
    cleanups.push(() => other.close());
    await start();
    const ids = await seedEvents(sql, app.database().db, 80);
    await other.webhookDelivery().drain({ timeoutMs: 5_000 });
    await waitFor('all 80 delivered', async () =>
      (await rows(sql, "select 1 from webhook_deliveries where status = 'delivered'")).length === 80
        ? true
        : undefined,
    );
    expect(receiver.requests).toHaveLength(80);
    expect(receiver.acceptedIds().sort()).toEqual([...ids].sort());
  });

  it('fails malformed, unknown and non-retryable jobs after one attempt, and retries one the database could not serve', async () => {
    const { app, start, connection } = await setup(60_000);
    const failures = new Map<string, number>();
    const watch = (worker: WebhookWorker) =>
      worker.worker.on('failed', (job) => {
        if (job?.id) failures.set(job.id, (failures.get(job.id) ?? 0) + 1);
      });
    const worker = await start();
    watch(worker);
    await worker.queue.add('deliver', { endpointId: 'not-an-id' }, { jobId: 'malformed' });
    await worker.queue.add('frobnicate', {}, { jobId: 'unknown' });

    // Workers whose database cannot serve: one missing (only an operator can fix that), one refusing.
    const elsewhere = async (databaseUrl: string) => {
      const other = createApp(loadConfig({ DATABASE_URL: databaseUrl }, { readFile: () => '' }), {
        logger: silentLogger,
      });
      const otherWorker = await startWebhookWorker(
        {
          delivery: other.webhookDelivery(),
          store: other.webhookStore(),
          clock: other.clock,
          logger: silentLogger,
        },
        { connection, prefix: uniquePrefix('webhooks-broken'), sweepEveryMs: 60_000 },
      );
      cleanups.push(async () => {
        await otherWorker.queue.obliterate({ force: true });
        await otherWorker.close();
        await other.close();
      });
      watch(otherWorker);
      return otherWorker;
    };
    const missing = new URL(app.config.databaseUrl);
    missing.pathname = `/swas_missing_${Date.now()}`;
    const noDatabase = await elsewhere(missing.toString());
    const down = await elsewhere('postgres://postgres@127.0.0.1:1/postgres');
    const endpointId = app.ids.uuid();
    await noDatabase.queue.add('deliver', { endpointId }, { jobId: 'no-database' });
    await down.queue.add('deliver', { endpointId }, { jobId: 'database-down' });

    await waitFor('the database-down job to be tried again', () => (failures.get('database-down') ?? 0) >= 2);
    for (const [queue, id] of [
      [worker.queue, 'malformed'],
      [worker.queue, 'unknown'],
      [noDatabase.queue, 'no-database'],
    ] as const) {
      await waitFor(`${id} to fail`, () => failures.has(id));
      expect(failures.get(id), id).toBe(1);
      // Failed for good (removed), not waiting for another attempt.
      expect(await queue.getJob(id), id).toBeUndefined();
    }
  });
});
