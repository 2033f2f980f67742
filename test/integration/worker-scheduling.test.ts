import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, inject, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { type Environment, loadConfig } from '../../src/config/load-config.ts';
import { QUEUE_NAMES, SCHEDULER_IDS } from '../../src/jobs/queues.ts';
import type { SyncWorker } from '../../src/jobs/sync-worker.ts';
import { createLogger, type Logger, silentLogger } from '../../src/observability/logger.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createTestDatabase, uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

// The worker in-process over the shared test Redis (a prefix of its own per test) and a database
// of this file's own: what it schedules and what it syncs at start-up.
describe('worker scheduling', () => {
  let simulator: Simulator;
  let databaseUrl: string;
  let sql: pg.Client;
  let redis: Redis;
  const running: { app: App; worker: SyncWorker }[] = [];
  const queues: Queue[] = [];

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 11,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 4 },
        { regionId: 'cn-shanghai', images: 2 },
        { regionId: 'cn-beijing', images: 1_500 },
      ],
    });
    redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: null });
  });
  // Each test syncs into a database of its own, so what one synced is not "recent" for the next.
  beforeEach(async () => {
    databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
  });
  afterEach(async () => {
    await sql.end();
    for (const { app, worker } of running.splice(0)) {
      await worker.stop();
      await app.close();
    }
    for (const queue of queues.splice(0)) await queue.close();
  });
  afterAll(async () => {
    redis?.disconnect();
    await simulator?.close();
  });

  async function startAppWorker(prefix: string, env: Environment = {}, logger: Logger = silentLogger) {
    const config = loadConfig(
      {
        DATABASE_URL: databaseUrl,
        REDIS_URL: inject('redisUrl'),
        SWAS_ENDPOINT: simulator.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
        SWAS_RATE_LIMIT: '1000/1s',
        SWAS_REGIONS: 'cn-hangzhou,cn-shanghai',
        SYNC_SCHEDULE: '1h',
        SYNC_WATCH_INTERVAL: 'off',
        HTTP_PORT: '0',
        ...env,
      },
      { readFile: () => '' },
    );
    const app = createApp(config, { logger, redisPrefix: prefix, httpHost: '127.0.0.1' });
    const worker = await app.worker({ probeIntervalMs: 200 });
    running.push({ app, worker });
    await worker.start();
    return { app, worker };
  }
  const queue = (prefix: string, name: string) => {
    const q = new Queue(name, { connection: redis, prefix });
    queues.push(q);
    return q;
  };
  const fullRuns = async (regionId: string) =>
    Number(
      (
        await sql.query<{ n: string }>(
          "select count(*) as n from sync_runs where region_id = $1 and trigger <> 'watch'",
          [regionId],
        )
      ).rows[0]?.n,
    );

  it('keeps exactly its schedulers: the cron in its time zone, no watch when off, nothing stale', async () => {
    const prefix = uniquePrefix('worker-schedulers');
    const plan = queue(prefix, QUEUE_NAMES.syncPlan);
    // Left by an older configuration: a per-region scheduler and a watch tick.
    await plan.upsertJobScheduler('sync:default:cn-qingdao', { every: 60_000 }, { name: 'sync' });
    await plan.upsertJobScheduler(SCHEDULER_IDS.watch, { every: 60_000 }, { name: 'plan-watch' });
    await startAppWorker(prefix, { SYNC_SCHEDULE: '0 */5 * * * *', SYNC_TZ: 'Asia/Shanghai' });
    const schedulers = await plan.getJobSchedulers();
    expect(schedulers.map((s) => [s.key, s.pattern, s.tz])).toEqual([
      [SCHEDULER_IDS.fullSync, '0 */5 * * * *', 'Asia/Shanghai'],
    ]);
  });

  it('restores a scheduler that Redis lost while the worker runs', async () => {
    const prefix = uniquePrefix('worker-restore');
    const plan = queue(prefix, QUEUE_NAMES.syncPlan);
    await startAppWorker(prefix, { SYNC_WATCH_INTERVAL: '1m' });
    expect(await plan.getJobSchedulersCount()).toBe(2);
    await plan.removeJobScheduler(SCHEDULER_IDS.watch);
    await waitFor(
      'the watch scheduler back',
      async () => (await plan.getJobScheduler(SCHEDULER_IDS.watch)) !== undefined,
    );
  });

  it('keeps the schedulers of the replica that started last when replicas are configured differently', async () => {
    const prefix = uniquePrefix('worker-replicas');
    const plan = queue(prefix, QUEUE_NAMES.syncPlan);
    const older: string[] = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        older.push(String(chunk));
        done();
      },
    });
    await startAppWorker(
      prefix,
      { SYNC_SCHEDULE: '1h', SYNC_WATCH_INTERVAL: '1m' },
      createLogger({ level: 'warn', destination, pretty: false }),
    );
    // A rolling deploy: the new configuration starts while the old replica still runs.
    await startAppWorker(prefix, { SYNC_SCHEDULE: '2h', SYNC_WATCH_INTERVAL: 'off' });
    await waitFor('the older replica to defer', () =>
      older.some((line) =>
        line.includes('a replica that started later schedules with another SYNC_SCHEDULE'),
      ),
    );
    // Its probes (every 200 ms) no longer put its own schedulers back: the newer one's stay.
    const everyOf = async () => (await plan.getJobSchedulers()).map((s) => [s.key, Number(s.every)]).sort();
    expect(await everyOf()).toEqual([[SCHEDULER_IDS.fullSync, 7_200_000]]);
    expect(older.filter((line) => line.includes('started later'))).toHaveLength(1);

    // The newer one stops (a canary ends): the older one takes its schedulers back.
    const [, newer] = running;
    await newer?.worker.stop();
    const own = [
      [SCHEDULER_IDS.fullSync, 3_600_000],
      [SCHEDULER_IDS.watch, 60_000],
    ].sort();
    await waitFor('the older replica’s schedulers back', async () =>
      JSON.stringify(await everyOf()) === JSON.stringify(own) ? true : undefined,
    );
    // A replica that vanished without stopping holds the schedulers only until its lease lapses.
    const ownerKey = `${prefix}:${QUEUE_NAMES.syncPlan}:scheduler-config`;
    await redis.set(ownerKey, 'a replica killed mid-flight', 'PX', 500);
    await plan.removeJobScheduler(SCHEDULER_IDS.watch);
    await waitFor('the watch scheduler restored once the lease lapsed', async () =>
      (await plan.getJobScheduler(SCHEDULER_IDS.watch)) !== undefined ? true : undefined,
    );
    expect(await redis.get(ownerKey)).not.toBe('a replica killed mid-flight');
  });

  it('at start-up syncs only the regions not synced within the interval, and closes abandoned runs', async () => {
    const prefix = uniquePrefix('worker-due');
    // cn-hangzhou was synced a moment ago by another replica; a run of cn-shanghai died long ago.
    await sql.query(
      `insert into sync_runs (id, account, region_id, trigger, status, started_at, finished_at, complete)
       values ($1, 'default', 'cn-hangzhou', 'schedule', 'succeeded', now() - interval '10 minutes', now() - interval '10 minutes', true),
              ($2, 'default', 'cn-shanghai', 'schedule', 'running', now() - interval '2 hours', null, false)`,
      [randomUUID(), randomUUID()],
    );
    await startAppWorker(prefix);
    await waitFor('a sync of cn-shanghai', async () => {
      const { rows } = await sql.query(
        "select 1 from sync_runs where region_id = 'cn-shanghai' and status = 'succeeded'",
      );
      return rows.length === 1;
    });
    const regionQueue = queue(prefix, QUEUE_NAMES.regionSync);
    await waitFor('the queue to drain', async () => {
      const counts = await regionQueue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed');
      return counts.waiting === 0 && counts.active === 0 && counts.delayed === 0 && counts.completed === 1;
    });
    expect(await fullRuns('cn-hangzhou')).toBe(1);
    const abandoned = await sql.query<{ error: string }>(
      "select error from sync_runs where region_id = 'cn-shanghai' and status = 'failed'",
    );
    expect(abandoned.rows[0]?.error).toMatch(/^abandoned/);
  });

  it('with a short budget, a watch poll is served while a long full sync pages, and the full sync still ends', async () => {
    const watched = simulator.admin.addImage('cn-shanghai', { Status: '4' });
    const prefix = uniquePrefix('worker-budget');
    // 15 pages of cn-beijing at 3 calls a second: about 5 s of paging in one budget with the polls.
    await startAppWorker(prefix, {
      SWAS_RATE_LIMIT: '3/1s',
      SWAS_REGIONS: 'cn-beijing,cn-shanghai',
      SYNC_WATCH_INTERVAL: '1s',
    });
    await waitFor('the start-up sync of cn-shanghai', async () => {
      const { rows } = await sql.query(
        "select 1 from sync_runs where region_id = 'cn-shanghai' and status = 'succeeded'",
      );
      return rows.length === 1;
    });
    simulator.admin.updateImage('cn-shanghai', watched.ImageId, { Status: '3' });
    const detected = await waitFor(
      'image.failed',
      async () =>
        (
          await sql.query<{ occurred_at: Date }>(
            "select occurred_at from image_events where type = 'image.failed' and image_id = $1",
            [watched.ImageId],
          )
        ).rows[0],
      { timeoutMs: 20_000 },
    );
    const beijing = await waitFor(
      'the full sync of cn-beijing',
      async () =>
        (
          await sql.query<{ status: string; started_at: Date; finished_at: Date }>(
            "select status, started_at, finished_at from sync_runs where region_id = 'cn-beijing' and status <> 'running'",
          )
        ).rows[0],
      { timeoutMs: 30_000 },
    );
    expect(beijing.status).toBe('succeeded');
    // The failure was seen while cn-beijing was still paging, not after it.
    expect(detected.occurred_at.getTime()).toBeGreaterThan(beijing.started_at.getTime());
    expect(detected.occurred_at.getTime()).toBeLessThan(beijing.finished_at.getTime());
  });

  it('watch polls spend at most half of the account quota, so full syncs go on beside them', async () => {
    // 6 regions, each with an image in status 4: polls every second would want 6 calls a second and
    // full syncs (every 2 s) 3 more, against a quota of 4. Polls may have 2 of them.
    const regions = Array.from({ length: 6 }, (_, i) => `xx-watch-${i + 1}`);
    for (const regionId of regions) simulator.admin.setRegion(regionId, [{ Status: '4' }, { Status: '1' }]);
    await startAppWorker(uniquePrefix('watch-share'), {
      SWAS_RATE_LIMIT: '4/1s',
      SWAS_REGIONS: regions.join(','),
      SYNC_SCHEDULE: '*/2 * * * * *',
      SYNC_WATCH_INTERVAL: '1s',
    });
    const count = async (trigger: 'watch' | 'full', since: Date) =>
      Number(
        (
          await sql.query<{ n: string }>(
            `select count(*) as n from sync_runs where started_at >= $1 and status = 'succeeded'
                and (trigger = 'watch') = $2`,
            [since, trigger === 'watch'],
          )
        ).rows[0]?.n,
      );
    await waitFor('the start-up syncs', async () => (await count('full', new Date(0))) >= regions.length, {
      timeoutMs: 20_000,
    });
    const since = Date.now();
    await waitFor('8 full syncs beside the polls', async () => (await count('full', new Date(since))) >= 8, {
      timeoutMs: 20_000,
    });
    const seconds = (Date.now() - since) / 1_000;
    const polls = await count('watch', new Date(since));
    // Polls went on, at their share (2 a second, one window of slack) and no more.
    expect(polls).toBeGreaterThanOrEqual(Math.floor(seconds));
    expect(polls).toBeLessThanOrEqual(2 * (Math.ceil(seconds) + 1));
  });
});
