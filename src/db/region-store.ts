import { type SQL, sql } from 'drizzle-orm';
import { PgTransaction } from 'drizzle-orm/pg-core';
import type pg from 'pg';
import { AppError } from '../shared/app-error.ts';
import type { RegionState, Scope, StoredImage, SyncPlan } from '../sync/model.ts';
import type { Db, DbOrTx, Tx } from './client.ts';
import { sqlStateOf } from './errors.ts';
import {
  ATTRIBUTE_COLUMNS,
  jsonRow,
  jsonRowColumns,
  STATE_HASH_INDEX,
  STORED_COLUMNS,
  type StoredRow,
  storedFromRow,
} from './image-row.ts';
import { customImages, customImageVersions, imageEvents, syncRuns } from './schema/index.ts';

/**
 * The database side of a region sync (SPEC §5.3): the per-scope lock, the one read of a scope's
 * state, and the set-based write of a {@link SyncPlan}. Every write is a fixed number of
 * statements whatever the region's size: rows travel as one bound parameter each (a jsonb
 * document, or arrays `unnest`ed with `sql.param` so drizzle does not expand them).
 */
export interface RegionStore {
  /**
   * Runs `fn` in one transaction holding the scope's advisory lock
   * (`pg_advisory_xact_lock(hashtextextended('swas-sync:<account>:<region>', 0))`). A second
   * caller for the same scope waits, then runs against what the first committed. The lock is
   * released with the transaction; an error in `fn` rolls everything back and is rethrown.
   */
  withRegionLock<T>(scope: Scope, fn: (tx: Tx) => Promise<T>): Promise<T>;
  /** {@link loadRegionState} with this store's {@link RegionReadMemory}. */
  loadRegionState(tx: DbOrTx, scope: Scope): Promise<RegionState>;
  /** {@link applyPlan} with this store's {@link RegionReadMemory}. */
  applyPlan(tx: DbOrTx, scope: Scope, runId: string, plan: SyncPlan, now: number): Promise<void>;
}

/** A store over `db`; its read memory lives as long as the store (one per process in practice). */
export function createRegionStore(db: Db, memory: RegionReadMemory = createRegionReadMemory()): RegionStore {
  return {
    withRegionLock: (scope, fn) =>
      db.transaction(async (tx) => {
        await tx.execute(sql`select pg_advisory_xact_lock(hashtextextended(${regionLockKey(scope)}, 0))`);
        return fn(tx);
      }),
    loadRegionState: (tx, scope) => loadRegionState(tx, scope, memory),
    applyPlan: (tx, scope, runId, plan, now) => applyPlan(tx, scope, runId, plan, now, memory),
  };
}

/** The text hashed into the scope's advisory lock key. */
export const regionLockKey = (scope: Scope): string => `swas-sync:${scope.account}:${scope.regionId}`;

/**
 * What the database holds for a scope: every image ever seen there (deleted ones too, so that a
 * re-listed image continues its history), without `raw`; plus whether the scope is still at its
 * baseline and which deletions its latest complete run held.
 *
 * - `baseline`: no `sync_runs` row of the scope with `complete` (a `succeeded`/`partial` run that
 *   applied a complete full listing).
 * - `heldDeletions`: `data.imageIds` of the `sync.deletions_held` event of the scope's latest
 *   complete run (by `finished_at`), or `[]` when that run held nothing.
 *
 * Decoding two dozen columns of every image is most of a no-op sync's read, and between two syncs
 * almost no state changes. So the states decoded for a scope are kept (per process, replaced by
 * each read of the scope: one entry per image it holds) with the row's `state_hash`, and a read of
 * a scope read before fetches only `image_id, version, deleted_at, state_hash`, then decodes the
 * rows whose hash is not the one their kept state was decoded under. The hash is computed by
 * PostgreSQL from the columns themselves (a generated column), so a kept state is returned only
 * when the row holds exactly that state, whoever wrote it. The stored images returned are frozen
 * (with their states): later reads share them. Memory: about one decoded state (~1 kB) per image
 * of every scope the process syncs, the size of one listing of them.
 *
 * In a transaction, the ids of the live images read are also remembered for the {@link applyPlan}
 * that follows in it (its `last_seen_at` step).
 */
export async function loadRegionState(
  tx: DbOrTx,
  scope: Scope,
  memory: RegionReadMemory = createRegionReadMemory(),
): Promise<RegionState> {
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
  const client = pgClient(tx);
  const key = scopeKey(scope);
  const known = memory.decoded.get(key);
  const decoded = new Map<string, DecodedState>();
  const stored: StoredImage[] = [];
  const liveIds: string[] = [];
  let missing: string[] | null = null;
  if (known !== undefined && known.size > 0) {
    missing = [];
    const keys = await client.query<
      [imageId: string, version: number, deletedAt: number | null, hash: string]
    >({
      text: `select image_id, version, ${epochMs('deleted_at')}, state_hash
        from custom_images where account = $1 and region_id = $2`,
      values: [scope.account, scope.regionId],
      rowMode: 'array',
    });
    for (const [imageId, version, deletedAt, hash] of keys.rows) {
      const kept = known.get(imageId);
      if (kept === undefined || kept.hash !== hash) {
        missing.push(imageId);
        continue;
      }
      const image =
        kept.image.version === version && kept.image.deletedAt === deletedAt
          ? kept.image
          : Object.freeze({ state: kept.image.state, version, deletedAt });
      decoded.set(imageId, image === kept.image ? kept : { hash, image });
      stored.push(image);
      if (deletedAt === null) liveIds.push(imageId);
    }
  }
  if (missing === null || missing.length > 0) {
    // Rows as arrays straight from node-postgres (drizzle would key every row by column name).
    const rows = await client.query<StoredRow>({
      text: `select ${STORED_COLUMNS} from custom_images where account = $1 and region_id = $2
        ${missing === null ? '' : 'and image_id = any($3::text[])'}`,
      values: missing === null ? [scope.account, scope.regionId] : [scope.account, scope.regionId, missing],
      rowMode: 'array',
    });
    for (const row of rows.rows) {
      const image = storedFromRow(row, scope.regionId);
      decoded.set(image.state.imageId, { hash: row[STATE_HASH_INDEX], image });
      stored.push(image);
      if (image.deletedAt === null) liveIds.push(image.state.imageId);
    }
  }
  memory.decoded.set(key, decoded);
  if (tx instanceof PgTransaction) memory.liveIds.set(tx, { scopeKey: key, ids: liveIds });
  const last = runs.rows[0];
  const held = last?.held;
  return {
    stored,
    baseline: last === undefined,
    heldDeletions: Array.isArray(held) ? held.filter((id): id is string => typeof id === 'string') : [],
  };
}

interface DecodedState {
  /** `custom_images.state_hash` of the row the state was decoded from. */
  hash: string;
  /** What the last read returned for the image (reused while its version and deletion stay). */
  image: StoredImage;
}

/**
 * What reads of a region remember for later ones: the states last decoded per scope (validated
 * per row by `state_hash` before reuse, so never stale), and the live ids a read found, for the
 * {@link applyPlan} that follows it in the same transaction. Owned by a store, not by the module.
 */
export interface RegionReadMemory {
  readonly decoded: Map<string, Map<string, DecodedState>>;
  readonly liveIds: WeakMap<object, { scopeKey: string; ids: readonly string[] }>;
  /** Drops every kept state: the next read of each scope decodes all its rows (cold reads). */
  forget(): void;
}

export function createRegionReadMemory(): RegionReadMemory {
  const decoded = new Map<string, Map<string, DecodedState>>();
  return { decoded, liveIds: new WeakMap(), forget: () => decoded.clear() };
}

const scopeKey = (scope: Scope): string => JSON.stringify([scope.account, scope.regionId]);

const epochMs = (column: string) => `(extract(epoch from ${column}) * 1000)::float8`;

/**
 * The node-postgres client (or pool) under a drizzle database or transaction, for what drizzle
 * cannot express: array row mode. Inside a transaction it is the transaction's connection.
 */
function pgClient(tx: DbOrTx): Pick<pg.ClientBase, 'query'> {
  return (tx as unknown as { _: { session: { client: Pick<pg.ClientBase, 'query'> } } })._.session.client;
}

/**
 * Writes a plan for `scope` as run `runId` at `now` (epoch ms), inside the caller's transaction:
 * 1. moves `last_seen_at` of `plan.unchangedIds` to `now`;
 * 2. closes `plan.closeVersions` (`valid_to = now`);
 * 3. inserts the new images of `plan.writes` and updates the others (attributes, `version`,
 *    `raw`, `last_seen_at = now`, `deleted_at = null`; new ones `first_seen_at = now`), and
 *    inserts their new current versions (`valid_from = now`), in one statement;
 * 4. sets `deleted_at = now` for `plan.deletions`;
 * 5. inserts `plan.events` into `image_events`.
 * Each step checks the number of rows it touched against the plan and throws `db.plan_mismatch`
 * (rolling the transaction back) when they differ: the plan was computed from another state.
 *
 * Written for the sizes of a large region: rows travel as ONE `jsonb` parameter per statement (an
 * array of row arrays, unpacked by `jsonb_array_elements` in the select list, which streams rows
 * instead of collecting them in a tuplestore): `JSON.stringify` and the server's JSON parser are
 * several times faster than node-postgres' serialisation of two dozen parallel arrays and the
 * server's array parsing (`raw` and event data are JSON inside the document, not JSON text quoted
 * in array literals). New images are plain inserts, not `on conflict` upserts (no speculative
 * insertion). Statements that touch a few rows by id find them through the primary key.
 */
export async function applyPlan(
  tx: DbOrTx,
  scope: Scope,
  runId: string,
  plan: SyncPlan,
  now: number,
  memory?: RegionReadMemory,
): Promise<void> {
  const at = new Date(now).toISOString();
  const { account, regionId } = scope;
  const read = memory?.liveIds.get(tx);
  memory?.liveIds.delete(tx);

  if (plan.unchangedIds.length > 0) {
    // The commonest write: only last_seen_at, an unindexed column, so the update can stay HOT.
    // After a read in this transaction the unchanged images are its live images less a few (the
    // changed, the deleted, those a partial listing missed): naming those few spares sending,
    // parsing and hashing every id of the region. The row count check holds either way.
    let excluded: string[] | null = null;
    if (read?.scopeKey === scopeKey(scope)) {
      const unchanged = new Set(plan.unchangedIds);
      excluded = read.ids.filter((id) => !unchanged.has(id));
      if (excluded.length >= plan.unchangedIds.length) excluded = null;
    }
    const bumped = await tx.execute(sql`
      update ${customImages} set last_seen_at = ${at}::timestamptz
      where account = ${account} and region_id = ${regionId} and deleted_at is null and ${
        excluded === null
          ? sql`image_id = any(${sql.param(plan.unchangedIds)}::text[])`
          : sql`image_id <> all(${sql.param(excluded)}::text[])`
      }`);
    expectRows('bump last_seen_at', bumped.rowCount, plan.unchangedIds.length, scope);
  }

  if (plan.closeVersions.length > 0) {
    const ids = plan.closeVersions.map((c) => c.imageId);
    // greatest(): a clock stepping back must not make valid_to precede valid_from.
    const closed = await tx.execute(sql`
      update ${customImageVersions} v
      set valid_to = greatest(${at}::timestamptz, v.valid_from)
      from ${unnest([
        ['image_id', 'text', ids],
        ['version', 'integer', plan.closeVersions.map((c) => c.version)],
      ])}
      where v.account = ${account} and v.image_id = any(${sql.param(ids)}::text[]) and v.valid_to is null
        and v.image_id = u.image_id and v.version = u.version`);
    expectRows('close versions', closed.rowCount, plan.closeVersions.length, scope);
  }

  if (plan.writes.length > 0) await writeImages(tx, scope, runId, plan, at);

  if (plan.deletions.length > 0) {
    const ids = plan.deletions.map((d) => d.imageId);
    const deleted = await tx.execute(sql`
      update ${customImages} c set deleted_at = ${at}::timestamptz
      from ${unnest([
        ['image_id', 'text', ids],
        ['version', 'integer', plan.deletions.map((d) => d.version)],
      ])}
      where c.account = ${account} and c.image_id = any(${sql.param(ids)}::text[]) and c.region_id = ${regionId}
        and c.image_id = u.image_id and c.version = u.version and c.deleted_at is null`);
    expectRows('mark deletions', deleted.rowCount, plan.deletions.length, scope);
  }

  if (plan.events.length > 0) {
    const rows = JSON.stringify(
      plan.events.map((event) => [
        event.id,
        event.type,
        event.imageId,
        new Date(event.occurredAt).toISOString(),
        event.baseline,
        // The held ids are what `loadRegionState` reads back as `heldDeletions`.
        event.type === 'sync.deletions_held' && plan.held && !Array.isArray(event.data.imageIds)
          ? { ...event.data, imageIds: plan.held.imageIds }
          : event.data,
      ]),
    );
    await tx.execute(sql`
      insert into ${imageEvents} (id, type, account, region_id, image_id, occurred_at, sync_run_id, baseline, data)
      select (e ->> 0)::uuid, e ->> 1, ${account}, ${regionId}, e ->> 2, (e ->> 3)::timestamptz, ${runId}::uuid,
        (e ->> 4)::boolean, e -> 5
      from (select jsonb_array_elements(${rows}::jsonb) as e) as s`);
  }
}

/** Step 3 of {@link applyPlan}: `plan.writes` into `custom_images`, and their new versions. */
async function writeImages(
  tx: DbOrTx,
  scope: Scope,
  runId: string,
  plan: SyncPlan,
  at: string,
): Promise<void> {
  const { account } = scope;
  const document = (isNew: boolean) =>
    JSON.stringify(
      plan.writes
        .filter((w) => w.isNew === isNew)
        .map((w) => jsonRow(w.state.imageId, w.version, w.raw, w.state)),
    );
  const rows = (isNew: boolean): SQL =>
    sql`(select ${sql.raw(jsonRowColumns('e'))} from (select jsonb_array_elements(${document(isNew)}::jsonb) as e) as s) as u`;
  const names = ATTRIBUTE_COLUMNS.map((a) => `"${a.column.name}"`);
  const attributeList = sql.raw(names.join(', '));
  const attributeValues = sql.raw(names.map((name) => `u.${name}`).join(', '));
  const attributeUpdates = sql.raw(names.map((name) => `${name} = u.${name}`).join(', '));
  const returned = sql.raw(['image_id', 'version', ...names].map((name) => `c.${name}`).join(', '));
  let counts: { inserted: number; updated: number; versioned: number } | undefined;
  try {
    // One statement: the versions are inserted from what the insert and the update returned. The
    // update's `version <` keeps a stale plan from moving an image's version backwards (such a row
    // is not counted and fails the row check); a stale "new" image fails the primary key.
    const result = await tx.execute<{ inserted: number; updated: number; versioned: number }>(sql`
      with inserted as (
        insert into ${customImages} as c (account, image_id, ${attributeList}, version,
          first_seen_at, last_seen_at, deleted_at, raw)
        select ${account}, u.image_id, ${attributeValues}, u.version, ${at}::timestamptz, ${at}::timestamptz,
          null, u.raw
        from ${rows(true)}
        returning ${returned}
      ),
      updated as (
        update ${customImages} as c set ${attributeUpdates}, version = u.version,
          last_seen_at = ${at}::timestamptz, deleted_at = null, raw = u.raw
        from ${rows(false)}
        where c.account = ${account} and c.image_id = u.image_id and c.version < u.version
        returning ${returned}
      ),
      versioned as (
        insert into ${customImageVersions} (account, image_id, version, ${attributeList},
          valid_from, valid_to, sync_run_id)
        select ${account}, u.image_id, u.version, ${attributeValues}, ${at}::timestamptz, null, ${runId}::uuid
        from (select * from inserted union all select * from updated) as u
        returning 1
      )
      select (select count(*) from inserted)::int as inserted, (select count(*) from updated)::int as updated,
        (select count(*) from versioned)::int as versioned`);
    counts = result.rows[0];
  } catch (error) {
    const cause = error instanceof Error ? error.cause : undefined;
    if ((sqlStateOf(error) ?? sqlStateOf(cause)) !== '23505') throw error;
    throw new AppError(
      'db.plan_mismatch',
      `insert images for ${scope.account}/${scope.regionId}: an image the plan takes for new is stored already: the plan does not match the stored state`,
      { cause: error, details: { step: 'insert images', account: scope.account, regionId: scope.regionId } },
    );
  }
  const fresh = plan.writes.filter((w) => w.isNew).length;
  expectRows('insert images', counts?.inserted ?? 0, fresh, scope);
  expectRows('update images', counts?.updated ?? 0, plan.writes.length - fresh, scope);
  expectRows('insert versions', counts?.versioned ?? 0, plan.writes.length, scope);
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
