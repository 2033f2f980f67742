import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { createSyncStore } from '../../src/db/sync-store.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import { AppError } from '../../src/shared/app-error.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createRegionSyncs } from '../../src/sync/region-syncs.ts';
import type { ImageLister, SyncStore } from '../../src/sync/run-sync.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

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

  const realStore = () =>
    createSyncStore(app.database(), { heartbeatMs: 15_000, lockTimeoutMs: 10_000, clock: app.clock });
  const clientOf = (account: string) => {
    const config = app.config.accounts.find((a) => a.name === account);
    if (!config) throw new AppError('config.invalid', `unknown account ${account}`);
    return app.swasClient(config);
  };
  const syncsWith = (store: SyncStore, listImagesByIds?: ImageLister['listImagesByIds']) =>
    createRegionSyncs({
      listerFor: (account) => {
        const client = clientOf(account);
        return listImagesByIds === undefined
          ? client
          : { listAllImages: client.listAllImages.bind(client), listImagesByIds };
      },
      discoverRegions: async () => ['cn-hangzhou', 'cn-shanghai', 'cn-beijing'],
      store,
      clock: app.clock,
      ids: app.ids,
      deleteBrake: 0.5,
      concurrency: 2,
    });
  const all = [{ name: 'default', regions: ['cn-hangzhou', 'cn-shanghai', 'cn-beijing'] }];
  const scope = (regionId: string) => ({ account: 'default', regionId });
  const manual = { trigger: 'manual' } as const;

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

  it('deletes nothing when the read by id answers with images not asked for', async () => {
    simulator.admin.setRegion('cn-qingdao', 4);
    const store = realStore();
    expect((await syncsWith(store).syncRegion(scope('cn-qingdao'), manual)).status).toBe('succeeded');
    const [gone] = simulator.admin.listImages('cn-qingdao');
    simulator.admin.deleteImage('cn-qingdao', gone?.ImageId ?? '');
    // A server that ignores ImageIds: the read by id lists the region instead, and the image
    // asked for is not in it, as if it were gone.
    const ignoring: ImageLister['listImagesByIds'] = async (regionId, _ids, signal) => ({
      ...(await clientOf('default').listAllImages(regionId, signal)),
      kind: 'watch',
      complete: false,
    });
    const result = await syncsWith(store, ignoring).syncRegion(scope('cn-qingdao'), manual);
    expect(result).toMatchObject({ status: 'partial', counts: { deleted: 0 } });
    expect(result.error).toContain('the read by id returned images not asked for');
    expect((await syncsWith(store).syncRegion(scope('cn-qingdao'), manual)).counts.deleted).toBe(1);
  });

  it('counts the read by id on the run an abort ends during it, and applies nothing', async () => {
    simulator.admin.setRegion('cn-huhehaote', 3);
    const store = realStore();
    expect((await syncsWith(store).syncRegion(scope('cn-huhehaote'), manual)).status).toBe('succeeded');
    const [gone] = simulator.admin.listImages('cn-huhehaote');
    simulator.admin.deleteImage('cn-huhehaote', gone?.ImageId ?? '');
    const stop = new AbortController();
    const aborting: ImageLister['listImagesByIds'] = (regionId, ids, signal) => {
      // Held at the simulator (the call is sent and counted) until the abort ends it.
      const hold = simulator.admin.injectFault({ kind: 'hold', regionId });
      void waitFor('the read by id held', () => simulator.admin.heldCalls(hold) > 0).then(() => stop.abort());
      return clientOf('default').listImagesByIds(regionId, ids, signal);
    };
    const result = await syncsWith(store, aborting).syncRegion(scope('cn-huhehaote'), {
      trigger: 'manual',
      signal: stop.signal,
    });
    simulator.admin.clearFaults();
    expect(result).toMatchObject({ status: 'failed', errorCode: 'swas.aborted', apiCalls: 2 });
    const { rows } = await sql.query<{ status: string; api_calls: number }>(
      "select status, api_calls from sync_runs where region_id = 'cn-huhehaote' order by started_at desc limit 1",
    );
    expect(rows).toEqual([{ status: 'failed', api_calls: 2 }]);
    const { rows: live } = await sql.query(
      "select 1 from custom_images where region_id = 'cn-huhehaote' and deleted_at is null",
    );
    expect(live).toHaveLength(3);
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
