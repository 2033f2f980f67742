import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness, tableCounts } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';

// Fault behaviour: a failed sync writes nothing but its sync_runs row, and no listing
// that failed or changed under paging ever deletes an image. Each test owns a region.
describe('sync under faults', () => {
  let simulator: Simulator;
  let harness: SyncHarness;

  beforeAll(async () => {
    simulator = await startSimulator({ port: 0, seed: 11, quota: null, regions: [] });
    harness = await createSyncHarness(await createTestDatabase(), simulator, {
      // Keep retry waits short: the client's own backoff still runs, with real sleeps.
      SYNC_CONCURRENCY: '2',
    });
  });
  afterAll(async () => {
    await harness?.close();
    await simulator?.close();
  });

  const seed = async (regionId: string, images: number) => {
    simulator.admin.setRegion(regionId, images);
    const result = await harness.syncRegion(regionId);
    expect(result.status).toBe('succeeded');
    return result;
  };
  const regionCounts = async (regionId: string) =>
    rows(
      harness.sql,
      `select (select count(*)::int from custom_images where region_id = $1) as images,
              (select count(*)::int from custom_images where region_id = $1 and deleted_at is not null) as deleted,
              (select count(*)::int from custom_image_versions where region_id = $1) as versions,
              (select count(*)::int from image_events where region_id = $1) as events`,
      [regionId],
    );
  const lastRun = async (regionId: string) =>
    (
      await rows<{
        status: string;
        error: string | null;
        api_calls: number;
        pages: number;
        complete: boolean;
      }>(
        harness.sql,
        'select status, error, api_calls, pages, complete from sync_runs where region_id = $1 order by started_at desc limit 1',
        [regionId],
      )
    )[0];
  /** `xmin` of the region's image and version rows: any write to a row gives it a new one. */
  const rowVersions = async (regionId: string) =>
    rows<{ key: string; xmin: string }>(
      harness.sql,
      `select 'image ' || image_id as key, xmin::text from custom_images where region_id = $1
       union all
       select 'version ' || image_id || '@' || version, xmin::text from custom_image_versions where region_id = $1
       order by 1`,
      [regionId],
    );

  it('retries throttled pages and succeeds', async () => {
    simulator.admin.setRegion('cn-qingdao', 150);
    simulator.admin.injectFault({ kind: 'throttle', regionId: 'cn-qingdao', pageNumber: 2, times: 2 });
    const result = await harness.syncRegion('cn-qingdao');
    expect(result).toMatchObject({ status: 'succeeded', pages: 2, apiCalls: 4, counts: { created: 150 } });
    expect(await lastRun('cn-qingdao')).toMatchObject({ status: 'succeeded', api_calls: 4, pages: 2 });
  });

  it('records a region failing with InternalError while another succeeds, deleting nothing', async () => {
    await seed('cn-beijing', 30);
    simulator.admin.setRegion('cn-zhangjiakou', 5);
    const before = await regionCounts('cn-beijing');
    simulator.admin.deleteImage('cn-beijing', simulator.admin.listImages('cn-beijing')[0]!.ImageId);
    simulator.admin.injectFault({
      kind: 'error',
      status: 500,
      code: 'InternalError',
      regionId: 'cn-beijing',
      times: Number.POSITIVE_INFINITY,
    });
    const report = await harness.syncAll(['cn-beijing', 'cn-zhangjiakou']);
    simulator.admin.clearFaults();
    expect(report.ok).toBe(false);
    expect(report.results.map((r) => [r.scope.regionId, r.status])).toEqual([
      ['cn-beijing', 'failed'],
      ['cn-zhangjiakou', 'succeeded'],
    ]);
    const failed = await lastRun('cn-beijing');
    expect(failed?.status).toBe('failed');
    expect(failed?.error).toContain('InternalError');
    expect(failed?.api_calls).toBeGreaterThan(1);
    expect(await regionCounts('cn-beijing')).toEqual(before);
  });

  it('fails a listing whose page stays malformed, naming the page', async () => {
    await seed('cn-huhehaote', 120);
    const before = await tableCounts(harness.sql);
    simulator.admin.injectFault({
      kind: 'malformed-json',
      regionId: 'cn-huhehaote',
      pageNumber: 2,
      times: Number.POSITIVE_INFINITY,
    });
    const result = await harness.syncRegion('cn-huhehaote');
    simulator.admin.clearFaults();
    expect(result.status).toBe('failed');
    expect(result.error).toMatch(/page 2/);
    expect(await tableCounts(harness.sql)).toEqual({ ...before, runs: before.runs + 1 });
  });

  it('quarantines an item lacking ImageId: applies the rest, withholds deletions, names the field and the page', async () => {
    const region = 'cn-shenzhen';
    await seed(region, 12);
    const listed = simulator.admin.listImages(region);
    const gone = listed[11]!;
    const renamed = listed[5]!;
    simulator.admin.deleteImage(region, gone.ImageId);
    simulator.admin.updateImage(region, renamed.ImageId, { Name: 'renamed beside a bad item' });
    const added = simulator.admin.addImage(region, { Name: 'added beside a bad item' });
    // On every read, so that the re-read of an incomplete listing meets it too.
    simulator.admin.injectFault({
      kind: 'missing-field',
      field: 'ImageId',
      index: 3,
      regionId: region,
      times: Number.POSITIVE_INFINITY,
    });
    const result = await harness.syncRegion(region);
    simulator.admin.clearFaults();

    // The item is left out and named; without its id the count cannot be complete, so nothing is deleted.
    expect(result).toMatchObject({ status: 'partial', counts: { updated: 1, deleted: 0 } });
    expect(result.error).toContain('item without a usable ImageId (page 1 #3) ImageId');
    expect(await lastRun(region)).toMatchObject({ status: 'partial', error: result.error, complete: false });
    const stored = await rows<{ image_id: string; name: string | null; deleted: boolean }>(
      harness.sql,
      'select image_id, name, deleted_at is not null as deleted from custom_images where region_id = $1',
      [region],
    );
    expect(stored.find((row) => row.image_id === renamed.ImageId)?.name).toBe('renamed beside a bad item');
    expect(stored.find((row) => row.image_id === gone.ImageId)?.deleted).toBe(false);
    expect(stored.filter((row) => row.deleted)).toEqual([]);
    // The new image is stored unless it was the item that lost its id.
    const badItemWasTheNewOne = !stored.some((row) => row.image_id === added.ImageId);
    expect(result.counts.created).toBe(badItemWasTheNewOne ? 0 : 1);
    expect(
      await rows(harness.sql, "select 1 from image_events where type = 'image.deleted' and region_id = $1", [
        region,
      ]),
    ).toEqual([]);

    // The next clean listing heals the region: what really went is deleted.
    const clean = await harness.syncRegion(region);
    expect(clean).toMatchObject({ status: 'succeeded', counts: { deleted: 1 } });
    const live = await rows<{ image_id: string }>(
      harness.sql,
      'select image_id from custom_images where region_id = $1 and deleted_at is null order by image_id',
      [region],
    );
    expect(live.map((row) => row.image_id)).toEqual(
      simulator.admin
        .listImages(region)
        .map((image) => image.ImageId)
        .sort(),
    );
  });

  it('alerts on a failing image in a region that has never listed completely', async () => {
    // An item without its id on every read from the first sync on: no listing is ever complete,
    // so the baseline never ends; a stored image that fails must still raise image.failed.
    const region = 'cn-heyuan';
    simulator.admin.setRegion(region, 6);
    simulator.admin.injectFault({
      kind: 'missing-field',
      field: 'ImageId',
      index: 0,
      regionId: region,
      times: Number.POSITIVE_INFINITY,
    });
    try {
      expect((await harness.syncRegion(region)).status).toBe('partial');
      const stored = await rows<{ image_id: string }>(
        harness.sql,
        'select image_id from custom_images where region_id = $1 order by image_id',
        [region],
      );
      const failing = stored[0]?.image_id ?? '';
      simulator.admin.updateImage(region, failing, { Status: '3' });
      expect((await harness.syncRegion(region)).status).toBe('partial');
    } finally {
      simulator.admin.clearFaults();
    }
    const events = await rows<{ type: string; baseline: boolean }>(
      harness.sql,
      `select type, baseline from image_events where region_id = $1 and type <> 'image.created' order by type`,
      [region],
    );
    expect(events).toEqual([
      { type: 'image.failed', baseline: false },
      { type: 'image.status_changed', baseline: false },
    ]);
    const created = await rows<{ baseline: boolean }>(
      harness.sql,
      `select distinct baseline from image_events where region_id = $1 and type = 'image.created'`,
      [region],
    );
    expect(created).toEqual([{ baseline: true }]);
  });

  it('accepts numeric counts and keeps unknown fields in raw', async () => {
    simulator.admin.setRegion('cn-chengdu', 4);
    simulator.admin.injectFault({ kind: 'numeric-counts', regionId: 'cn-chengdu' });
    simulator.admin.injectFault({
      kind: 'extra-fields',
      regionId: 'cn-chengdu',
      bodyFields: { NextToken: 'x' },
      itemFields: { ImageFamily: 'web', Architecture: 'x86_64' },
    });
    const result = await harness.syncRegion('cn-chengdu');
    expect(result).toMatchObject({ status: 'succeeded', counts: { created: 4 } });
    const raws = await rows<{ raw: Record<string, unknown> }>(
      harness.sql,
      "select raw from custom_images where region_id = 'cn-chengdu'",
    );
    expect(raws).toHaveLength(4);
    for (const { raw } of raws) expect(raw).toMatchObject({ ImageFamily: 'web', Architecture: 'x86_64' });
  });

  it('never lets an image removed between pages make another look deleted', async () => {
    await seed('cn-guangzhou', 250);
    const before = await regionCounts('cn-guangzhou');
    // Every read of the listing drifts: one image vanishes after page 1, shifting page 2.
    simulator.admin.injectFault({
      kind: 'drift',
      remove: 1,
      regionId: 'cn-guangzhou',
      pageNumber: 1,
      times: Number.POSITIVE_INFINITY,
    });
    const result = await harness.syncRegion('cn-guangzhou');
    simulator.admin.clearFaults();
    expect(result.status).toBe('partial');
    expect(result.counts.deleted).toBe(0);
    expect(result.error).toMatch(/TotalCount|distinct/);
    const after = await regionCounts('cn-guangzhou');
    expect(after[0]?.deleted).toBe(0);
    expect(after[0]?.images).toBe(before[0]?.images);
    expect(
      await rows(
        harness.sql,
        "select 1 from image_events where type = 'image.deleted' and region_id = 'cn-guangzhou'",
      ),
    ).toEqual([]);
    // Once the listing is stable again, the images that really went are deleted.
    const settled = await harness.syncRegion('cn-guangzhou');
    expect(settled.status).toBe('succeeded');
    expect(settled.counts.deleted).toBe(250 - simulator.admin.listImages('cn-guangzhou').length);
  });

  it('deletes nothing on a listing that shifted under a steady TotalCount, and deletes what went once it reads back', async () => {
    await seed('cn-heyuan', 150);
    const listed = simulator.admin.listImages('cn-heyuan');
    // After page 1: its first image is deleted and one is added where the listing ends. TotalCount
    // stays 150 and 150 distinct ids arrive, but page 2 starts one image later: the 101st image,
    // alive all along, is never listed.
    simulator.admin.injectFault({
      kind: 'drift',
      regionId: 'cn-heyuan',
      pageNumber: 1,
      remove: 1,
      add: 1,
      addAt: 'end',
    });
    const skipped = listed[100]!.ImageId;
    const shifted = await harness.syncRegion('cn-heyuan');
    expect(shifted).toMatchObject({ status: 'partial', counts: { deleted: 0, created: 1 } });
    expect(shifted.error).toContain('1 image(s) missing from the listing are still there when read by id');
    // Two pages and one read by id of the image the listing would have deleted.
    expect(shifted.apiCalls).toBe(3);
    expect(
      await rows(
        harness.sql,
        "select image_id from image_events where type = 'image.deleted' and region_id = 'cn-heyuan'",
      ),
    ).toEqual([]);
    // The next listing is whole: the image that really went is deleted (read back by id first), no other.
    const next = await harness.syncRegion('cn-heyuan');
    expect(next).toMatchObject({ status: 'succeeded', counts: { deleted: 1 }, apiCalls: 3 });
    const deleted = await rows<{ image_id: string }>(
      harness.sql,
      "select image_id from custom_images where region_id = 'cn-heyuan' and deleted_at is not null",
    );
    expect(deleted).toEqual([{ image_id: listed[0]!.ImageId }]);
    expect(deleted.map((row) => row.image_id)).not.toContain(skipped);
  });

  it('leaves the data as it was when the database rejects a write', async () => {
    const region = 'cn-wulanchabu';
    await seed(region, 5);
    const before = await tableCounts(harness.sql);
    const versionsBefore = await rowVersions(region);
    // A trigger for this region only: every insert into custom_images fails inside the sync's
    // transaction, after the same transaction has closed versions for a change and a deletion.
    await harness.sql.query(`create function reject_test_insert() returns trigger language plpgsql as $$
      begin raise exception 'insert of % refused by the test', new.image_id; end $$`);
    await harness.sql.query(`create trigger reject_test_insert before insert on custom_images
      for each row when (new.region_id = '${region}') execute function reject_test_insert()`);
    try {
      const [, changed, removed] = simulator.admin.listImages(region);
      const added = simulator.admin.addImage(region, { Name: 'refused by the database' });
      simulator.admin.updateImage(region, changed!.ImageId, { Description: 'changed in the same listing' });
      simulator.admin.deleteImage(region, removed!.ImageId);
      const result = await harness.syncRegion(region);
      expect(result).toMatchObject({ status: 'failed', errorCode: 'db.query' });
      expect(await tableCounts(harness.sql)).toEqual({ ...before, runs: before.runs + 1 });
      expect(await rowVersions(region)).toEqual(versionsBefore);
      const run = await lastRun(region);
      expect(run).toMatchObject({ status: 'failed', complete: false });
      expect(run?.error).toMatch(/^db\.query: PostgreSQL at \S+: insert of \S+ refused by the test/);
      expect(run?.error).toContain(added.ImageId);
      expect(run?.error).not.toContain('Failed query');
    } finally {
      await harness.sql.query('drop trigger reject_test_insert on custom_images');
      await harness.sql.query('drop function reject_test_insert()');
    }
    // Once the database accepts the write, the next sync applies the whole listing.
    const healed = await harness.syncRegion(region);
    expect(healed).toMatchObject({ status: 'succeeded', counts: { created: 1, updated: 1, deleted: 1 } });
  });

  it('gives two concurrent syncs of one region one set of events', async () => {
    simulator.admin.setRegion('cn-nanjing', 40);
    const [a, b] = await Promise.all([harness.syncRegion('cn-nanjing'), harness.syncRegion('cn-nanjing')]);
    // The later-started listing may commit first; the older one is then superseded and writes nothing.
    expect([a.status, b.status]).toContain('succeeded');
    for (const status of [a.status, b.status]) expect(['succeeded', 'superseded']).toContain(status);
    expect(a.counts.events + b.counts.events).toBe(40);
    const events = await rows<{ n: number }>(
      harness.sql,
      "select count(*)::int as n from image_events where region_id = 'cn-nanjing'",
    );
    expect(events[0]?.n).toBe(40);
    const versions = await rows<{ n: number }>(
      harness.sql,
      "select count(*)::int as n from custom_image_versions where region_id = 'cn-nanjing'",
    );
    expect(versions[0]?.n).toBe(40);
  });
});
