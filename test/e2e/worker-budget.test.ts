import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});
