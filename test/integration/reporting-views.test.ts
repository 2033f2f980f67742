import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';

// The reporting views against a history whose every step this file makes: images added to an
// empty simulator region, synced through the real client and store, changed between syncs.
// Boundaries are compared with the versions the syncs recorded, so the checks hold whichever
// instant of a run its writes carry.

const REGION = 'cn-hangzhou';
const OTHER = 'cn-shanghai';

interface Version {
  image_id: string;
  version: number;
  status: string;
  valid_from: Date;
  valid_to: Date | null;
}

const ms = (date: Date | null | undefined): number => {
  if (!date) throw new Error('expected a time');
  return date.getTime();
};
const justBefore = (date: Date) => new Date(date.getTime() - 1);

describe('reporting views over a known history', () => {
  let simulator: Simulator;
  let harness: SyncHarness;
  const ids = { fails: '', shared: '', toAccount: '', gone: '', steady: '', other: '' };
  let versions: Version[];
  const version = (imageId: string, n: number): Version => {
    const found = versions.find((v) => v.image_id === imageId && v.version === n);
    if (!found) throw new Error(`no version ${n} of ${imageId}`);
    return found;
  };

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      quota: null,
      regions: [
        { regionId: REGION, images: 0 },
        { regionId: OTHER, images: 0 },
      ],
    });
    const databaseUrl = await createTestDatabase();
    const env = { SWAS_REGIONS: `${REGION},${OTHER}` };
    harness = await createSyncHarness(databaseUrl, simulator, env);
    // Each sync in a store of its own, as separate `sync --once` processes run them.
    const sync = async (regionId: string) => {
      const worker = await createSyncHarness(databaseUrl, simulator, env);
      try {
        return (await worker.syncRegion(regionId)).status;
      } finally {
        await worker.close();
      }
    };
    const add = (regionId: string, name: string) =>
      simulator.admin.addImage(regionId, { Name: name, Status: '1', InShare: false, InShareUser: false })
        .ImageId;
    ids.fails = add(REGION, 'fails-then-recovers');
    ids.shared = add(REGION, 'shared-to-ecs-then-unshared');
    ids.toAccount = add(REGION, 'shared-to-accounts');
    ids.gone = add(REGION, 'deleted');
    ids.steady = add(REGION, 'never-changes');
    ids.other = add(OTHER, 'other-region');

    // sync 1: the baseline of both regions
    expect(await sync(REGION)).toBe('succeeded');
    expect(await sync(OTHER)).toBe('succeeded');
    // sync 2: a creation failure, two shares
    simulator.admin.updateImage(REGION, ids.fails, { Status: '3' });
    simulator.admin.updateImage(REGION, ids.shared, { InShare: true });
    simulator.admin.updateImage(REGION, ids.toAccount, { InShareUser: true });
    expect(await sync(REGION)).toBe('succeeded');
    // sync 3: the failure becomes unavailable (still failed), the ECS share ends, an image is deleted
    simulator.admin.updateImage(REGION, ids.fails, { Status: '2' });
    simulator.admin.updateImage(REGION, ids.shared, { InShare: false });
    simulator.admin.deleteImage(REGION, ids.gone);
    expect(await sync(REGION)).toBe('succeeded');
    // sync 4: recovery
    simulator.admin.updateImage(REGION, ids.fails, { Status: '1' });
    expect(await sync(REGION)).toBe('succeeded');
    // sync 5: nothing changed
    expect(await sync(REGION)).toBe('succeeded');
    // the other region fails twice in a row
    const fault = simulator.admin.injectFault({
      kind: 'error',
      status: 400,
      code: 'InvalidParameter',
      regionId: OTHER,
      times: Number.POSITIVE_INFINITY,
    });
    expect(await sync(OTHER)).toBe('failed');
    expect(await sync(OTHER)).toBe('failed');
    simulator.admin.removeFault(fault);

    versions = await rows<Version>(
      harness.sql,
      'select image_id, version, status, valid_from, valid_to from custom_image_versions order by image_id, version',
    );
  });
  afterAll(async () => {
    await harness?.close();
    await simulator?.close();
  });

  it('recorded the history the test made', () => {
    const statuses = (imageId: string) => versions.filter((v) => v.image_id === imageId).map((v) => v.status);
    expect(statuses(ids.fails)).toEqual(['1', '3', '2', '1']);
    expect(statuses(ids.shared)).toEqual(['1', '1', '1']);
    expect(statuses(ids.gone)).toEqual(['1']);
    expect(statuses(ids.steady)).toEqual(['1']);
  });

  it('image_status_periods: one row per status period, bounded by the versions, the current one open', async () => {
    const periods = await rows(
      harness.sql,
      `select image_id, period, status, status_label, entered_at, left_at, duration_seconds, is_current,
              ended_by, next_status, next_status_label, first_version, last_version,
              extract(epoch from duration)::float8 as duration_interval_seconds
         from reporting.image_status_periods where image_id = $1 order by period`,
      [ids.fails],
    );
    const [v1, v2, v3, v4] = [1, 2, 3, 4].map((n) => version(ids.fails, n)) as [
      Version,
      Version,
      Version,
      Version,
    ];
    expect(periods).toHaveLength(4);
    expect(periods.slice(0, 3)).toEqual([
      {
        image_id: ids.fails,
        period: 1,
        status: '1',
        status_label: 'available',
        entered_at: v1.valid_from,
        left_at: v2.valid_from,
        duration_seconds: (ms(v2.valid_from) - ms(v1.valid_from)) / 1000,
        duration_interval_seconds: (ms(v2.valid_from) - ms(v1.valid_from)) / 1000,
        is_current: false,
        ended_by: 'status_changed',
        next_status: '3',
        next_status_label: 'create_failed',
        first_version: 1,
        last_version: 1,
      },
      {
        image_id: ids.fails,
        period: 2,
        status: '3',
        status_label: 'create_failed',
        entered_at: v2.valid_from,
        left_at: v3.valid_from,
        duration_seconds: (ms(v3.valid_from) - ms(v2.valid_from)) / 1000,
        duration_interval_seconds: (ms(v3.valid_from) - ms(v2.valid_from)) / 1000,
        is_current: false,
        ended_by: 'status_changed',
        next_status: '2',
        next_status_label: 'unavailable',
        first_version: 2,
        last_version: 2,
      },
      {
        image_id: ids.fails,
        period: 3,
        status: '2',
        status_label: 'unavailable',
        entered_at: v3.valid_from,
        left_at: v4.valid_from,
        duration_seconds: (ms(v4.valid_from) - ms(v3.valid_from)) / 1000,
        duration_interval_seconds: (ms(v4.valid_from) - ms(v3.valid_from)) / 1000,
        is_current: false,
        ended_by: 'status_changed',
        next_status: '1',
        next_status_label: 'available',
        first_version: 3,
        last_version: 3,
      },
    ]);
    // The current period is open and lasts until now.
    const current = periods[3];
    expect(current).toMatchObject({
      period: 4,
      status: '1',
      entered_at: v4.valid_from,
      left_at: null,
      is_current: true,
      ended_by: null,
      next_status: null,
      first_version: 4,
      last_version: 4,
    });
    const [{ now } = { now: new Date(0) }] = await rows<{ now: Date }>(harness.sql, 'select now() as now');
    expect(Number(current?.duration_seconds)).toBeGreaterThanOrEqual(0);
    expect(Number(current?.duration_seconds)).toBeLessThanOrEqual((ms(now) - ms(v4.valid_from)) / 1000 + 60);

    // Versions that change other attributes only stay in one period (the shared image: 3 versions).
    const shared = await rows(
      harness.sql,
      'select period, status, first_version, last_version, left_at from reporting.image_status_periods where image_id = $1',
      [ids.shared],
    );
    expect(shared).toEqual([{ period: 1, status: '1', first_version: 1, last_version: 3, left_at: null }]);

    // A deletion ends the period; nothing follows it.
    const gone = await rows(
      harness.sql,
      'select status, entered_at, left_at, ended_by, next_status, is_current from reporting.image_status_periods where image_id = $1',
      [ids.gone],
    );
    const [deletedAt] = await rows<{ deleted_at: Date }>(
      harness.sql,
      'select deleted_at from custom_images where image_id = $1',
      [ids.gone],
    );
    expect(deletedAt?.deleted_at).toBeInstanceOf(Date);
    expect(gone).toEqual([
      {
        status: '1',
        entered_at: version(ids.gone, 1).valid_from,
        left_at: deletedAt?.deleted_at,
        ended_by: 'deleted',
        next_status: null,
        is_current: false,
      },
    ]);
  });

  it('image_failures: every entry into create_failed or unavailable, how long it lasted, the current status', async () => {
    const failures = await rows(
      harness.sql,
      `select image_id, name, status, status_label, entered_at, left_at, duration_seconds, is_current, ended_by,
              next_status, current_status, current_status_label, deleted_at
         from reporting.image_failures order by entered_at`,
    );
    const [, v2, v3, v4] = [1, 2, 3, 4].map((n) => version(ids.fails, n)) as [
      Version,
      Version,
      Version,
      Version,
    ];
    expect(failures).toEqual([
      {
        image_id: ids.fails,
        name: 'fails-then-recovers',
        status: '3',
        status_label: 'create_failed',
        entered_at: v2.valid_from,
        left_at: v3.valid_from,
        duration_seconds: (ms(v3.valid_from) - ms(v2.valid_from)) / 1000,
        is_current: false,
        ended_by: 'status_changed',
        next_status: '2',
        current_status: '1',
        current_status_label: 'available',
        deleted_at: null,
      },
      {
        image_id: ids.fails,
        name: 'fails-then-recovers',
        status: '2',
        status_label: 'unavailable',
        entered_at: v3.valid_from,
        left_at: v4.valid_from,
        duration_seconds: (ms(v4.valid_from) - ms(v3.valid_from)) / 1000,
        is_current: false,
        ended_by: 'status_changed',
        next_status: '1',
        current_status: '1',
        current_status_label: 'available',
        deleted_at: null,
      },
    ]);
  });

  it('image_share_history: one row per share period and target', async () => {
    const shares = await rows(
      harness.sql,
      `select image_id, name, target, shared_at, unshared_at, duration_seconds, is_current, ended_by, first_version
         from reporting.image_share_history order by image_id, target`,
    );
    const sharedV2 = version(ids.shared, 2);
    const sharedV3 = version(ids.shared, 3);
    const expected = [
      {
        image_id: ids.shared,
        name: 'shared-to-ecs-then-unshared',
        target: 'ecs',
        shared_at: sharedV2.valid_from,
        unshared_at: sharedV3.valid_from,
        duration_seconds: (ms(sharedV3.valid_from) - ms(sharedV2.valid_from)) / 1000,
        is_current: false,
        ended_by: 'unshared',
        first_version: 2,
      },
      {
        image_id: ids.toAccount,
        name: 'shared-to-accounts',
        target: 'account',
        shared_at: version(ids.toAccount, 2).valid_from,
        unshared_at: null,
        duration_seconds: expect.any(Number),
        is_current: true,
        ended_by: null,
        first_version: 2,
      },
    ].sort((a, b) => a.image_id.localeCompare(b.image_id));
    expect(shares).toEqual(expected);
  });

  it('inventory_by_region: listed images per account, region and status', async () => {
    expect(
      await rows(
        harness.sql,
        'select account, region_id, status, status_label, images, shared_images from reporting.inventory_by_region order by region_id, status',
      ),
    ).toEqual([
      {
        account: 'default',
        region_id: REGION,
        status: '1',
        status_label: 'available',
        images: 4,
        shared_images: 1,
      },
      {
        account: 'default',
        region_id: OTHER,
        status: '1',
        status_label: 'available',
        images: 1,
        shared_images: 0,
      },
    ]);
  });

  it('sync_health: the failing region with its consecutive failures, the healthy one ok', async () => {
    const health = await rows(
      harness.sql,
      `select region_id, state, consecutive_failures, last_run_status, last_run_abandoned,
              last_run_error is not null as has_error, last_complete_run_id is not null as has_complete,
              staleness_seconds >= 0 as stale_known
         from reporting.sync_health order by region_id`,
    );
    expect(health).toEqual([
      {
        region_id: REGION,
        state: 'ok',
        consecutive_failures: 0,
        last_run_status: 'succeeded',
        last_run_abandoned: false,
        has_error: false,
        has_complete: true,
        stale_known: true,
      },
      {
        region_id: OTHER,
        state: 'failing',
        consecutive_failures: 2,
        last_run_status: 'failed',
        last_run_abandoned: false,
        has_error: true,
        has_complete: true,
        stale_known: true,
      },
    ]);
    const [runs] = await rows<{ last: string; complete: string }>(
      harness.sql,
      `select (select id::text from sync_runs where region_id = $1 order by started_at desc limit 1) as last,
              (select id::text from sync_runs where region_id = $1 and complete order by started_at desc limit 1) as complete`,
      [REGION],
    );
    const [ok] = await rows<{ last_run_id: string; last_complete_run_id: string }>(
      harness.sql,
      'select last_run_id::text, last_complete_run_id::text from reporting.sync_health where region_id = $1',
      [REGION],
    );
    expect(ok).toEqual({ last_run_id: runs?.last, last_complete_run_id: runs?.complete });
  });

  it('images_as_of: the inventory before, at and between changes, and after the deletion', async () => {
    const asOf = async (at: Date) =>
      rows<{ image_id: string; status: string; in_share: boolean; version: number }>(
        harness.sql,
        `select image_id, status, in_share, version from reporting.images_as_of($1) where region_id = $2 order by image_id`,
        [at, REGION],
      );
    const first = version(ids.fails, 1).valid_from;
    expect(await asOf(justBefore(first))).toEqual([]);
    const baseline = await asOf(first);
    expect(baseline.map((r) => r.image_id).sort()).toEqual(
      [ids.fails, ids.shared, ids.toAccount, ids.gone, ids.steady].sort(),
    );
    expect(baseline.every((r) => r.status === '1' && r.version === 1)).toBe(true);

    const failedAt = version(ids.fails, 2).valid_from;
    const statusOf = async (at: Date, imageId: string) =>
      (await asOf(at)).find((r) => r.image_id === imageId);
    // Just before the change, the old state; from the instant it was observed, the new one.
    expect(await statusOf(justBefore(failedAt), ids.fails)).toMatchObject({ status: '1', version: 1 });
    expect(await statusOf(failedAt, ids.fails)).toMatchObject({ status: '3', version: 2 });
    expect(await statusOf(failedAt, ids.shared)).toMatchObject({ in_share: true, version: 2 });
    const [{ deleted_at: deletedAt } = { deleted_at: new Date(0) }] = await rows<{ deleted_at: Date }>(
      harness.sql,
      'select deleted_at from custom_images where image_id = $1',
      [ids.gone],
    );
    expect(await statusOf(justBefore(deletedAt), ids.gone)).toMatchObject({ status: '1' });
    expect(await statusOf(deletedAt, ids.gone)).toBeUndefined();
    // Between the unavailable and the recovered state.
    const recovered = version(ids.fails, 4).valid_from;
    expect(await statusOf(justBefore(recovered), ids.fails)).toMatchObject({ status: '2', version: 3 });
    // Now: what the tables hold.
    const now = await asOf(new Date());
    const current = await rows<{ image_id: string; status: string; in_share: boolean; version: number }>(
      harness.sql,
      `select image_id, status, in_share, version from custom_images
        where region_id = $1 and deleted_at is null order by image_id`,
      [REGION],
    );
    expect(now).toEqual(current);
  });

  it('current_images: every image with the last complete listing that saw it', async () => {
    const images = await rows<{
      image_id: string;
      last_seen_at: Date;
      last_seen_stored_at: Date;
      deleted_at: Date | null;
      status_label: string;
      raw: Record<string, unknown>;
    }>(
      harness.sql,
      `select image_id, last_seen_at, last_seen_stored_at, deleted_at, status_label, raw
         from reporting.current_images where region_id = $1`,
      [REGION],
    );
    expect(images).toHaveLength(5);
    const [latest] = await rows<{ started_at: Date; finished_at: Date }>(
      harness.sql,
      `select started_at, finished_at from sync_runs where region_id = $1 and complete order by started_at desc limit 1`,
      [REGION],
    );
    for (const image of images) {
      expect(image.raw).toMatchObject({ ImageId: image.image_id });
      expect(ms(image.last_seen_at)).toBeGreaterThanOrEqual(ms(image.last_seen_stored_at));
      if (image.deleted_at) {
        expect(image.last_seen_at).toEqual(image.last_seen_stored_at);
      } else {
        // The latest listing saw every listed image, at an instant of that run.
        expect(ms(image.last_seen_at)).toBeGreaterThanOrEqual(ms(latest?.started_at));
        expect(ms(image.last_seen_at)).toBeLessThanOrEqual(ms(latest?.finished_at));
      }
    }
  });

  it('gives every view, function and column of schema reporting a comment', async () => {
    const missing = await rows<{ object: string }>(
      harness.sql,
      `select c.relname || coalesce('.' || a.attname, '') as object
         from pg_class c
         join pg_namespace n on n.oid = c.relnamespace and n.nspname = 'reporting'
         left join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.relkind = 'v'
          and (obj_description(c.oid, 'pg_class') is null
               or (a.attname is not null and col_description(c.oid, a.attnum) is null))
       union all
       select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace and n.nspname = 'reporting'
        where obj_description(p.oid, 'pg_proc') is null`,
    );
    expect(missing).toEqual([]);
    const views = await rows<{ name: string }>(
      harness.sql,
      `select table_name as name from information_schema.views where table_schema = 'reporting' order by 1`,
    );
    expect(views.map((v) => v.name)).toEqual([
      'current_images',
      'image_failures',
      'image_share_history',
      'image_status_periods',
      'image_versions',
      'inventory_by_region',
      'sync_health',
    ]);
  });
});
