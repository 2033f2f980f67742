import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

// No listing overwrites a newer observation, and no single item blocks a region. The
// races are made deterministic with the simulator's `hold` fault: a page is read (the region as
// it was) and answered only when the test releases it. Each test owns a region.
describe('sync fencing and item quarantine', () => {
  let simulator: Simulator;
  let harness: SyncHarness;

  beforeAll(async () => {
    simulator = await startSimulator({ port: 0, seed: 23, quota: null, regions: [] });
    harness = await createSyncHarness(await createTestDatabase(), simulator);
  });
  afterAll(async () => {
    await harness?.close();
    await simulator?.close();
  });

  const images = (regionId: string) => simulator.admin.listImages(regionId);
  const stored = (regionId: string) =>
    rows<{ image_id: string; name: string | null; status: string; deleted: boolean; version: number }>(
      harness.sql,
      `select image_id, name, status, deleted_at is not null as deleted, version from custom_images
       where region_id = $1 order by image_id`,
      [regionId],
    );
  const live = async (regionId: string) =>
    (await stored(regionId))
      .filter((row) => !row.deleted)
      .map(({ image_id, name, status }) => ({ image_id, name, status }));
  const cloud = (regionId: string) =>
    images(regionId)
      .map((image) => ({ image_id: image.ImageId, name: image.Name ?? null, status: image.Status }))
      .sort((a, b) => (a.image_id < b.image_id ? -1 : 1));
  const events = (regionId: string, since = '-infinity') =>
    rows<{ type: string; image_id: string | null }>(
      harness.sql,
      `select type, image_id from image_events where region_id = $1 and occurred_at > $2::timestamptz
       order by id`,
      [regionId, since],
    );
  const run = async (runId: string) =>
    (
      await rows<{ status: string; error: string | null; complete: boolean }>(
        harness.sql,
        'select status, error, complete from sync_runs where id = $1',
        [runId],
      )
    )[0];
  const holdPage = async (regionId: string, pageNumber: number) => {
    const id = simulator.admin.injectFault({ kind: 'hold', regionId, pageNumber });
    return {
      id,
      reached: () =>
        waitFor(`page ${pageNumber} of ${regionId} held`, () => simulator.admin.heldCalls(id) > 0),
      release: () => simulator.admin.releaseFault(id),
    };
  };

  it('lets no stale listing that commits last revert, resurrect or delete what a newer one recorded', async () => {
    const region = 'cn-hangzhou';
    simulator.admin.setRegion(region, 12);
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    const [kept, removed, renamed] = images(region);

    // The stale sync reads its only page, then waits; the cloud changes; a newer sync commits.
    const hold = await holdPage(region, 1);
    const stale = harness.syncRegion(region);
    await hold.reached();
    simulator.admin.deleteImage(region, removed!.ImageId);
    simulator.admin.updateImage(region, renamed!.ImageId, { Name: 'renamed-after' });
    const added = simulator.admin.addImage(region, {
      Name: 'added-after',
      InShare: false,
      InShareUser: false,
    });
    const since = new Date().toISOString();
    const newer = await harness.syncRegion(region);
    expect(newer.status).toBe('succeeded');
    const afterNewer = await events(region);

    hold.release();
    const staleResult = await stale;
    expect(staleResult.status).toBe('superseded');
    expect((await run(staleResult.runId))?.complete).toBe(false);
    expect((await run(staleResult.runId))?.error).toMatch(/superseded/);

    // The database equals the latest listing, and the stale commit raised nothing.
    expect(await live(region)).toEqual(cloud(region));
    expect(await events(region)).toEqual(afterNewer);
    expect((await events(region, since)).map((e) => [e.type, e.image_id]).sort()).toEqual(
      [
        ['image.created', added.ImageId],
        ['image.deleted', removed!.ImageId],
        ['image.updated', renamed!.ImageId],
      ].sort(),
    );
    // And the next sync agrees with both: nothing flips back.
    const next = await harness.syncRegion(region);
    expect(next).toMatchObject({
      status: 'succeeded',
      counts: { created: 0, updated: 0, deleted: 0, events: 0 },
    });
    expect(kept).toBeDefined();
  });

  it('lets a watch poll commit while a full listing pages, and the full listing still applies its other images', async () => {
    const region = 'cn-shanghai';
    simulator.admin.setRegion(region, 150);
    const [watched, other] = images(region);
    simulator.admin.updateImage(region, watched!.ImageId, { Status: '4' });
    expect((await harness.syncRegion(region)).status).toBe('succeeded');

    simulator.admin.updateImage(region, watched!.ImageId, { Status: '3' });
    simulator.admin.updateImage(region, other!.ImageId, { Name: 'changed-before-full-sync' });
    const since = new Date().toISOString();
    const hold = await holdPage(region, 2);
    const full = harness.syncRegion(region);
    await hold.reached();
    const poll = await harness.watchRegion(region, [watched!.ImageId]);
    expect(poll.status).toBe('succeeded');
    hold.release();
    const fullResult = await full;

    expect(fullResult.status).toBe('succeeded');
    expect((await run(fullResult.runId))?.complete).toBe(true);
    expect(await live(region)).toEqual(cloud(region));
    expect((await events(region, since)).map((e) => [e.type, e.image_id])).toEqual(
      expect.arrayContaining([
        ['image.status_changed', watched!.ImageId],
        ['image.failed', watched!.ImageId],
        ['image.updated', other!.ImageId],
      ]),
    );
    // The failure is announced once, by the poll that saw it first.
    expect((await events(region, since)).filter((e) => e.type === 'image.failed')).toHaveLength(1);
    expect(await events(region, since)).toHaveLength(3);
  });

  it('records a watch poll that saw an image unchanged, so an older full listing cannot revert a change and its undo', async () => {
    const region = 'cn-qingdao';
    simulator.admin.setRegion(region, 5);
    const [image] = images(region);
    simulator.admin.updateImage(region, image!.ImageId, { Status: '4' });
    expect((await harness.syncRegion(region)).status).toBe('succeeded');

    // The full listing reads the image as copying→failed; then the image recovers to creating.
    simulator.admin.updateImage(region, image!.ImageId, { Status: '3' });
    const hold = await holdPage(region, 1);
    const full = harness.syncRegion(region);
    await hold.reached();
    simulator.admin.updateImage(region, image!.ImageId, { Status: '4' });
    // The poll sees the image as stored (no change), and records that observation.
    const poll = await harness.watchRegion(region, [image!.ImageId]);
    expect(poll).toMatchObject({ status: 'succeeded', counts: { updated: 0, events: 0 } });
    hold.release();
    const fullResult = await full;

    expect(fullResult.status).toBe('succeeded');
    const [row] = (await stored(region)).filter((r) => r.image_id === image!.ImageId);
    expect(row).toMatchObject({ status: '4', version: 1 });
  });

  it('never writes over an image kept only as a hash when an older sync changed it meanwhile', async () => {
    const region = 'cn-wulanchabu';
    simulator.admin.setRegion(region, 3);
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    const [image] = images(region);
    const original = image!.Name;

    // The older sync sees the image renamed; the newer one sees it renamed back, as stored, and
    // keeps it as a hash only. The older one commits its rename in between.
    simulator.admin.updateImage(region, image!.ImageId, { Name: 'briefly renamed' });
    const olderHold = await holdPage(region, 1);
    const older = harness.syncRegion(region);
    await olderHold.reached();
    simulator.admin.updateImage(region, image!.ImageId, { Name: original ?? null });
    const newerHold = await holdPage(region, 1);
    const newer = harness.syncRegion(region);
    await newerHold.reached();
    olderHold.release();
    expect((await older).status).toBe('succeeded');
    newerHold.release();
    const newerResult = await newer;

    expect(newerResult.status).toBe('partial');
    expect(newerResult.error).toMatch(/1 image\(s\) changed by a concurrent sync/);
    expect((await run(newerResult.runId))?.complete).toBe(false);
    // The next sync applies what the cloud holds.
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    expect(await live(region)).toEqual(cloud(region));
  });

  it('lets no older listing revert what a newer incomplete listing saw unchanged', async () => {
    const region = 'cn-hefei';
    simulator.admin.setRegion(region, 6);
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    const image = simulator.admin.listImages(region)[0]!;
    const original = image.Name ?? null;
    // The older listing reads the image briefly renamed, then waits; the rename is undone.
    simulator.admin.updateImage(region, image.ImageId, { Name: 'briefly renamed' });
    const hold = simulator.admin.injectFault({ kind: 'hold', regionId: region, pageNumber: 1 });
    const older = harness.syncRegion(region);
    await waitFor('the older listing to read its page', () => simulator.admin.heldCalls(hold) > 0);
    simulator.admin.updateImage(region, image.ImageId, { Name: original });
    // A newer full listing sees the image as stored, but is incomplete (an item without a usable id).
    simulator.admin.injectFault({
      kind: 'patch-item',
      regionId: region,
      index: 5,
      fields: { ImageId: 'x'.repeat(300_000) },
      times: Number.POSITIVE_INFINITY,
    });
    const newer = await harness.syncRegion(region);
    expect(newer.status).toBe('partial');
    simulator.admin.releaseFault(hold);
    const olderResult = await older;
    simulator.admin.clearFaults();
    const [row] = await rows(harness.sql, 'select name, version from custom_images where image_id = $1', [
      image.ImageId,
    ]);
    const renames = await rows(
      harness.sql,
      "select 1 from image_events where type = 'image.updated' and image_id = $1",
      [image.ImageId],
    );
    expect({ older: olderResult.status, row, renames: renames.length }).toEqual({
      older: expect.any(String),
      row: { name: original, version: 1 },
      renames: 0,
    });
  });

  it('quarantines items that cannot be stored, applies the rest, and heals on the next clean listing', async () => {
    const region = 'cn-beijing';
    simulator.admin.setRegion(region, 12);
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    const listed = images(region);
    const elsewhere = simulator.admin.setRegion('cn-zhangjiakou', 1)[0]!;
    expect((await harness.syncRegion('cn-zhangjiakou')).status).toBe('succeeded');
    const gone = listed[11]!;
    simulator.admin.deleteImage(region, gone.ImageId);
    const renamed = listed[10]!;
    simulator.admin.updateImage(region, renamed.ImageId, { Name: 'still applied' });

    const bad: Record<number, Record<string, unknown>> = {
      0: { RegionId: 'cn-shanghai' },
      1: { Name: 'nul\u0000inside', Description: 'lone \ud800 surrogate' },
      2: { RequiredSystemDiskSize: 40.5 },
      3: { RequiredDataDiskSize: -1 },
      4: { CreationTime: '0' },
      5: { RequiredSystemDiskSize: 2 ** 40 },
      6: { ImageId: elsewhere.ImageId },
    };
    for (const [index, fields] of Object.entries(bad)) {
      simulator.admin.injectFault({ kind: 'patch-item', regionId: region, index: Number(index), fields });
    }
    const result = await harness.syncRegion(region);

    expect(result.status).toBe('partial');
    const error = (await run(result.runId))?.error ?? '';
    expect(error).toContain(
      `${listed[0]!.ImageId} (page 1 #0) RegionId: listed in ${region} but says cn-shanghai`,
    );
    expect(error).toContain(`${listed[2]!.ImageId} (page 1 #2) RequiredSystemDiskSize`);
    expect(error).toContain(`${listed[3]!.ImageId} (page 1 #3) RequiredDataDiskSize`);
    expect(error).toContain(`${listed[4]!.ImageId} (page 1 #4) CreationTime`);
    expect(error).toContain(`${listed[5]!.ImageId} (page 1 #5) RequiredSystemDiskSize`);
    expect(error).toContain(`${elsewhere.ImageId} ImageId: already stored under region cn-zhangjiakou`);
    // Text PostgreSQL cannot hold is stored with its substitutes, not rejected.
    const [text] = await rows<{ name: string; description: string }>(
      harness.sql,
      'select name, description from custom_images where image_id = $1',
      [listed[1]!.ImageId],
    );
    expect(text).toEqual({ name: 'nul\u2400inside', description: 'lone \ufffd surrogate' });
    // The rest is applied: the rename. The item whose ImageId became another region's id no longer
    // lists its own, but read back by id that image is still there: the listing deletes nothing
    // this time (rejected items with an id count as listed, so without that it would have).
    const after = await stored(region);
    expect(after.find((r) => r.image_id === renamed.ImageId)?.name).toBe('still applied');
    expect(after.filter((r) => r.deleted)).toEqual([]);
    expect(error).toContain('still there when read by id');
    // The item listed under two regions did not move.
    expect((await stored('cn-zhangjiakou')).map((r) => r.image_id)).toEqual([elsewhere.ImageId]);

    const clean = await harness.syncRegion(region);
    expect(clean.status).toBe('succeeded');
    expect(await live(region)).toEqual(cloud(region));
    expect((await stored(region)).filter((r) => r.deleted).map((r) => r.image_id)).toEqual([gone.ImageId]);
  });

  it('leaves out an id two regions list as new at the same time, failing neither', async () => {
    const [first, second] = ['cn-qingdao', 'cn-huhehaote'] as const;
    simulator.admin.setRegion(first, 3);
    simulator.admin.setRegion(second, 3);
    const shared = images(first)[0]!.ImageId;
    // The second region lists the first region's new image too (the API has one image per id).
    simulator.admin.injectFault({
      kind: 'patch-item',
      regionId: second,
      index: 0,
      fields: { ImageId: shared },
      times: Number.POSITIVE_INFINITY,
    });
    // The shared row's insert waits half a second, so both commits look the id up in the other
    // region before either has stored it: the second insert then meets the first one's row.
    await harness.sql.query(`create function slow_test_insert() returns trigger language plpgsql as $$
      begin perform pg_sleep(0.5); return new; end $$`);
    await harness.sql.query(`create trigger slow_test_insert before insert on custom_images
      for each row when (new.image_id = '${shared}') execute function slow_test_insert()`);
    try {
      const results = await Promise.all([harness.syncRegion(first), harness.syncRegion(second)]);
      expect(results.map((result) => result.status).sort()).toEqual(['partial', 'succeeded']);
      const partial = results.find((result) => result.status === 'partial');
      const winner = results.find((result) => result.status === 'succeeded')?.scope.regionId;
      expect(partial?.error).toContain(`${shared} ImageId: already stored under region ${winner}`);
      expect(
        await rows(harness.sql, 'select region_id from custom_images where image_id = $1', [shared]),
      ).toEqual([{ region_id: winner }]);
      expect(partial?.counts.created).toBe(2);
    } finally {
      simulator.admin.clearFaults();
      await harness.sql.query('drop trigger slow_test_insert on custom_images');
      await harness.sql.query('drop function slow_test_insert()');
    }
  });

  it('withholds deletions when an item has no usable ImageId, and still applies the other items', async () => {
    const region = 'cn-chengdu';
    simulator.admin.setRegion(region, 6);
    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    const listed = images(region);
    simulator.admin.deleteImage(region, listed[5]!.ImageId);
    simulator.admin.updateImage(region, listed[1]!.ImageId, { Name: 'applied anyway' });
    // On every read: an incomplete listing is re-read, and a clean re-read would hide the item.
    simulator.admin.injectFault({
      kind: 'patch-item',
      regionId: region,
      index: 0,
      fields: { ImageId: 'x'.repeat(300_000) },
      times: Number.POSITIVE_INFINITY,
    });

    const result = await harness.syncRegion(region);
    simulator.admin.clearFaults();
    expect(result.status).toBe('partial');
    const error = (await run(result.runId))?.error ?? '';
    expect(error).toContain('item without a usable ImageId (page 1 #0) ImageId');
    expect(error.length).toBeLessThan(5_000);
    const after = await stored(region);
    expect(after.find((r) => r.image_id === listed[5]!.ImageId)?.deleted).toBe(false);
    expect(after.find((r) => r.image_id === listed[1]!.ImageId)?.name).toBe('applied anyway');

    expect((await harness.syncRegion(region)).status).toBe('succeeded');
    expect(await live(region)).toEqual(cloud(region));
  });
});
