import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import { createSyncWorker, type SyncWorkerDeps } from '../../src/jobs/sync-worker.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { AppError } from '../../src/shared/app-error.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { startRedisServer } from '../support/redis-server.ts';
import { uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

// The worker's own steps around its jobs, with stand-ins for PostgreSQL and the API and real Redis:
// a stop that arrives while it is still starting (whatever start-up makes is closed, so the process
// can exit without a SIGKILL), and a plan tick that fails.
describe('worker lifecycle', () => {
  const connections: Redis[] = [];
  afterAll(() => {
    for (const connection of connections) connection.disconnect();
  });

  /** A schedule store whose only answer that matters is which regions count as recently synced. */
  const scheduleStoreWith = (recentlySynced: () => Promise<{ account: string; regionId: string }[]>) =>
    ({
      recentlySynced,
      scopesToWatch: async () => [],
      imagesToWatch: async () => [],
    }) as unknown as SyncWorkerDeps['scheduleStore'];

  const workerWith = (
    overrides: Partial<SyncWorkerDeps>,
    env: Record<string, string> = {},
    options: { shutdownGraceMs?: number } = {},
  ) => {
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    connections.push(connection);
    const config = loadConfig(
      {
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret',
        SWAS_REGIONS: 'cn-hangzhou',
        SYNC_WATCH_INTERVAL: 'off',
        ...env,
      },
      { readFile: () => '' },
    );
    const prefix = uniquePrefix('worker-startup-stop');
    const worker = createSyncWorker(
      {
        config,
        logger: silentLogger,
        clock: systemClock,
        regionSyncs: {} as SyncWorkerDeps['regionSyncs'],
        scheduleStore: scheduleStoreWith(async () => [{ account: 'default', regionId: 'cn-hangzhou' }]),
        discoverRegions: async () => [],
        checkDatabase: async () => undefined,
        reapAbandoned: async () => 0,
        connection,
        targets: { redis: 'redis', postgres: 'postgres' },
        ...overrides,
      },
      { prefix, probeIntervalMs: 100, shutdownGraceMs: 200, ...options },
    );
    return { worker, connection, prefix };
  };

  it('closes a component that finished starting after the stop', async () => {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const component = { starting: false, started: false, closed: false };
    const { worker } = workerWith({
      components: [
        {
          name: 'deliveries',
          start: async () => {
            component.starting = true;
            await gate;
            component.started = true;
            return {
              close: async () => {
                component.closed = true;
              },
            };
          },
        },
      ],
    });
    const starting = worker.start();
    await waitFor('the component to be starting', () => component.starting);
    await worker.stop();
    release();
    await starting;
    await waitFor('the late component closed', () => component.closed);
    expect(component.started).toBe(true);
  });

  it('does not set up its queues’ workers or schedulers once stopped while closing abandoned runs', async () => {
    let release: () => void = () => undefined;
    let reaping = false;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const { worker, connection, prefix } = workerWith({
      reapAbandoned: async () => {
        reaping = true;
        await gate;
        return 0;
      },
    });
    const starting = worker.start();
    await waitFor('start-up to be closing abandoned runs', () => reaping);
    const stopped = worker.stop();
    release();
    await stopped;
    await starting;
    // No scheduler was written for the plan queue: start-up ended at its next step.
    const keys = await connection.keys(`${prefix}:${QUEUE_NAMES.syncPlan}:repeat*`);
    expect(keys).toEqual([]);
  });

  it('stops within its grace period though Redis went away, with no sync in flight', async () => {
    const redis = await startRedisServer();
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    connections.push(connection);
    let syncs = 0;
    const { worker } = workerWith(
      {
        connection,
        scheduleStore: scheduleStoreWith(async () => []),
        regionSyncs: {
          syncRegion: async () => {
            syncs++;
            return { status: 'succeeded', counts: { events: 0 } };
          },
        } as unknown as SyncWorkerDeps['regionSyncs'],
      },
      { SYNC_SCHEDULE: '1h' },
      { shutdownGraceMs: 7_000 },
    );
    try {
      await worker.start();
      await waitFor('the start-up sync', () => syncs >= 1);
      await redis.stop();
      const stopping = Date.now();
      await worker.stop();
      // Under the 10 s a container runtime gives before SIGKILL; the grace period is for syncs
      // in flight, and there are none.
      expect(Date.now() - stopping).toBeLessThan(5_000);
    } finally {
      await redis.stop();
    }
  });

  it('ends a region discovery still waiting for ListRegions when it stops', async () => {
    let discovery: AbortSignal | undefined;
    const { worker } = workerWith(
      {
        // ListRegions that does not answer: it ends only when its signal does.
        discoverRegions: (_account, signal) => {
          discovery = signal;
          return new Promise((_resolve, reject) =>
            signal?.addEventListener('abort', () => reject(signal.reason), { once: true }),
          );
        },
      },
      { SWAS_REGIONS: 'all', SYNC_SCHEDULE: '1h' },
    );
    const starting = worker.start().catch(() => undefined);
    await waitFor('the first plan to ask for the regions', () => discovery !== undefined);
    await worker.stop();
    expect(discovery?.aborted).toBe(true);
    await starting;
  });

  it('plans nothing extra after a database blip that cost no plan', async () => {
    let plans = 0;
    let checks = 0;
    let down = false;
    const { worker } = workerWith(
      {
        checkDatabase: async () => {
          checks++;
          if (down) throw new AppError('db.unreachable', 'PostgreSQL at db:5432/app is unreachable');
        },
        scheduleStore: scheduleStoreWith(async () => {
          plans++;
          return [{ account: 'default', regionId: 'cn-hangzhou' }];
        }),
      },
      { SYNC_SCHEDULE: '1h' },
    );
    await worker.start();
    try {
      // Start-up's plan and the scheduler's first tick.
      await waitFor('the first two plans', () => plans >= 2);
      down = true;
      await waitFor('the probe to see the outage', () => !worker.health().postgres);
      down = false;
      await waitFor('the probe to see it answer', () => worker.health().postgres);
      const seen = checks;
      await waitFor('two more probe rounds', () => checks >= seen + 2);
      expect(plans).toBe(2);
    } finally {
      await worker.stop();
    }
  });

  it('retries a plan tick that failed on a database blip, so the cycle is not skipped', async () => {
    let calls = 0;
    const { worker, connection, prefix } = workerWith(
      {
        // Start-up: the region counts as synced. First tick: the database is away. Then: not synced.
        scheduleStore: scheduleStoreWith(async () => {
          calls++;
          if (calls === 1) return [{ account: 'default', regionId: 'cn-hangzhou' }];
          if (calls === 2)
            throw new AppError('db.unreachable', 'PostgreSQL at db:5432/app is unreachable', {
              retryable: true,
            });
          return [];
        }),
      },
      { SYNC_SCHEDULE: '1h' },
    );
    await worker.start();
    try {
      // The scheduler's first tick comes at once, meets the outage, and is tried again.
      await waitFor('the tick retried', () => calls >= 3, { timeoutMs: 20_000 });
      const regionSync = new Queue(QUEUE_NAMES.regionSync, { connection, prefix });
      await waitFor(
        'the region queued by the retried tick',
        async () =>
          (await regionSync.getJobs(['waiting', 'active', 'delayed', 'failed', 'completed'])).length > 0,
      );
      await regionSync.close();
    } finally {
      await worker.stop();
    }
  });
});
