import { type SQL, sql } from 'drizzle-orm';
import { AppError } from '../shared/app-error.ts';
import type { RegionState, Scope, StoredImage, SyncPlan } from '../sync/model.ts';
import type { Db, DbOrTx, Tx } from './client.ts';
import { ATTRIBUTE_COLUMNS, type ImageRow, rowToState } from './image-row.ts';
import { customImages, customImageVersions, imageEvents, syncRuns } from './schema/index.ts';

/**
 * The database side of a region sync (SPEC §5.3): the per-scope lock, the one read of a scope's
 * state, and the set-based write of a {@link SyncPlan}. Every write is a fixed number of
 * statements whatever the region's size: arrays bound as single parameters and `unnest`ed
 * (`sql.param`, so drizzle does not expand them into one parameter per element).
 */
export interface RegionStore {
  /**
   * Runs `fn` in one transaction holding the scope's advisory lock
   * (`pg_advisory_xact_lock(hashtextextended('swas-sync:<account>:<region>', 0))`). A second
   * caller for the same scope waits, then runs against what the first committed. The lock is
   * released with the transaction; an error in `fn` rolls everything back and is rethrown.
   */
  withRegionLock<T>(scope: Scope, fn: (tx: Tx) => Promise<T>): Promise<T>;
  loadRegionState: typeof loadRegionState;
  applyPlan: typeof applyPlan;
}

export function createRegionStore(db: Db): RegionStore {
  return {
    withRegionLock: (scope, fn) =>
      db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${regionLockKey(scope)}, 0))`);
        return fn(tx);
      }),
    loadRegionState,
    applyPlan,
  };
}

/** The text hashed into the scope's advisory lock key. */
export const regionLockKey = (scope: Scope): string => `swas-sync:${scope.account}:${scope.regionId}`;

const ms = (column: string) => sql.raw(`(extract(epoch from ${column}) * 1000)::float8`);

/**
 * What the database holds for a scope: every image ever seen there (deleted ones too, so that a
 * re-listed image continues its history), read in ONE query without `raw`; plus whether the scope
 * is still at its baseline and which deletions its latest complete run held.
 *
 * - `baseline`: no `sync_runs` row of the scope with `complete` (a `succeeded`/`partial` run that
 *   applied a complete full listing).
 * - `heldDeletions`: `data.imageIds` of the `sync.deletions_held` event of the scope's latest
 *   complete run (by `finished_at`), or `[]` when that run held nothing.
 */
export async function loadRegionState(tx: DbOrTx, scope: Scope): Promise<RegionState> {
  const runs = await tx.execute<{ held: unknown }>(sql`
    select (
      select e.data -> 'imageIds' from ${imageEvents} e
      where e.sync_run_id = r.id and e.type = 'sync.deletions_held'
      limit 1
    ) as held
    from ${syncRuns} r
    where r.account = ${scope.account} and r.region_id = ${scope.regionId} and r.complete
    order by r.finished_at desc, r.started_at desc
    limit 1`);
  const images = await tx.execute<ImageRow>(sql`
    select image_id, region_id, name, description, status, in_share, in_share_user,
      instance_id, instance_name, system_snapshot_id, system_snapshot_name,
      data_snapshot_id, data_snapshot_name, resource_group_id, os_type,
      required_system_disk_size, required_data_disk_size, source_image_name, source_image_version,
      user_id, tags, create_instances, ${ms('creation_time')} as creation_time_ms,
      version, ${ms('deleted_at')} as deleted_at_ms
    from ${customImages}
    where account = ${scope.account} and region_id = ${scope.regionId}`);
  const stored: StoredImage[] = images.rows.map((row) => ({
    state: rowToState(row),
    version: row.version,
    deletedAt: row.deleted_at_ms,
  }));
  const last = runs.rows[0];
  const held = last?.held;
  return {
    stored,
    baseline: last === undefined,
    heldDeletions: Array.isArray(held) ? held.filter((id): id is string => typeof id === 'string') : [],
  };
}

/**
 * Writes a plan for `scope` as run `runId` at `now` (epoch ms), inside the caller's transaction:
 * 1. closes `plan.closeVersions` (`valid_to = now`);
 * 2. upserts `plan.writes` into `custom_images` (new: `first_seen_at = now`; every write:
 *    attributes, `version`, `raw`, `last_seen_at = now`, `deleted_at = null`) and inserts their
 *    new current versions (`valid_from = now`), in one statement;
 * 3. moves `last_seen_at` of `plan.unchangedIds` to `now`;
 * 4. sets `deleted_at = now` for `plan.deletions`;
 * 5. inserts `plan.events` into `image_events`.
 * Each step checks the number of rows it touched against the plan and throws `db.plan_mismatch`
 * (rolling the transaction back) when they differ: the plan was computed from another state.
 */
export async function applyPlan(
  tx: DbOrTx,
  scope: Scope,
  runId: string,
  plan: SyncPlan,
  now: number,
): Promise<void> {
  const at = new Date(now).toISOString();
  const { account, regionId } = scope;

  if (plan.closeVersions.length > 0) {
    // greatest(): a clock stepping back must not make valid_to precede valid_from.
    const closed = await tx.execute(sql`
      update ${customImageVersions} v
      set valid_to = greatest(${at}::timestamptz, v.valid_from)
      from ${unnest([
        ['image_id', 'text', plan.closeVersions.map((c) => c.imageId)],
        ['version', 'integer', plan.closeVersions.map((c) => c.version)],
      ])}
      where v.account = ${account} and v.image_id = u.image_id and v.version = u.version and v.valid_to is null`);
    expectRows('close versions', closed.rowCount, plan.closeVersions.length, scope);
  }

  if (plan.writes.length > 0) {
    const columns: Array<[string, string, unknown[]]> = [
      ['image_id', 'text', plan.writes.map((w) => w.state.imageId)],
      ['version', 'integer', plan.writes.map((w) => w.version)],
      ['raw', 'text', plan.writes.map((w) => JSON.stringify(w.raw))],
      ...ATTRIBUTE_COLUMNS.map((a): [string, string, unknown[]] => [
        a.column.name,
        a.arrayType,
        plan.writes.map((w) => a.toParam(w.state)),
      ]),
    ];
    const names = ATTRIBUTE_COLUMNS.map((a) => a.column.name);
    const attributeList = sql.raw(names.map((name) => `"${name}"`).join(', '));
    const attributeValues = sql.raw(
      ATTRIBUTE_COLUMNS.map((a) => `u."${a.column.name}"::${a.cast}`).join(', '),
    );
    const attributeUpdates = sql.raw(names.map((name) => `"${name}" = excluded."${name}"`).join(', '));
    // One statement, one binding of the arrays. The `where` keeps a stale plan from moving an
    // image's version backwards; such a row is not counted and fails the row check below.
    const result = await tx.execute<{ upserted: number; versioned: number }>(sql`
      with u as (select * from ${unnest(columns)}),
      upserted as (
        insert into ${customImages} as c (account, image_id, ${attributeList}, version,
          first_seen_at, last_seen_at, deleted_at, raw)
        select ${account}, u.image_id, ${attributeValues}, u.version, ${at}::timestamptz, ${at}::timestamptz,
          null, u.raw::jsonb
        from u
        on conflict (account, image_id) do update set ${attributeUpdates}, version = excluded.version,
          last_seen_at = excluded.last_seen_at, deleted_at = null, raw = excluded.raw
        where c.version < excluded.version
        returning 1
      ),
      versioned as (
        insert into ${customImageVersions} (account, image_id, version, ${attributeList},
          valid_from, valid_to, sync_run_id)
        select ${account}, u.image_id, u.version, ${attributeValues}, ${at}::timestamptz, null, ${runId}::uuid
        from u
        returning 1
      )
      select (select count(*) from upserted)::int as upserted, (select count(*) from versioned)::int as versioned`);
    const counts = result.rows[0];
    expectRows('upsert images', counts?.upserted ?? 0, plan.writes.length, scope);
    expectRows('insert versions', counts?.versioned ?? 0, plan.writes.length, scope);
  }

  if (plan.unchangedIds.length > 0) {
    // The commonest write: only last_seen_at, an unindexed column, so the update can stay HOT.
    const bumped = await tx.execute(sql`
      update ${customImages} set last_seen_at = ${at}::timestamptz
      where account = ${account} and region_id = ${regionId} and image_id = any(${sql.param(plan.unchangedIds)}::text[])`);
    expectRows('bump last_seen_at', bumped.rowCount, plan.unchangedIds.length, scope);
  }

  if (plan.deletions.length > 0) {
    const deleted = await tx.execute(sql`
      update ${customImages} c set deleted_at = ${at}::timestamptz
      from ${unnest([
        ['image_id', 'text', plan.deletions.map((d) => d.imageId)],
        ['version', 'integer', plan.deletions.map((d) => d.version)],
      ])}
      where c.account = ${account} and c.region_id = ${regionId} and c.image_id = u.image_id
        and c.version = u.version and c.deleted_at is null`);
    expectRows('mark deletions', deleted.rowCount, plan.deletions.length, scope);
  }

  if (plan.events.length > 0) {
    const data = plan.events.map((event) =>
      JSON.stringify(
        // The held ids are what `loadRegionState` reads back as `heldDeletions`.
        event.type === 'sync.deletions_held' && plan.held && !Array.isArray(event.data.imageIds)
          ? { ...event.data, imageIds: plan.held.imageIds }
          : event.data,
      ),
    );
    await tx.execute(sql`
      insert into ${imageEvents} (id, type, account, region_id, image_id, occurred_at, sync_run_id, baseline, data)
      select u.id, u.type, ${account}, ${regionId}, u.image_id, u.occurred_at::timestamptz, ${runId}::uuid,
        u.baseline, u.data::jsonb
      from ${unnest([
        ['id', 'uuid', plan.events.map((e) => e.id)],
        ['type', 'text', plan.events.map((e) => e.type)],
        ['image_id', 'text', plan.events.map((e) => e.imageId)],
        ['occurred_at', 'text', plan.events.map((e) => new Date(e.occurredAt).toISOString())],
        ['baseline', 'boolean', plan.events.map((e) => e.baseline)],
        ['data', 'text', data],
      ])}`);
  }
}

/** `unnest($1::type[], …) as u(name, …)`: each array is ONE bound parameter, whatever its length. */
function unnest(columns: ReadonlyArray<readonly [name: string, type: string, values: unknown[]]>): SQL {
  const arrays = sql.join(
    columns.map(([, type, values]) => sql`${sql.param(values)}::${sql.raw(type)}[]`),
    sql`, `,
  );
  const names = sql.raw(columns.map(([name]) => `"${name}"`).join(', '));
  return sql`unnest(${arrays}) as u(${names})`;
}

function expectRows(step: string, actual: number | null, expected: number, scope: Scope): void {
  if (actual === expected) return;
  throw new AppError(
    'db.plan_mismatch',
    `${step} for ${scope.account}/${scope.regionId} touched ${actual ?? 0} rows, the plan expected ${expected}: the plan does not match the stored state`,
    { details: { step, actual, expected, account: scope.account, regionId: scope.regionId } },
  );
}
