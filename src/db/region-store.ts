import type { SQL } from 'drizzle-orm';
import { AppError } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { ImageState, ImageWrite, Scope, StoredImage, SyncPlan } from '../sync/model.ts';
import type { RegionKeys, RegionSnapshot } from '../sync/run-sync.ts';
import type { DbOrTx, Transaction } from './client.ts';
import { type CopyColumn, copyRows } from './copy-rows.ts';
import { getTableName, sql } from './drizzle.ts';
import { sqlStateOf } from './errors.ts';
import {
  ATTRIBUTE_COLUMNS,
  epochMs,
  jsonRow,
  jsonRowColumns,
  STORED_COLUMNS,
  type StoredRow,
  stateFromRow,
} from './image-row.ts';
import { customImages, customImageVersions, imageEvents, syncScopes } from './schema/index.ts';
import { parseStoredKeys, STORED_KEYS_QUERY } from './stored-keys.ts';

/**
 * The database side of a region sync: the per-scope lock, the reads of a scope at
 * commit (keys and hashes of every image, full states of the few the plan needs), and the
 * set-based write of a {@link SyncPlan}. Every write is a fixed number of statements whatever the
 * region's size (bar one per 500 changed images): rows travel by COPY, or as one bound parameter
 * each (a jsonb document, or arrays `unnest`ed with `sql.param` so drizzle does not expand them).
 * Nothing is kept between syncs: any process syncs any region equally fast.
 */

export interface RegionLockOptions {
  /** How long to wait for another process's commit of the scope before failing, ms. */
  timeoutMs: number;
  signal?: AbortSignal | undefined;
  /** Measures the bound and waits between tries (abortably). */
  clock: Clock;
}

/**
 * Takes the scope's transaction-level advisory lock
 * (`pg_try_advisory_xact_lock(hashtextextended('swas-sync:<account>:<region>', 0))`), retrying
 * with a growing pause until `timeoutMs`, so a wait is bounded and Ctrl-C ends it. A transaction
 * lock (not a session one) keeps working behind a transaction-mode pooler; it is released with
 * the transaction.
 */
export async function lockRegion(tx: Transaction, scope: Scope, options: RegionLockOptions): Promise<void> {
  const deadline = options.clock.now() + options.timeoutMs;
  for (let pause = 20; ; pause = Math.min(pause * 2, 500)) {
    const { rows } = await tx.client.query<[boolean]>({
      text: 'select pg_try_advisory_xact_lock(hashtextextended($1, 0))',
      values: [regionLockKey(scope)],
      rowMode: 'array',
    });
    if (rows[0]?.[0] === true) return;
    if (options.clock.now() + pause > deadline) {
      throw new AppError(
        'db.lock_timeout',
        `another process has been committing ${scope.account}/${scope.regionId} for more than ${Math.round(options.timeoutMs / 1000)}s`,
        { retryable: true, details: { account: scope.account, regionId: scope.regionId } },
      );
    }
    await options.clock.sleep(pause, options.signal);
  }
}

/** The text hashed into the scope's advisory lock key. */
export const regionLockKey = (scope: Scope): string => `swas-sync:${scope.account}:${scope.regionId}`;

/**
 * The keys of every image ever seen in the scope (deleted ones too, so that a re-listed image
 * continues its history) — id, version, deletion, own observation time, hash — plus what the
 * scope's newest complete listing (by `started_at`) says: whether the baseline is over, which
 * deletions it held, and when it began. About 100 bytes an image; no state is decoded.
 *
 * Given the snapshot read before listing, the image keys are read again only if another commit
 * wrote the scope since (its generation moved); the caller holds the scope's lock, so none can
 * until it commits.
 */
export async function readRegionKeys(
  tx: Transaction,
  scope: Scope,
  snapshot?: RegionSnapshot,
): Promise<RegionKeys> {
  const latest = await tx.client.query<[startedAt: number, held: string[] | null]>({
    text: `select ${epochMs('started_at')}, held_image_ids from sync_runs
      where account = $1 and region_id = $2 and complete order by started_at desc limit 1`,
    values: [scope.account, scope.regionId],
    rowMode: 'array',
  });
  const current = snapshot !== undefined && (await readGeneration(tx.client, scope)) === snapshot.generation;
  const stored = current ? snapshot.stored : await readStoredKeys(tx.client, scope);
  const last = latest.rows[0];
  return {
    stored,
    baseline: last === undefined,
    heldDeletions: last?.[1] ?? [],
    lastCompleteAt: last?.[0] ?? null,
  };
}

/**
 * The scope's keys now, outside any lock, with the write generation they belong to: what a full
 * listing compares its items with (the live images' hashes, to keep unchanged ones as ids and
 * hashes only) and, when no commit wrote the scope meanwhile, what its commit classifies.
 */
export async function readRegionSnapshot(
  db: Pick<Transaction, 'client'>,
  scope: Scope,
): Promise<RegionSnapshot> {
  // The generation first: keys read after it are at least as new, so a commit landing between the
  // two reads moves the generation past the one recorded here, and the commit reads again.
  const generation = await readGeneration(db.client, scope);
  const stored = await readStoredKeys(db.client, scope);
  const known = new Map<string, string>();
  for (const row of stored) if (row.deletedAt === null && row.hash !== null) known.set(row.imageId, row.hash);
  return { generation, stored, known };
}

/** Commits that wrote the scope's image rows so far (0 before the first). */
async function readGeneration(client: Transaction['client'], scope: Scope): Promise<number> {
  const { rows } = await client.query<[generation: string]>({
    text: 'select generation from sync_scopes where account = $1 and region_id = $2',
    values: [scope.account, scope.regionId],
    rowMode: 'array',
  });
  return Number(rows[0]?.[0] ?? 0);
}

/** Marks the scope written by this commit (see {@link readRegionKeys}). */
async function bumpGeneration(tx: DbOrTx, scope: Scope): Promise<void> {
  await tx.execute(sql`
    insert into ${syncScopes} (account, region_id, generation) values (${scope.account}, ${scope.regionId}, 1)
    on conflict (account, region_id) do update set generation = ${syncScopes}.generation + 1`);
}

async function readStoredKeys(client: Transaction['client'], scope: Scope): Promise<StoredImage[]> {
  const { rows } = await client.query<[keys: string | null]>({
    text: STORED_KEYS_QUERY,
    values: [scope.account, scope.regionId],
    rowMode: 'array',
  });
  return parseStoredKeys(rows[0]?.[0] ?? null);
}

/** Full states of the given images of the scope (rows as arrays, decoded by {@link stateFromRow}). */
export async function readRegionStates(
  tx: Transaction,
  scope: Scope,
  imageIds: readonly string[],
): Promise<Map<string, ImageState>> {
  const states = new Map<string, ImageState>();
  if (imageIds.length === 0) return states;
  const rows = await tx.client.query<StoredRow>({
    text: `select ${STORED_COLUMNS} from custom_images
      where account = $1 and region_id = $2 and image_id = any($3::text[])`,
    values: [scope.account, scope.regionId, imageIds],
    rowMode: 'array',
  });
  for (const row of rows.rows) states.set(row[0], stateFromRow(row, scope.regionId));
  return states;
}

/** Of `imageIds`, those the account stores under another region → that region. */
export async function findImagesElsewhere(
  tx: Transaction,
  scope: Scope,
  imageIds: readonly string[],
): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  if (imageIds.length === 0) return found;
  const rows = await tx.client.query<[string, string]>({
    text: `select image_id, region_id from custom_images
      where account = $1 and image_id = any($2::text[]) and region_id <> $3`,
    values: [scope.account, imageIds, scope.regionId],
    rowMode: 'array',
  });
  for (const [imageId, regionId] of rows.rows) found.set(imageId, regionId);
  return found;
}

/**
 * Writes a plan for `scope` as run `runId`, every instant being `observedAt` (epoch ms, the run's
 * start), inside the caller's transaction:
 * 1. records a watch poll's observation of the unchanged images it read (`last_seen_at`);
 * 2. rewrites stale or missing hashes of unchanged states (no version);
 * 3. closes `plan.closeVersions` (`valid_to = observedAt`);
 * 4. inserts the new images of `plan.writes` and their first versions (COPY), and updates the
 *    others (attributes, hash, `version`, `raw`, `last_seen_at`, `deleted_at = null`) with their
 *    new current versions (`valid_from = observedAt`);
 * 5. sets `deleted_at = observedAt` for `plan.deletions`;
 * 6. inserts `plan.events` into `image_events` (COPY).
 * An unchanged listing writes nothing here. Each step checks the number of rows it touched against
 * the plan and throws `db.plan_mismatch` (rolling the transaction back) when they differ.
 *
 * Written for the sizes of a large region: bulk inserts stream through COPY in small pieces (no
 * string of the whole region is ever built); updates carry up to {@link WRITE_CHUNK_ROWS} rows as
 * ONE `jsonb` parameter (an array of row arrays, unpacked by `jsonb_array_elements` in the select
 * list, which streams rows instead of collecting them in a tuplestore). Statements that touch a
 * few rows by id find them through the primary key.
 */
export async function applyPlan(
  transaction: Transaction,
  scope: Scope,
  runId: string,
  plan: SyncPlan,
  observedAt: number,
): Promise<void> {
  const tx = transaction.db;
  const at = new Date(observedAt).toISOString();
  const { account, regionId } = scope;
  const writesRows =
    plan.touches.length > 0 ||
    plan.rehashes.length > 0 ||
    plan.closeVersions.length > 0 ||
    plan.writes.length > 0 ||
    plan.deletions.length > 0;
  if (writesRows) await bumpGeneration(tx, scope);

  if (plan.touches.length > 0) {
    const touched = await tx.execute(sql`
      update ${customImages} set last_seen_at = greatest(last_seen_at, ${at}::timestamptz)
      where account = ${account} and region_id = ${regionId} and deleted_at is null
        and image_id = any(${sql.param(plan.touches)}::text[])`);
    expectRows('record observations', touched.rowCount, plan.touches.length, scope);
  }

  if (plan.rehashes.length > 0) {
    const rehashed = await tx.execute(sql`
      update ${customImages} c set state_hash = u.hash
      from ${unnest([
        ['image_id', 'text', plan.rehashes.map((r) => r.imageId)],
        ['hash', 'text', plan.rehashes.map((r) => r.hash)],
      ])}
      where c.account = ${account} and c.image_id = u.image_id and c.region_id = ${regionId}`);
    expectRows('rewrite hashes', rehashed.rowCount, plan.rehashes.length, scope);
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

  const fresh = plan.writes.filter((write) => write.isNew);
  if (fresh.length > 0) await insertNewImages(transaction, scope, runId, fresh, at);
  for (const writes of chunks(plan.writes.filter((write) => !write.isNew))) {
    await updateImages(tx, scope, runId, writes, at);
  }

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
    const copied = await copyRows(
      transaction.client,
      getTableName(imageEvents),
      EVENT_COPY_COLUMNS,
      plan.events.map((event) => [
        event.id,
        event.type,
        account,
        regionId,
        event.imageId,
        new Date(event.occurredAt).toISOString(),
        runId,
        event.baseline,
        event.data,
      ]),
    );
    expectRows('insert events', copied, plan.events.length, scope);
  }
}

const EVENT_COPY_COLUMNS: readonly CopyColumn[] = [
  { name: 'id', type: 'uuid' },
  { name: 'type', type: 'text' },
  { name: 'account', type: 'text' },
  { name: 'region_id', type: 'text' },
  { name: 'image_id', type: 'text' },
  { name: 'occurred_at', type: 'timestamptz' },
  { name: 'sync_run_id', type: 'uuid' },
  { name: 'baseline', type: 'boolean' },
  { name: 'data', type: 'jsonb' },
];

/**
 * Rows per statement of the updates of changed images: their rows travel as one jsonb document,
 * kept to about a megabyte so a mass change does not build one string of the whole region.
 */
export const WRITE_CHUNK_ROWS = 500;

function* chunks<T>(items: readonly T[]): Generator<readonly T[]> {
  for (let start = 0; start < items.length; start += WRITE_CHUNK_ROWS) {
    yield items.slice(start, start + WRITE_CHUNK_ROWS);
  }
}

const attributeCopyColumns: readonly CopyColumn[] = ATTRIBUTE_COLUMNS.map((a) => ({
  name: a.column.name,
  type: a.type,
}));

const IMAGE_COPY_COLUMNS: readonly CopyColumn[] = [
  { name: 'account', type: 'text' },
  { name: 'image_id', type: 'text' },
  ...attributeCopyColumns,
  { name: 'version', type: 'integer' },
  { name: 'first_seen_at', type: 'timestamptz' },
  { name: 'last_seen_at', type: 'timestamptz' },
  { name: 'raw', type: 'jsonb' },
  { name: 'state_hash', type: 'text' },
];

const VERSION_COPY_COLUMNS: readonly CopyColumn[] = [
  { name: 'account', type: 'text' },
  { name: 'image_id', type: 'text' },
  { name: 'version', type: 'integer' },
  ...attributeCopyColumns,
  { name: 'valid_from', type: 'timestamptz' },
  { name: 'sync_run_id', type: 'uuid' },
];

/**
 * Step 4 of {@link applyPlan} for images without a row: `custom_images` rows and their first
 * versions, each table by COPY. A stale plan (an image it takes for new is stored already) fails
 * the primary key and rolls the transaction back.
 */
async function insertNewImages(
  transaction: Transaction,
  scope: Scope,
  runId: string,
  writes: readonly ImageWrite[],
  at: string,
): Promise<void> {
  const { account } = scope;
  const attributes = (state: ImageState) => ATTRIBUTE_COLUMNS.map((a) => state[a.attribute]);
  try {
    const inserted = await copyRows(
      transaction.client,
      getTableName(customImages),
      IMAGE_COPY_COLUMNS,
      writes.map((w) => [account, w.state.imageId, ...attributes(w.state), w.version, at, at, w.raw, w.hash]),
    );
    expectRows('insert images', inserted, writes.length, scope);
  } catch (error) {
    if (sqlStateOf(error) !== '23505') throw error;
    throw new AppError(
      'db.plan_mismatch',
      `insert images for ${scope.account}/${scope.regionId}: an image the plan takes for new is stored already: the plan does not match the stored state`,
      { cause: error, details: { step: 'insert images', account: scope.account, regionId: scope.regionId } },
    );
  }
  const versioned = await copyRows(
    transaction.client,
    getTableName(customImageVersions),
    VERSION_COPY_COLUMNS,
    writes.map((w) => [account, w.state.imageId, w.version, ...attributes(w.state), at, runId]),
  );
  expectRows('insert versions', versioned, writes.length, scope);
}

/**
 * Step 4 of {@link applyPlan} for images with a row (changed, or listed again after a deletion): a
 * chunk of updates and their new versions in one statement, the versions inserted from what the
 * update returned. `version <` keeps a stale plan from moving an image's version backwards (such
 * a row is not counted and fails the row check).
 */
async function updateImages(
  tx: DbOrTx,
  scope: Scope,
  runId: string,
  writes: readonly ImageWrite[],
  at: string,
): Promise<void> {
  const { account } = scope;
  const document = JSON.stringify(
    writes.map((w) => jsonRow(w.state.imageId, w.version, w.hash, w.raw, w.state)),
  );
  const names = ATTRIBUTE_COLUMNS.map((a) => `"${a.column.name}"`);
  const attributeList = sql.raw(names.join(', '));
  const attributeValues = sql.raw(names.map((name) => `u.${name}`).join(', '));
  const attributeUpdates = sql.raw(names.map((name) => `${name} = u.${name}`).join(', '));
  const returned = sql.raw(['image_id', 'version', ...names].map((name) => `c.${name}`).join(', '));
  const result = await tx.execute<{ updated: number; versioned: number }>(sql`
    with updated as (
      update ${customImages} as c set ${attributeUpdates}, version = u.version,
        last_seen_at = ${at}::timestamptz, deleted_at = null, raw = u.raw, state_hash = u.state_hash
      from (select ${sql.raw(jsonRowColumns('e'))} from (select jsonb_array_elements(${document}::jsonb) as e) as s) as u
      where c.account = ${account} and c.image_id = u.image_id and c.version < u.version
      returning ${returned}
    ),
    versioned as (
      insert into ${customImageVersions} (account, image_id, version, ${attributeList},
        valid_from, valid_to, sync_run_id)
      select ${account}, u.image_id, u.version, ${attributeValues}, ${at}::timestamptz, null, ${runId}::uuid
      from updated as u
      returning 1
    )
    select (select count(*) from updated)::int as updated, (select count(*) from versioned)::int as versioned`);
  const counts = result.rows[0];
  expectRows('update images', counts?.updated ?? 0, writes.length, scope);
  expectRows('insert versions', counts?.versioned ?? 0, writes.length, scope);
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
