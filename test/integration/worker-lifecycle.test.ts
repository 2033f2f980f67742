import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { loadConfig } from '../../src/config/load-config.ts';
import { QUEUE_NAMES } from '../../src/jobs/queues.ts';
import { createSyncWorker, type SyncWorkerDeps } from '../../src/jobs/sync-worker.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { systemClock } from '../../src/shared/clock.ts';
import { uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

// A stop that arrives while the worker is still starting: whatever start-up makes is closed, so
// the process can exit (an orchestrator's SIGTERM during a slow start must not need a SIGKILL).
describe('worker stopped during start-up', () => {
  const connections: Redis[] = [];
  afterAll(() => {
    for (const connection of connections) connection.disconnect();
  });

  const workerWith = (overrides: Partial<SyncWorkerDeps>) => {
    const connection = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
    connections.push(connection);
    const config = loadConfig(
      {
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'id',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'secret',
        SWAS_REGIONS: 'cn-hangzhou',
        SYNC_WATCH_INTERVAL: 'off',
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
        scheduleStore: {
          recentlySynced: async () => [{ account: 'default', regionId: 'cn-hangzhou' }],
          scopesToWatch: async () => [],
          imagesToWatch: async () => [],
        } as unknown as SyncWorkerDeps['scheduleStore'],
        discoverRegions: async () => [],
        checkDatabase: async () => undefined,
        reapAbandoned: async () => 0,
        connection,
        targets: { redis: 'redis', postgres: 'postgres' },
        ...overrides,
      },
      { prefix, probeIntervalMs: 100, shutdownGraceMs: 200 },
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
});
