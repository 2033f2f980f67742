import pg from 'pg';
import { inject } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { type Environment, loadConfig } from '../../src/config/load-config.ts';
import { silentLogger } from '../../src/observability/logger.ts';
import type { Simulator } from '../../src/simulator/index.ts';
import { type FullSyncReport, runFullSync } from '../../src/sync/full-sync.ts';
import type { RegionSyncResult } from '../../src/sync/run-sync.ts';
import { uniquePrefix } from './test-database.ts';

export interface SyncHarness {
  app: App;
  /** A plain pg client for assertions in SQL. */
  sql: pg.Client;
  /** One full sync of the given regions (all configured when omitted), through the real composition root. */
  syncAll(regions?: readonly string[]): Promise<FullSyncReport>;
  syncRegion(regionId: string): Promise<RegionSyncResult>;
  /** A watch poll of these images of the region. */
  watchRegion(regionId: string, imageIds: readonly string[]): Promise<RegionSyncResult>;
  close(): Promise<void>;
}

/**
 * The production wiring (config → createApp → SWAS client over undici → simulator; drizzle → the
 * test's own database) with a generous rate limit so tests are not slowed by the real quota.
 */
export async function createSyncHarness(
  databaseUrl: string,
  simulator: Simulator,
  env: Environment = {},
): Promise<SyncHarness> {
  const config = loadConfig(
    {
      DATABASE_URL: databaseUrl,
      SWAS_ENDPOINT: simulator.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '1000/1s',
      REDIS_URL: inject('redisUrl'),
      ...env,
    },
    { readFile: () => '' },
  );
  // The shared Redis budget, under a prefix of this harness's own.
  const app = createApp(config, { logger: silentLogger, redisPrefix: uniquePrefix('sync') });
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  const account = config.accounts[0]!;
  const client = app.swasClient(account);
  // The use case both drivers call, as the composition root builds it.
  const regionSyncs = app.regionSyncs();
  const syncRegion = (regionId: string) =>
    regionSyncs.syncRegion({ account: account.name, regionId }, { trigger: 'manual' });
  const watchRegion = (regionId: string, imageIds: readonly string[]) =>
    regionSyncs.syncRegion(
      { account: account.name, regionId },
      { trigger: 'watch', watchImageIds: imageIds },
    );
  return {
    app,
    sql,
    syncRegion,
    watchRegion,
    syncAll: (regions) =>
      runFullSync(
        {
          concurrency: config.sync.concurrency,
          discoverRegions: async () => (await client.listRegions()).map((r) => r.regionId),
          syncRegion: (scope) => syncRegion(scope.regionId),
        },
        [{ name: account.name, regions: regions ?? config.regions }],
      ),
    close: async () => {
      await sql.end();
      await app.close();
    },
  };
}

/** Rows of a query, for terse assertions. */
export async function rows<T = Record<string, unknown>>(
  client: pg.Client,
  text: string,
  values: unknown[] = [],
) {
  return (await client.query(text, values)).rows as T[];
}

/** Row counts of every sync table (a fingerprint: "nothing changed" means equal fingerprints). */
export interface TableCounts {
  images: number;
  deleted: number;
  versions: number;
  events: number;
  runs: number;
}

export async function tableCounts(client: pg.Client): Promise<TableCounts> {
  const [counts] = await rows<Record<string, string>>(
    client,
    `select (select count(*) from custom_images) as images,
            (select count(*) from custom_images where deleted_at is not null) as deleted,
            (select count(*) from custom_image_versions) as versions,
            (select count(*) from image_events) as events,
            (select count(*) from sync_runs) as runs`,
  );
  return Object.fromEntries(
    Object.entries(counts ?? {}).map(([k, v]) => [k, Number(v)]),
  ) as unknown as TableCounts;
}
