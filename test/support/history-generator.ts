import type pg from 'pg';

export interface HistoryShape {
  account: string;
  regions: number;
  images: number;
  /** Versions of every image (so images × versionsPerImage rows of history). */
  versionsPerImage: number;
  /** Full syncs per region; versions are recorded by evenly spread ones. */
  runsPerRegion: number;
  /** When the first sync of every region started; default {@link HISTORY_START}. */
  start?: Date;
}

/** The benchmark's history: 100,000 versions over 10,000 images in 20 regions. */
export const BENCH_HISTORY: HistoryShape = {
  account: 'bench',
  regions: 20,
  images: 10_000,
  versionsPerImage: 10,
  runsPerRegion: 200,
};

export const HISTORY_START = '2026-01-01T00:00:00Z';
const RUN_EVERY = "interval '15 minutes'";

/** `bench-region-01`… */
export const regionName = (index: number): string => `bench-region-${String(index + 1).padStart(2, '0')}`;

/**
 * Writes a synthetic history with set-based SQL (one statement per table): full syncs every 15
 * minutes per region, each image created (`'4'`) and then changing status, name and sharing at
 * spread runs, 1 image in 20 deleted after its last version, one event per version, a few failed
 * runs (a streak of them at the end of the first region). Deterministic: the same shape gives the
 * same rows, inserted in the order syncs write them (by time, a region's rows together). Region `i`
 * holds the images `n` with `n % regions = i`.
 */
export async function generateHistory(sql: pg.ClientBase, shape: HistoryShape): Promise<void> {
  await sql.query('begin');
  try {
    await insertHistory(sql, shape);
    await sql.query('commit');
  } catch (error) {
    await sql.query('rollback');
    throw error;
  }
}

async function insertHistory(sql: pg.ClientBase, shape: HistoryShape): Promise<void> {
  const { account, regions, images, versionsPerImage: versions, runsPerRegion: runs } = shape;
  const start = (shape.start ?? new Date(HISTORY_START)).toISOString();
  const slot = Math.floor(runs / versions);
  if (slot < 1) throw new Error('runsPerRegion must be at least versionsPerImage');
  for (const value of [regions, images, versions, runs]) {
    if (!Number.isInteger(value) || value < 1) throw new Error('history shape: whole numbers ≥ 1');
  }
  // Whole numbers and a fixed instant inlined; the account is the one parameter.
  const params = [account];
  const region = (expr: string) => `'bench-region-' || lpad((${expr} + 1)::text, 2, '0')`;
  const runId = (regionExpr: string, kExpr: string) =>
    `md5('run:' || ${regionExpr} || ':' || ${kExpr})::uuid`;
  // Version v of image n is recorded by run k = (v - 1) * slot + n % slot of its region.
  const runOf = (n: string, v: string) => `((${v} - 1) * ${slot} + ${n} % ${slot})`;
  const at = (k: string) => `('${start}'::timestamptz + (${k}) * ${RUN_EVERY})`;
  await sql.query(
    `insert into sync_runs (id, account, region_id, trigger, status, started_at, finished_at, api_calls, pages,
                            images_seen, complete, error)
     select ${runId('r', 'k')}, $1, ${region('r')}, 'schedule', 'succeeded', ${at('k')},
            ${at('k')} + interval '3 seconds', 5, 5, ${images} / ${regions}, true, null
       from generate_series(0, ${regions} - 1) r, generate_series(0, ${runs} - 1) k
     union all
     -- a failed run between two full syncs now and then, and a failing streak at the end of region 1
     select ${runId('r', "'failed:' || k")}, $1, ${region('r')}, 'schedule', 'failed',
            ${at('k')} + interval '7 minutes', ${at('k')} + interval '8 minutes', 1, 0, 0, false,
            'swas.unavailable: ServiceUnavailable'
       from generate_series(0, ${regions} - 1) r, generate_series(0, ${runs} + 2) k
      where (k < ${runs} and k % 50 = 49) or (r = 0 and k >= ${runs})`,
    params,
  );
  const version = `
    select n, v, ${region(`n % ${regions}`)} as region_id, ${runId(`(n % ${regions})`, runOf('n', 'v'))} as run_id,
           ${at(runOf('n', 'v'))} as valid_from,
           case when v < ${versions} then ${at(runOf('n', 'v + 1'))}
                when n % 20 = 0 then ${at(`${runs} - 1`)} end as valid_to,
           case when v = 1 then '4'
                when (n * 31 + v * 17) % 100 < 5 then '3'
                when (n * 31 + v * 17) % 100 < 10 then '2'
                when (n * 31 + v * 17) % 100 < 13 then '0'
                else '1' end as status,
           (n * 13 + v) % 10 = 0 as in_share,
           (n * 11 + v * 3) % 17 = 0 as in_share_user
      from generate_series(1, ${images}) n, generate_series(1, ${versions}) v`;
  const attributes = `name, description, instance_id, instance_name, system_snapshot_id, system_snapshot_name,
    resource_group_id, os_type, required_system_disk_size, source_image_name, source_image_version, user_id, tags,
    create_instances, creation_time`;
  const attributeValues = (
    n: string,
    v: string,
  ) => `'镜像-' || ${n} || '-v' || ${v}, 'generated', 'ace-' || ${n},
    'web-' || ${n}, 's-' || ${n}, 'system', 'rg-bench', 'Linux', 40, 'Alibaba Cloud Linux', '3.2104 LTS 64 bit',
    '1234567890123456', '[{"Key": "env", "Value": "bench"}]'::jsonb, jsonb_build_array('ace-' || ${n}),
    '${start}'::timestamptz`;
  await sql.query(
    `insert into custom_images (account, image_id, region_id, status, in_share, in_share_user, ${attributes},
                                version, first_seen_at, last_seen_at, deleted_at, raw)
     select $1, 'm-bench' || x.n, x.region_id, x.status, x.in_share, x.in_share_user, ${attributeValues('x.n', 'x.v')},
            x.v, ${at(runOf('x.n', '1'))}, x.valid_from, x.valid_to,
            -- The item as listed, as wide as a real one (~30 fields): the heap's size decides plans.
            jsonb_build_object('ImageId', 'm-bench' || x.n, 'ImageName', '镜像-' || x.n || '-v' || x.v,
              'Description', 'generated', 'Status', x.status, 'RegionId', x.region_id,
              'InstanceId', 'ace-' || x.n, 'InstanceName', 'web-' || x.n,
              'SystemSnapshotId', 's-' || x.n, 'SystemSnapshotName', 'system',
              'DataSnapshotId', '', 'DataSnapshotName', '', 'ResourceGroupId', 'rg-bench',
              'OsType', 'Linux', 'RequiredSystemDiskSize', 40, 'RequiredDataDiskSize', 0,
              'SourceImageName', 'Alibaba Cloud Linux', 'SourceImageVersion', '3.2104 LTS 64 bit',
              'UserId', 1234567890123456, 'InShare', x.in_share, 'InShareUser', x.in_share_user,
              'Tags', '[{"Key": "env", "Value": "bench"}]'::jsonb,
              'CreateInstances', jsonb_build_array('ace-' || x.n), 'CreationTime', '${start}',
              'ImageVersion', 'v' || x.v, 'Platform', 'Linux', 'Architecture', 'x86_64',
              'ImageType', 'custom', 'DiskSize', 40, 'Progress', '100%')
       from (${version}) x where x.v = ${versions}
      order by x.region_id, x.n`,
    params,
  );
  await sql.query(
    `insert into custom_image_versions (account, image_id, version, region_id, status, in_share, in_share_user,
                                        ${attributes}, valid_from, valid_to, sync_run_id)
     select $1, 'm-bench' || x.n, x.v, x.region_id, x.status, x.in_share, x.in_share_user,
            ${attributeValues('x.n', 'x.v')}, x.valid_from, x.valid_to, x.run_id
       from (${version}) x
      order by x.valid_from, x.region_id, x.n`,
    params,
  );
  await sql.query(
    `insert into image_events (id, type, account, region_id, image_id, occurred_at, sync_run_id, baseline, data)
     select md5('event:' || x.n || ':' || x.v)::uuid,
            case when x.v = 1 then 'image.created' else 'image.status_changed' end,
            $1, x.region_id, 'm-bench' || x.n, x.valid_from, x.run_id, x.v = 1 and x.valid_from = '${start}'::timestamptz,
            jsonb_build_object('account', $1::text, 'regionId', x.region_id, 'imageId', 'm-bench' || x.n, 'version', x.v)
       from (${version}) x
      order by x.valid_from, x.region_id, x.n`,
    params,
  );
}
