import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  DEFAULT_QUEUE_PREFIX,
  JOB_NAMES,
  QUEUE_NAMES,
  type RegionJobData,
  regionDeduplicationId,
} from '../../src/jobs/queues.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';
import { startWorker, type WorkerProcess } from '../support/worker-process.ts';

// Worker processes spending per-account quotas that the simulator enforces (counted on arrival):
// its call log says whether it ever throttled, the sync_runs rows say when each region was done.
describe('worker rate budget', () => {
  let simulator: Simulator | undefined;
  let redis: TestRedisServer;
  let sql: pg.Client;
  let databaseUrl: string;
  const workers: WorkerProcess[] = [];
  const files: string[] = [];

  beforeEach(async () => {
    databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    redis = await startRedisServer();
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      worker.kill('SIGKILL');
      await worker.exited;
    }
    await simulator?.close();
    await redis?.stop();
    await sql?.end();
    for (const file of files.splice(0)) await rm(file, { force: true });
  });

  const baseEnv = () => ({
    DATABASE_URL: databaseUrl,
    REDIS_URL: redis.url,
    SWAS_ENDPOINT: simulator?.url ?? '',
    SYNC_SCHEDULE: '1h',
    SYNC_WATCH_INTERVAL: 'off',
    HTTP_PORT: '0',
  });
  const spawnWorker = (env: Record<string, string>) => {
    const worker = startWorker(env);
    workers.push(worker);
    return worker;
  };
  const accountsFile = async (accounts: unknown[]) => {
    const path = join(tmpdir(), `swas-accounts-${randomBytes(4).toString('hex')}.json`);
    files.push(path);
    await writeFile(path, JSON.stringify(accounts));
    return path;
  };
  /** Full runs per account: how many regions ended, and when the last one did. */
  const finished = async (status: string) =>
    (
      await sql.query<{ account: string; n: string; last: Date }>(
        `select account, count(*) as n, max(finished_at) as last from sync_runs
          where trigger <> 'watch' and status = $1 group by account`,
        [status],
      )
    ).rows;

  it('two workers at the quota sync 6 regions of 250 images with zero Throttling answers', async () => {
    const regions = [
      'cn-hangzhou',
      'cn-shanghai',
      'cn-beijing',
      'cn-shenzhen',
      'ap-southeast-1',
      'us-west-1',
    ];
    simulator = await startSimulator({
      port: 0,
      seed: 8,
      quota: { limit: 6, intervalMs: 3_000 },
      regions: regions.map((regionId) => ({ regionId, images: 250 })),
    });
    const env = {
      ...baseEnv(),
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '6/3s',
      SWAS_REGIONS: regions.join(','),
    };
    const [a, b] = [spawnWorker(env), spawnWorker(env)];

    await waitFor(
      'every region synced',
      async () => (await finished('succeeded')).some((row) => Number(row.n) === regions.length),
      { timeoutMs: 60_000, intervalMs: 100 },
    );
    const calls = simulator.admin.calls();
    expect(calls.filter((call) => call.code?.startsWith('Throttling'))).toEqual([]);
    // 3 pages a region, each answered at its first attempt, and no region listed twice.
    expect(calls.filter((call) => call.action === 'ListCustomImages' && call.status === 200)).toHaveLength(
      18,
    );
    expect(calls).toHaveLength(18);
    expect(
      Number(
        (await sql.query<{ n: string }>("select count(*) as n from sync_runs where status <> 'succeeded'"))
          .rows[0]?.n,
      ),
    ).toBe(0);
    expect(`${a.stderr()}${b.stderr()}`).not.toMatch(/"level":(40|50)/);
  });

  it('a 2-region account keeps its own pace beside a quota-bound 30-region account queued ahead of it', async () => {
    const big = Array.from({ length: 30 }, (_, i) => `xx-big-${String(i + 1).padStart(2, '0')}`);
    const small = ['xx-small-1', 'xx-small-2'];
    const quota = { limit: 2, intervalMs: 1_000 };
    simulator = await startSimulator({
      port: 0,
      seed: 9,
      quota,
      accounts: [
        { accessKeyId: 'bigid', accessKeySecret: 'bigsecret' },
        { accessKeyId: 'smallid', accessKeySecret: 'smallsecret' },
      ],
      // Every account sees every region; each account is configured with its own.
      regions: [
        ...big.map((regionId) => ({ regionId, images: 450 })),
        ...small.map((regionId) => ({ regionId, images: 1_500 })),
      ],
    });
    const accounts = await accountsFile([
      {
        name: 'big',
        credentials: { accessKeyIdEnv: 'BIG_ID', accessKeySecretEnv: 'BIG_SECRET' },
        regions: big,
      },
      {
        name: 'small',
        credentials: { accessKeyIdEnv: 'SMALL_ID', accessKeySecretEnv: 'SMALL_SECRET' },
        regions: small,
      },
    ]);
    // The backlog a later schedule tick meets: every big region queued ahead of the small ones.
    const connection = new Redis(redis.url, { maxRetriesPerRequest: null });
    const queue = new Queue<RegionJobData>(QUEUE_NAMES.regionSync, {
      connection,
      prefix: DEFAULT_QUEUE_PREFIX,
    });
    await queue.addBulk(
      [
        ...big.map((regionId) => ({ account: 'big', regionId })),
        ...small.map((regionId) => ({ account: 'small', regionId })),
      ].map((scope) => ({
        name: JOB_NAMES.syncRegion,
        data: { ...scope, trigger: 'schedule' as const },
        opts: { deduplication: { id: regionDeduplicationId('full', scope) } },
      })),
    );
    await queue.close();
    connection.disconnect();

    spawnWorker({
      ...baseEnv(),
      SWAS_ACCOUNTS_FILE: accounts,
      BIG_ID: 'bigid',
      BIG_SECRET: 'bigsecret',
      SMALL_ID: 'smallid',
      SMALL_SECRET: 'smallsecret',
      SWAS_RATE_LIMIT: '2/1s',
    });
    const smallDone = await waitFor(
      'both small regions synced',
      async () => (await finished('succeeded')).find((row) => row.account === 'small' && Number(row.n) === 2),
      { timeoutMs: 90_000, intervalMs: 100 },
    );
    const calls = simulator.admin.calls();
    expect(calls.filter((call) => call.code?.startsWith('Throttling'))).toEqual([]);
    const started = Math.min(...calls.map((call) => call.at));
    const cycleMs = smallDone.last.getTime() - started;
    // 2 regions of 1,500 images: 30 calls, the first 2 at once, the rest at 2 a second.
    const smallCalls = calls.filter((call) => call.accessKeyId === 'smallid').length;
    expect(smallCalls).toBe(30);
    const idealMs = ((smallCalls - quota.limit) * quota.intervalMs) / quota.limit;
    expect(cycleMs, `small cycle ${cycleMs} ms, ideal ${idealMs} ms`).toBeLessThanOrEqual(idealMs * 1.2);
    // Meanwhile the big account spent its own quota, and was far from done.
    const bigCalls = calls.filter(
      (call) => call.accessKeyId === 'bigid' && call.at <= smallDone.last.getTime(),
    );
    expect(bigCalls.length).toBeGreaterThanOrEqual(
      0.8 * (quota.limit + (cycleMs / quota.intervalMs) * quota.limit),
    );
    const bigDone = (await finished('succeeded')).find((row) => row.account === 'big');
    expect(Number(bigDone?.n ?? 0)).toBeLessThan(big.length / 2);
  });
});
