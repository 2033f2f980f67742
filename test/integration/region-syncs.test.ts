import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createSyncStore } from '../../src/db/sync-store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { AppError } from '../../src/shared/app-error.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createRegionSyncs } from '../../src/sync/region-syncs.ts';
import type { SyncStore } from '../../src/sync/run-sync.ts';
import { createTestDatabase } from '../support/test-database.ts';

// The region-sync use case both drivers call: one region's database trouble is that region's
// failure, never the others' nor the caller's.
describe('the region-sync use case', () => {
  let simulator: Simulator;
  let app: App;
  let sql: pg.Client;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 9,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 5 },
        { regionId: 'cn-shanghai', images: 4 },
        { regionId: 'cn-beijing', images: 3 },
      ],
    });
    const databaseUrl = await createTestDatabase();
    const config = loadConfig(
      {
        DATABASE_URL: databaseUrl,
        SWAS_ENDPOINT: simulator.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
        SWAS_RATE_LIMIT: '1000/1s',
      },
      { readFile: () => '' },
    );
    app = createApp(config, { logger: silentLogger });
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
  });
  afterAll(async () => {
    await sql?.end();
    await app?.close();
    await simulator?.close();
  });

  /** The real store, except that the given calls fail for one region as if the database went away. */
  function storeFailing(
    regionId: string,
    calls: { startRun?: boolean; failRun?: boolean; readSnapshot?: boolean },
  ): SyncStore {
    const real = createSyncStore(app.database(), {
      heartbeatMs: 15_000,
      lockTimeoutMs: 10_000,
      clock: app.clock,
    });
    const lost = () =>
      new AppError('db.unreachable', 'PostgreSQL is unreachable: connection refused', { retryable: true });
    return {
      ...real,
      startRun: (run) =>
        calls.startRun && run.scope.regionId === regionId ? Promise.reject(lost()) : real.startRun(run),
      readSnapshot: (scope) =>
        calls.readSnapshot && scope.regionId === regionId ? Promise.reject(lost()) : real.readSnapshot(scope),
      failRun: (run, outcome, error) =>
        calls.failRun && run.scope.regionId === regionId
          ? Promise.reject(lost())
          : real.failRun(run, outcome, error),
    };
  }

  const syncsWith = (store: SyncStore) =>
    createRegionSyncs({
      listerFor: (account) => {
        const config = app.config.accounts.find((a) => a.name === account);
        if (!config) throw new AppError('config.invalid', `unknown account ${account}`);
        return app.swasClient(config);
      },
      discoverRegions: async () => ['cn-hangzhou', 'cn-shanghai', 'cn-beijing'],
      store,
      clock: app.clock,
      ids: app.ids,
      deleteBrake: 0.5,
      concurrency: 2,
    });
  const all = [{ name: 'default', regions: ['cn-hangzhou', 'cn-shanghai', 'cn-beijing'] }];

  it('a run that cannot even start fails its region only, and says it may be retried', async () => {
    const report = await syncsWith(storeFailing('cn-shanghai', { startRun: true })).syncAll(all, {
      trigger: 'manual',
    });
    expect(report.results.map((r) => [r.scope.regionId, r.status])).toEqual([
      ['cn-hangzhou', 'succeeded'],
      ['cn-shanghai', 'failed'],
      ['cn-beijing', 'succeeded'],
    ]);
    const failed = report.results[1];
    expect(failed).toMatchObject({ errorCode: 'db.unreachable', retryable: true });
    expect(report.ok).toBe(false);
    const { rows } = await sql.query<{ region_id: string }>(
      'select region_id from sync_runs order by region_id',
    );
    expect(rows.map((r) => r.region_id)).toEqual(['cn-beijing', 'cn-hangzhou']);
  });

  it('a snapshot of stored hashes that cannot be read fails its region, recorded, with its API calls', async () => {
    const report = await syncsWith(storeFailing('cn-shanghai', { readSnapshot: true })).syncAll(all, {
      trigger: 'manual',
    });
    expect(report.results.map((r) => [r.scope.regionId, r.status])).toEqual([
      ['cn-hangzhou', 'succeeded'],
      ['cn-shanghai', 'failed'],
      ['cn-beijing', 'succeeded'],
    ]);
    expect(report.results[1]).toMatchObject({ errorCode: 'db.unreachable', retryable: true, apiCalls: 1 });
    const { rows } = await sql.query<{ status: string; api_calls: number }>(
      "select status, api_calls from sync_runs where region_id = 'cn-shanghai' order by started_at desc limit 1",
    );
    expect(rows).toEqual([{ status: 'failed', api_calls: 1 }]);
  });

  it('a failure that cannot be recorded is still reported, beside the other regions', async () => {
    const fault = simulator.admin.injectFault({
      kind: 'error',
      status: 400,
      code: 'InvalidParameter',
      regionId: 'cn-beijing',
      times: Number.POSITIVE_INFINITY,
    });
    try {
      const report = await syncsWith(storeFailing('cn-beijing', { failRun: true })).syncAll(all, {
        trigger: 'manual',
      });
      expect(report.results.map((r) => [r.scope.regionId, r.status])).toEqual([
        ['cn-hangzhou', 'succeeded'],
        ['cn-shanghai', 'succeeded'],
        ['cn-beijing', 'failed'],
      ]);
      expect(report.results[2]?.error).toMatch(/InvalidParameter.*could not be recorded.*db\.unreachable/);
    } finally {
      simulator.admin.removeFault(fault);
    }
  });

  it('an account the process cannot read is a recorded failure of its regions', async () => {
    const syncs = syncsWith(
      createSyncStore(app.database(), { heartbeatMs: 15_000, lockTimeoutMs: 10_000, clock: app.clock }),
    );
    const result = await syncs.syncRegion(
      { account: 'ghost', regionId: 'cn-hangzhou' },
      { trigger: 'schedule' },
    );
    expect(result).toMatchObject({ status: 'failed', errorCode: 'config.invalid', retryable: false });
    const { rows } = await sql.query<{ status: string; error: string }>(
      "select status, error from sync_runs where account = 'ghost'",
    );
    expect(rows).toEqual([{ status: 'failed', error: 'config.invalid: unknown account ghost' }]);
  });
});
