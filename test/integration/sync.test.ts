import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness, tableCounts } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';

// Syncs, tables and events end to end in-process: the real client over HTTP against the simulator, the real
// store in this file's own PostgreSQL database.
describe('region sync against the simulator', () => {
  let simulator: Simulator;
  let harness: SyncHarness;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 7,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 250 },
        { regionId: 'cn-shanghai', images: 3 },
        { regionId: 'ap-southeast-1', images: 0 },
      ],
    });
    harness = await createSyncHarness(await createTestDatabase(), simulator, {
      SWAS_REGIONS: 'cn-hangzhou,cn-shanghai,ap-southeast-1',
    });
  });
  afterAll(async () => {
    await harness?.close();
    await simulator?.close();
  });

  /**
   * `xmin` of every row of the sync tables (of one region, when given): a row written in any way,
   * even to the same values, gets a new one.
   */
  const rowVersions = async (regionId?: string) =>
    Object.fromEntries(
      (
        await rows<{ key: string; xmin: string }>(
          harness.sql,
          `select 'image ' || image_id as key, xmin::text from custom_images where $1::text is null or region_id = $1
           union all
           select 'version ' || image_id || '@' || version, xmin::text from custom_image_versions
             where $1::text is null or region_id = $1
           union all
           select 'event ' || id, xmin::text from image_events where $1::text is null or region_id = $1
           union all
           select 'run ' || id, xmin::text from sync_runs where $1::text is null or region_id = $1`,
          [regionId ?? null],
        )
      ).map((row) => [row.key, row.xmin]),
    );

  it('records a baseline of 3 regions: 253 images, 3 succeeded runs, 5 API calls, 253 baseline events', async () => {
    const report = await harness.syncAll();
    expect(report.ok).toBe(true);
    expect(report.results.map((r) => [r.scope.regionId, r.status, r.counts.imagesSeen])).toEqual([
      ['cn-hangzhou', 'succeeded', 250],
      ['cn-shanghai', 'succeeded', 3],
      ['ap-southeast-1', 'succeeded', 0],
    ]);
    expect(simulator.admin.calls().filter((c) => c.action === 'ListCustomImages')).toHaveLength(5);
    expect(await tableCounts(harness.sql)).toEqual({
      images: 253,
      deleted: 0,
      versions: 253,
      events: 253,
      runs: 3,
    });
    const runs = await rows(
      harness.sql,
      'select status, api_calls, pages, images_seen, created, events from sync_runs',
    );
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded']);
    expect(runs.reduce((sum, r) => sum + Number(r.api_calls), 0)).toBe(5);
    const events = await rows(
      harness.sql,
      'select type, baseline, count(*)::int as n from image_events group by 1, 2',
    );
    expect(events).toEqual([{ type: 'image.created', baseline: true, n: 253 }]);
    // The result reports what was committed, by type (the events metric counts from it).
    expect(report.results.map((r) => r.eventsByType)).toEqual([
      [{ type: 'image.created', baseline: true, count: 250 }],
      [{ type: 'image.created', baseline: true, count: 3 }],
      undefined,
    ]);
    const ids = await rows<{ id: string }>(harness.sql, 'select id::text as id from image_events');
    for (const { id } of ids)
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('writes nothing but the run rows when re-synced over unchanged data: every other row keeps its xmin', async () => {
    const before = await tableCounts(harness.sql);
    const versionsBefore = await rowVersions();
    const report = await harness.syncAll();
    expect(report.results.map((r) => [r.status, r.counts])).toEqual([
      ['succeeded', { imagesSeen: 250, created: 0, updated: 0, deleted: 0, events: 0 }],
      ['succeeded', { imagesSeen: 3, created: 0, updated: 0, deleted: 0, events: 0 }],
      ['succeeded', { imagesSeen: 0, created: 0, updated: 0, deleted: 0, events: 0 }],
    ]);
    expect(await tableCounts(harness.sql)).toEqual({ ...before, runs: before.runs + 3 });
    // Not one image, version, event or earlier run row was rewritten (no last_seen_at bump either).
    const after = await rowVersions();
    const newRuns = report.results.map((r) => `run ${r.runId}`);
    expect(Object.keys(after).filter((key) => !(key in versionsBefore))).toEqual(
      expect.arrayContaining(newRuns),
    );
    for (const key of newRuns) delete after[key];
    expect(after).toEqual(versionsBefore);
  });

  it('rewrites a missing hash once, without a version or an event, and writes nothing the time after', async () => {
    const region = 'cn-shanghai';
    const stored = () =>
      rows(
        harness.sql,
        `select image_id, state_hash, version, last_seen_at, deleted_at from custom_images
         where region_id = $1 order by image_id`,
        [region],
      );
    const before = await stored();
    expect(before).toHaveLength(3);
    for (const row of before) expect(row.state_hash).toEqual(expect.any(String));
    // As rows written before hashes were stored (or by hand) have them.
    await harness.sql.query('update custom_images set state_hash = null where region_id = $1', [region]);
    const counts = await tableCounts(harness.sql);

    const result = await harness.syncRegion(region);
    expect(result).toMatchObject({
      status: 'succeeded',
      counts: { imagesSeen: 3, created: 0, updated: 0, deleted: 0, events: 0 },
    });
    // The listing side's hash is back, and nothing else of the rows moved.
    expect(await stored()).toEqual(before);
    expect(await tableCounts(harness.sql)).toEqual({ ...counts, runs: counts.runs + 1 });

    const settled = await rowVersions(region);
    const again = await harness.syncRegion(region);
    expect(again.status).toBe('succeeded');
    const after = await rowVersions(region);
    delete after[`run ${again.runId}`];
    expect(after).toEqual(settled);
  });

  it('turns seven changes into exactly its eight events', async () => {
    const images = simulator.admin.listImages('cn-hangzhou');
    const plain = images.filter((i) => i.Status === '1' && !i.InShare && !i.InShareUser);
    const [toFail, toShare, toRename, toDelete, toUnavailable] = plain;
    const sharedToAccount = images.find((i) => i.InShareUser === true && i.Status === '1');
    if (!toFail || !toShare || !toRename || !toDelete || !toUnavailable || !sharedToAccount) {
      throw new Error('seed 7 lacks the images this test needs');
    }
    simulator.admin.updateImage('cn-hangzhou', toFail.ImageId, { Status: '3' });
    simulator.admin.updateImage('cn-hangzhou', toShare.ImageId, { InShare: true });
    simulator.admin.updateImage('cn-hangzhou', toRename.ImageId, { Name: '生产环境-网站镜像-新' });
    simulator.admin.deleteImage('cn-hangzhou', toDelete.ImageId);
    const added = simulator.admin.addImage('cn-hangzhou', {
      Name: '新建镜像',
      Status: '1',
      InShare: false,
      InShareUser: false,
    });
    simulator.admin.updateImage('cn-hangzhou', toUnavailable.ImageId, { Status: '2' });
    simulator.admin.updateImage('cn-hangzhou', sharedToAccount.ImageId, { InShareUser: false });

    const [result] = (await harness.syncAll(['cn-hangzhou'])).results;
    expect(result).toMatchObject({
      status: 'succeeded',
      counts: { created: 1, updated: 5, deleted: 1, events: 8 },
    });

    const events = await rows<{
      type: string;
      image_id: string;
      baseline: boolean;
      data: Record<string, unknown>;
    }>(
      harness.sql,
      'select type, image_id, baseline, data from image_events where baseline = false order by type, image_id',
    );
    const committed = new Map<string, number>();
    for (const e of events) committed.set(e.type, (committed.get(e.type) ?? 0) + 1);
    expect(
      Object.fromEntries(
        (result?.eventsByType ?? []).map((row) => [`${row.type} ${row.baseline}`, row.count]),
      ),
    ).toEqual(Object.fromEntries([...committed].map(([type, n]) => [`${type} false`, n])));
    expect(events.map((e) => [e.type, e.image_id]).sort()).toEqual(
      [
        ['image.created', added.ImageId],
        ['image.deleted', toDelete.ImageId],
        ['image.failed', toFail.ImageId],
        ['image.shared', toShare.ImageId],
        ['image.status_changed', toFail.ImageId],
        ['image.status_changed', toUnavailable.ImageId],
        ['image.unshared', sharedToAccount.ImageId],
        ['image.updated', toRename.ImageId],
      ].sort(),
    );
    const byKey = new Map(events.map((e) => [`${e.type}:${e.image_id}`, e.data]));
    expect(byKey.get(`image.failed:${toFail.ImageId}`)).toMatchObject({ from: '1', version: 2 });
    expect(byKey.get(`image.status_changed:${toUnavailable.ImageId}`)).toMatchObject({
      from: '1',
      to: '2',
      fromLabel: 'available',
      toLabel: 'unavailable',
      account: 'default',
      regionId: 'cn-hangzhou',
      imageId: toUnavailable.ImageId,
    });
    expect(byKey.get(`image.shared:${toShare.ImageId}`)).toMatchObject({ target: 'ecs' });
    expect(byKey.get(`image.unshared:${sharedToAccount.ImageId}`)).toMatchObject({ target: 'account' });
    expect(byKey.get(`image.updated:${toRename.ImageId}`)).toMatchObject({
      changes: { Name: { from: toRename.Name, to: '生产环境-网站镜像-新' } },
    });
    expect(byKey.get(`image.created:${added.ImageId}`)).toMatchObject({ image: { ImageId: added.ImageId } });

    // History: the changed images have their first version closed and a second one open.
    const versions = await rows<{ image_id: string; version: number; open: boolean }>(
      harness.sql,
      'select image_id, version, valid_to is null as open from custom_image_versions where image_id = any($1) order by 1, 2',
      [[toFail.ImageId, toRename.ImageId]],
    );
    expect(versions.map((v) => [v.image_id, v.version, v.open])).toEqual(
      [
        [toFail.ImageId, 1, false],
        [toFail.ImageId, 2, true],
        [toRename.ImageId, 1, false],
        [toRename.ImageId, 2, true],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0])) || Number(a[1]) - Number(b[1])),
    );
    // The deleted image keeps its row, marked deleted, with its last version closed.
    const [deleted] = await rows(
      harness.sql,
      `select ci.deleted_at is not null as gone, bool_and(v.valid_to is not null) as closed
         from custom_images ci join custom_image_versions v using (account, image_id)
        where ci.image_id = $1 group by ci.deleted_at`,
      [toDelete.ImageId],
    );
    expect(deleted).toEqual({ gone: true, closed: true });
    const [current] = await rows(harness.sql, 'select status, name from custom_images where image_id = $1', [
      toFail.ImageId,
    ]);
    expect(current?.status).toBe('3');
    // Event ids are UUID v7: every event of this later sync sorts after every baseline event.
    const [order] = await rows<{ ordered: boolean }>(
      harness.sql,
      `select (select max(id::text) from image_events where baseline)
            < (select min(id::text) from image_events where not baseline) as ordered`,
    );
    expect(order?.ordered).toBe(true);
  });
});
