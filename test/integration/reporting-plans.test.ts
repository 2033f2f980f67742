import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.ts';
import { drizzle } from '../../src/db/drizzle.ts';
import { createReportStore, type ReportStore } from '../../src/db/report-store.ts';
import { createScheduleStore, type ScheduleStore } from '../../src/db/schedule-store.ts';
import * as schema from '../../src/db/schema/index.ts';
import { BENCH_HISTORY, generateHistory, regionName } from '../support/history-generator.ts';
import { createTestDatabase } from '../support/test-database.ts';

// On the benchmark's history (100,000 versions over 10,000 images), after ANALYZE and with the
// planner's default settings, a question about one region or one image reads the history through
// its indexes: EXPLAIN of every query the report and events commands send shows no sequential scan
// of a history table. The queries are captured from the real report store, not copied.

const HISTORY_TABLES = ['custom_image_versions', 'custom_images', 'image_events', 'sync_runs'];

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function sequentialScans(node: PlanNode): string[] {
  const own =
    node['Node Type'] === 'Seq Scan' && HISTORY_TABLES.includes(node['Relation Name'] ?? '')
      ? [node['Relation Name'] ?? '']
      : [];
  return [...own, ...(node.Plans ?? []).flatMap(sequentialScans)];
}

describe('query plans of one-region and one-image reports on the benchmark history', () => {
  let pool: pg.Pool;
  let store: ReportStore;
  let schedule: ScheduleStore;
  let database: Database;
  const captured: { query: string; params: unknown[] }[] = [];

  beforeAll(async () => {
    const url = await createTestDatabase();
    pool = new pg.Pool({ connectionString: url, max: 2 });
    const client = await pool.connect();
    try {
      await generateHistory(client, BENCH_HISTORY);
      await client.query('analyze');
    } finally {
      client.release();
    }
    const db = drizzle({
      client: pool,
      schema,
      logger: { logQuery: (query, params) => captured.push({ query, params }) },
    });
    store = createReportStore(db);
    database = createDatabase(url, { max: 1 });
    schedule = createScheduleStore({ ...database, db });
  }, 180_000);
  afterAll(async () => {
    await pool?.end();
    await database?.close();
  });

  /** Runs the read, then EXPLAINs the SQL it sent; returns the history tables it scanned in full. */
  async function scansOf(read: () => Promise<unknown[]>): Promise<{ rows: number; scans: string[] }> {
    captured.length = 0;
    const result = await read();
    expect(captured).toHaveLength(1);
    const [{ query, params } = { query: '', params: [] }] = captured;
    const explained = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `explain (format json) ${query}`,
      params,
    );
    const plan = explained.rows[0]?.['QUERY PLAN'][0].Plan;
    if (!plan) throw new Error('no plan');
    return { rows: result.length, scans: sequentialScans(plan) };
  }

  const region = regionName(2);
  const image = 'm-bench4242';
  const day = { since: new Date('2026-01-02T00:00:00Z'), until: new Date('2026-01-03T00:00:00Z') };

  it.each([
    ['inventory', (s: ReportStore) => s.inventory({ regions: [region] })],
    ['failures', (s: ReportStore) => s.failures({ regions: [region], ...day })],
    ['status-timeline', (s: ReportStore) => s.statusTimeline({ accounts: ['bench'], regions: [region] })],
    ['shares', (s: ReportStore) => s.shares({ regions: [region] })],
    ['sync-health', (s: ReportStore) => s.syncHealth({ regions: [region] })],
    ['as-of', (s: ReportStore) => s.asOf(new Date('2026-01-02T06:00:00Z'), { regions: [region] })],
    ['events', (s: ReportStore) => s.events({ regions: [region], limit: 1000 })],
  ])('one region: %s reads no history table in full', async (_name, read) => {
    const { rows, scans } = await scansOf(() => read(store));
    expect(rows).toBeGreaterThan(0);
    expect(scans).toEqual([]);
  });

  it.each([
    ['failures', (s: ReportStore) => s.failures({ imageIds: [image] })],
    ['status-timeline', (s: ReportStore) => s.statusTimeline({ imageIds: [image] })],
    ['shares', (s: ReportStore) => s.shares({ imageIds: [image] })],
    ['events', (s: ReportStore) => s.events({ imageIds: [image], limit: 1000 })],
  ])('one image: %s reads no history table in full', async (_name, read) => {
    const { rows, scans } = await scansOf(() => read(store));
    expect(rows).toBeGreaterThan(0);
    expect(scans).toEqual([]);
  });

  it.each([
    ['scopes to watch', (s: ScheduleStore) => s.scopesToWatch()],
    ['images to watch', (s: ScheduleStore) => s.imagesToWatch({ account: 'bench', regionId: region })],
  ])('the watch planner: %s reads the index of transitional images, not every image', async (_name, read) => {
    const { rows, scans } = await scansOf(() => read(schedule));
    expect(rows).toBeGreaterThan(0);
    expect(scans).toEqual([]);
  });

  it('sees a sequential scan where there is one (the check can fail)', async () => {
    const explained = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
      `explain (format json) select * from custom_image_versions where os_type = 'Linux'`,
    );
    const plan = explained.rows[0]?.['QUERY PLAN'][0].Plan;
    expect(plan && sequentialScans(plan)).toEqual(['custom_image_versions']);
  });

  it('one image through the views and images_as_of, as the README queries ask', async () => {
    for (const query of [
      `select * from reporting.image_status_periods where image_id = '${image}'`,
      `select * from reporting.image_failures where image_id = '${image}'`,
      `select * from reporting.image_share_history where image_id = '${image}'`,
      `select * from reporting.current_images where image_id = '${image}'`,
      `select * from reporting.images_as_of('2026-01-02T06:00:00Z') where image_id = '${image}'`,
      `select * from reporting.images_as_of('2026-01-02T06:00:00Z') where region_id = '${region}'`,
    ]) {
      const explained = await pool.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
        `explain (format json) ${query}`,
      );
      const plan = explained.rows[0]?.['QUERY PLAN'][0].Plan;
      expect(plan && sequentialScans(plan), query).toEqual([]);
    }
  });
});
