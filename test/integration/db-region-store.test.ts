import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { Transaction } from '../../src/db/client.ts';
import { and, asc, drizzle, eq } from '../../src/db/drizzle.ts';
import {
  applyPlan,
  findImagesElsewhere,
  lockRegion,
  readRegionKeys,
  readRegionSnapshot,
  readRegionStates,
  WRITE_CHUNK_ROWS,
} from '../../src/db/region-store.ts';
import * as schema from '../../src/db/schema/index.ts';
import { customImages, customImageVersions, imageEvents, syncRuns } from '../../src/db/schema/index.ts';
import { createSyncRunStore } from '../../src/db/sync-run-store.ts';
import { isAppError } from '../../src/shared/app-error.ts';
import { createManualClock, systemClock } from '../../src/shared/clock.ts';
import type { ImageState, Listing, RunTrigger, Scope, StoredImage, SyncPlan } from '../../src/sync/model.ts';
import { planSync, statesNeeded } from '../../src/sync/plan.ts';
import { stateHash } from '../../src/sync/state-hash.ts';
import {
  emptyPlan,
  imageState,
  imageWrite,
  listedImage,
  openTestDatabase,
  plannedEvent,
  rawItem,
} from '../support/db-fixtures.ts';
import { rejection } from '../support/rejection.ts';
import { waitFor } from '../support/wait-for.ts';

const database = await openTestDatabase();
const { db } = database;
const runs = createSyncRunStore(db);
const ABANDON = { staleAfterMs: 60_000 };
const LOCK = { timeoutMs: 10_000, clock: systemClock };

const scopeFor = (account: string, regionId = 'cn-hangzhou'): Scope => ({ account, regionId });
const stateIn = (scope: Scope, imageId: string, overrides: Partial<ImageState> = {}) =>
  imageState(imageId, { regionId: scope.regionId, ...overrides });

/** A started run: its id and its observation instant (the database's `started_at`, epoch ms). */
interface Run {
  id: string;
  at: number;
}

async function startRun(scope: Scope, trigger: RunTrigger = 'schedule'): Promise<Run> {
  const id = randomUUID();
  return { id, at: await runs.startRun({ id, ...scope, trigger }, ABANDON) };
}

/** The scope's lock, then `work`, in one transaction of the seam (as the sync store takes it). */
const withLock = <T>(scope: Scope, work: (tx: Transaction) => Promise<T>): Promise<T> =>
  database.transaction(async (tx) => {
    await lockRegion(tx, scope, LOCK);
    return work(tx);
  });

/**
 * Runs `work` in a transaction of the seam whose statements are counted (drizzle's and COPY's,
 * which all go through the connection's `query`), and returns how many it ran.
 */
async function countedTransaction(work: (tx: Transaction) => Promise<void>): Promise<number> {
  const connection = await database.pool.connect();
  let count = 0;
  const client = {
    query: (...args: unknown[]) => {
      count += 1;
      return (connection.query as (...a: unknown[]) => unknown)(...args);
    },
  } as unknown as pg.PoolClient;
  try {
    await connection.query('begin');
    await work({ db: drizzle({ client, schema }), client });
    await connection.query('commit');
  } catch (error) {
    await connection.query('rollback');
    throw error;
  } finally {
    connection.release();
  }
  return count;
}

/**
 * Starts a run, applies `plan` (built for the run's instant) under the scope's lock at that
 * instant and finishes the run with the plan's outcome, as the sync store does; returns the run.
 */
async function sync(
  scope: Scope,
  plan: SyncPlan | ((at: number) => SyncPlan),
  { complete = true, trigger = 'schedule' as RunTrigger } = {},
): Promise<Run> {
  const run = await startRun(scope, trigger);
  const resolved = typeof plan === 'function' ? plan(run.at) : plan;
  await withLock(scope, async (tx) => {
    await applyPlan(tx, scope, run.id, resolved, run.at);
    await runs.finishRun(tx.db, {
      id: run.id,
      status: resolved.status,
      apiCalls: 1,
      pages: 1,
      ...resolved.counts,
      error: resolved.reason,
      complete,
      heldImageIds: resolved.held?.imageIds ?? [],
    });
  });
  return run;
}

/** Waits until the database's clock is past `at`, so that the next run starts strictly later. */
const clockPast = (at: number) =>
  waitFor('the database clock to pass an earlier run’s start', async () => {
    const { rows } = await database.pool.query<{ ms: number }>(
      'select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms',
    );
    return (rows[0]?.ms ?? 0) >= at + 1;
  });

const keysOf = (scope: Scope) => database.transaction((tx) => readRegionKeys(tx, scope));
const byImageId = (a: StoredImage, b: StoredImage) => (a.imageId < b.imageId ? -1 : 1);
const storedOf = async (scope: Scope) => (await keysOf(scope)).stored.toSorted(byImageId);
const statesOf = async (scope: Scope, imageIds: readonly string[]) =>
  Object.fromEntries(await database.transaction((tx) => readRegionStates(tx, scope, imageIds)));

const images = (scope: Scope) =>
  db
    .select()
    .from(customImages)
    .where(eq(customImages.account, scope.account))
    .orderBy(asc(customImages.imageId));

const versions = (scope: Scope) =>
  db
    .select()
    .from(customImageVersions)
    .where(eq(customImageVersions.account, scope.account))
    .orderBy(asc(customImageVersions.imageId), asc(customImageVersions.version));

const eventsOf = (scope: Scope) =>
  db.select().from(imageEvents).where(eq(imageEvents.account, scope.account));

/** `xmin` of every image and version row of the account: a row rewritten in any way gets a new one. */
async function rowVersions(scope: Scope): Promise<Record<string, string>> {
  const { rows } = await database.pool.query<{ key: string; xmin: string }>(
    `select 'image ' || image_id as key, xmin::text from custom_images where account = $1
     union all
     select 'version ' || image_id || '@' || version, xmin::text from custom_image_versions where account = $1`,
    [scope.account],
  );
  return Object.fromEntries(rows.map((row) => [row.key, row.xmin]));
}

const keyOf = (
  state: ImageState,
  version: number,
  at: number,
  deletedAt: number | null = null,
): StoredImage => ({
  imageId: state.imageId,
  version,
  deletedAt,
  observedAt: at,
  hash: stateHash(state),
});

describe('applyPlan', () => {
  it('writes new, changed and deleted images with their history and events, and leaves unchanged rows alone', async () => {
    const scope = scopeFor('apply');
    const [a, b, c, d] = ['m-a', 'm-b', 'm-c', 'm-d'].map((id) => stateIn(scope, id)) as [
      ImageState,
      ImageState,
      ImageState,
      ImageState,
    ];
    const run1 = await sync(scope, (at) =>
      emptyPlan({
        writes: [a, b, c, d].map((s) => imageWrite(s, 1)),
        events: [a, b, c, d].map((s) =>
          plannedEvent(scope, 'image.created', s.imageId, at, { version: 1 }, true),
        ),
      }),
    );
    const before = await images(scope);
    const xminBefore = await rowVersions(scope);

    const a2 = { ...a, name: 'renamed', status: '2' as const, tags: [{ Key: 'env', Value: 'staging' }] };
    const e = stateIn(scope, 'm-e', { inShare: true });
    let events: ReturnType<typeof plannedEvent>[] = [];
    // m-b and m-d are listed unchanged: the plan names them nowhere.
    const run2 = await sync(scope, (at) => {
      events = [
        plannedEvent(scope, 'image.updated', 'm-a', at, {
          version: 2,
          changes: { Name: { from: a.name, to: 'renamed' } },
        }),
        plannedEvent(scope, 'image.status_changed', 'm-a', at, { version: 2, from: '1', to: '2' }),
        plannedEvent(scope, 'image.created', 'm-e', at, { version: 1 }),
        plannedEvent(scope, 'image.shared', 'm-e', at, { version: 1, target: 'ecs' }),
        plannedEvent(scope, 'image.deleted', 'm-c', at, { version: 1 }),
      ];
      return emptyPlan({
        writes: [imageWrite(a2, 2), imageWrite(e, 1)],
        closeVersions: [
          { imageId: 'm-a', version: 1 },
          { imageId: 'm-c', version: 1 },
        ],
        deletions: [{ imageId: 'm-c', version: 1 }],
        events,
      });
    });

    const after = await images(scope);
    expect(after.map((row) => row.imageId)).toEqual(['m-a', 'm-b', 'm-c', 'm-d', 'm-e']);
    const [rowA, rowB, rowC, rowD, rowE] = after;
    const [beforeA, beforeB, beforeC, beforeD] = before;
    // Changed: new attributes, version, raw and hash; first seen unchanged; seen at the run's start.
    expect(rowA).toMatchObject({
      name: 'renamed',
      status: '2',
      tags: a2.tags,
      version: 2,
      raw: rawItem(a2),
      stateHash: stateHash(a2),
      firstSeenAt: new Date(run1.at),
      lastSeenAt: new Date(run2.at),
      deletedAt: null,
    });
    expect(beforeA?.name).toBe(a.name);
    // Unchanged: not written at all, not even last_seen_at.
    expect(rowB).toEqual(beforeB);
    expect(rowD).toEqual(beforeD);
    const xminAfter = await rowVersions(scope);
    for (const key of ['image m-b', 'image m-d', 'version m-b@1', 'version m-d@1'])
      expect(xminAfter[key], key).toBe(xminBefore[key]);
    // Deleted: the row stays, marked at the run's start.
    expect(rowC).toEqual({ ...beforeC, deletedAt: new Date(run2.at) });
    // New.
    expect(rowE).toMatchObject({
      inShare: true,
      version: 1,
      deletedAt: null,
      raw: rawItem(e),
      stateHash: stateHash(e),
      firstSeenAt: new Date(run2.at),
      lastSeenAt: new Date(run2.at),
    });

    const history = (await versions(scope)).map((v) => ({
      id: `${v.imageId}@${v.version}`,
      name: v.name,
      status: v.status,
      from: v.validFrom.getTime(),
      to: v.validTo?.getTime() ?? null,
      run: v.syncRunId,
    }));
    expect(history).toEqual([
      { id: 'm-a@1', name: a.name, status: '1', from: run1.at, to: run2.at, run: run1.id },
      { id: 'm-a@2', name: 'renamed', status: '2', from: run2.at, to: null, run: run2.id },
      { id: 'm-b@1', name: b.name, status: '1', from: run1.at, to: null, run: run1.id },
      { id: 'm-c@1', name: c.name, status: '1', from: run1.at, to: run2.at, run: run1.id },
      { id: 'm-d@1', name: d.name, status: '1', from: run1.at, to: null, run: run1.id },
      { id: 'm-e@1', name: e.name, status: '1', from: run2.at, to: null, run: run2.id },
    ]);
    const version2 = (await versions(scope)).find((v) => v.imageId === 'm-a' && v.version === 2);
    expect(version2).toMatchObject({
      ...a2,
      version: 2,
      account: scope.account,
      creationTime: new Date(a.creationTime ?? 0),
    });

    const written = await db.select().from(imageEvents).where(eq(imageEvents.syncRunId, run2.id));
    const byEventId = <T extends { id: string }>(x: T, y: T) => (x.id < y.id ? -1 : 1);
    expect(written.sort(byEventId)).toEqual(
      events
        .map((event) => ({
          id: event.id,
          type: event.type,
          account: scope.account,
          regionId: scope.regionId,
          imageId: event.imageId,
          occurredAt: new Date(run2.at),
          syncRunId: run2.id,
          baseline: false,
          data: event.data,
        }))
        .sort(byEventId),
    );
    const baselineEvents = await db.select().from(imageEvents).where(eq(imageEvents.syncRunId, run1.id));
    expect(baselineEvents.map((event) => [event.type, event.baseline])).toEqual(
      Array(4).fill(['image.created', true]),
    );

    // The keys a later sync reads: each row's own observation is its last write or its deletion.
    expect(await storedOf(scope)).toEqual([
      keyOf(a2, 2, run2.at),
      keyOf(b, 1, run1.at),
      keyOf(c, 1, run2.at, run2.at),
      keyOf(d, 1, run1.at),
      keyOf(e, 1, run2.at),
    ]);

    // Listed again after its deletion: the history continues with version 2.
    const run3 = await sync(scope, emptyPlan({ writes: [imageWrite(c, 2)] }));
    expect((await storedOf(scope))[2]).toEqual(keyOf(c, 2, run3.at));
    expect(await statesOf(scope, ['m-c'])).toEqual({ 'm-c': c });
    const cHistory = (await versions(scope)).filter((v) => v.imageId === 'm-c');
    expect(cHistory.map((v) => [v.version, v.validFrom.getTime(), v.validTo?.getTime() ?? null])).toEqual([
      [1, run1.at, run2.at],
      [2, run3.at, null],
    ]);
  });

  it('round-trips ImageState exactly: quoting, unicode, 16-digit user ids, times, empty values and nulls', async () => {
    const scope = scopeFor('roundtrip', 'ap-southeast-1');
    const tricky = stateIn(scope, 'm-tricky', {
      name: 'He said "hi", {braces} \\ back\\slash; NULL',
      description: '',
      status: '3',
      inShare: true,
      inShareUser: true,
      requiredSystemDiskSize: 0,
      requiredDataDiskSize: 100,
      userId: '9007199254740993',
      tags: [
        { Key: '环境', Value: '生产 "prod"' },
        { Key: 'empty', Value: '' },
      ],
      createInstances: ['ace-1', 'ace-2', 'ace-3'],
      creationTime: '2024-02-29T23:59:59.123Z',
    });
    const nulls = stateIn(scope, 'm-nulls', {
      name: null,
      description: null,
      status: '0',
      instanceId: null,
      instanceName: null,
      systemSnapshotId: null,
      systemSnapshotName: null,
      resourceGroupId: null,
      osType: null,
      requiredSystemDiskSize: null,
      sourceImageName: null,
      sourceImageVersion: null,
      userId: null,
      tags: [],
      createInstances: [],
      creationTime: null,
    });
    const literalNull = stateIn(scope, 'm-literal', {
      name: 'NULL',
      userId: '1234567890123456',
      status: '4',
    });
    const run = await sync(
      scope,
      emptyPlan({ writes: [tricky, nulls, literalNull].map((s) => imageWrite(s, 1)) }),
    );

    expect(await statesOf(scope, ['m-tricky', 'm-nulls', 'm-literal'])).toEqual({
      'm-tricky': tricky,
      'm-nulls': nulls,
      'm-literal': literalNull,
    });
    expect(await storedOf(scope)).toEqual([
      keyOf(literalNull, 1, run.at),
      keyOf(nulls, 1, run.at),
      keyOf(tricky, 1, run.at),
    ]);
    // Other scopes of the same account and other accounts are not read.
    const sameAccountOtherRegion = scopeFor('roundtrip', 'cn-hangzhou');
    expect((await keysOf(sameAccountOtherRegion)).stored).toEqual([]);
    expect(await statesOf(sameAccountOtherRegion, ['m-tricky'])).toEqual({});
    expect(await statesOf(scopeFor('roundtrip-other', 'ap-southeast-1'), ['m-tricky'])).toEqual({});
  });

  it('runs a constant number of statements whatever the size of the plan', async () => {
    const counted = async (scope: Scope, size: number) => {
      const ids = Array.from({ length: size }, (_, i) => `m-${String(i).padStart(6, '0')}`);
      await sync(scope, emptyPlan({ writes: ids.map((id) => imageWrite(stateIn(scope, id), 1)) }));
      const half = size / 2;
      const rest = ids.slice(half + 1);
      const touched = rest.slice(0, Math.floor(rest.length / 2));
      const rehashed = rest.slice(touched.length);
      const run = await startRun(scope, 'manual');
      const plan = emptyPlan({
        writes: [
          ...ids.slice(0, half).map((id) => imageWrite(stateIn(scope, id, { name: 'changed' }), 2)),
          ...ids.slice(0, half).map((id) => imageWrite(stateIn(scope, `n-${id}`), 1)),
        ],
        touches: touched,
        rehashes: rehashed.map((imageId) => ({ imageId, hash: 'rehashed' })),
        closeVersions: ids.slice(0, half + 1).map((id) => ({ imageId: id, version: 1 })),
        deletions: [{ imageId: ids[half] ?? '', version: 1 }],
        events: ids.map((id) => plannedEvent(scope, 'image.updated', id, run.at)),
      });
      const statements = await countedTransaction((tx) => applyPlan(tx, scope, run.id, plan, run.at));

      const stored = (await keysOf(scope)).stored;
      expect(stored).toHaveLength(size + half);
      expect(stored.filter((s) => s.version === 2)).toHaveLength(half);
      expect(stored.filter((s) => s.deletedAt === run.at)).toHaveLength(1);
      expect(stored.filter((s) => s.hash === 'rehashed')).toHaveLength(rehashed.length);
      // Changed, new, deleted and touched rows record the run's observation; rehashed ones do not.
      expect(stored.filter((s) => s.observedAt === run.at)).toHaveLength(half + half + 1 + touched.length);
      expect((await eventsOf(scope)).filter((event) => event.syncRunId === run.id)).toHaveLength(size);
      return statements;
    };
    const small = await counted(scopeFor('constant-small'), 8);
    // Up to one chunk of changed images: every other step is one statement whatever its size.
    const large = await counted(scopeFor('constant-large'), WRITE_CHUNK_ROWS * 2);
    // the scope's generation, touches, rehashes, close versions, COPY new images, COPY their
    // versions, update changed images (+ versions), deletions, COPY events.
    expect(small).toBe(9);
    expect(large).toBe(small);
  });

  it('writes changes larger than one statement chunk completely, a statement per chunk', async () => {
    const scope = scopeFor('chunked');
    const size = WRITE_CHUNK_ROWS * 2 + 17;
    const ids = Array.from({ length: size }, (_, i) => `m-${String(i).padStart(6, '0')}`);
    await sync(scope, emptyPlan({ writes: ids.map((id) => imageWrite(stateIn(scope, id), 1)) }));
    const run = await startRun(scope, 'manual');
    const plan = emptyPlan({
      writes: ids.map((id) => imageWrite(stateIn(scope, id, { name: 'renamed' }), 2)),
      closeVersions: ids.map((id) => ({ imageId: id, version: 1 })),
      events: ids.map((id) => plannedEvent(scope, 'image.updated', id, run.at)),
    });
    const statements = await countedTransaction((tx) => applyPlan(tx, scope, run.id, plan, run.at));
    expect((await keysOf(scope)).stored.map((stored) => stored.version)).toEqual(ids.map(() => 2));
    expect(await statesOf(scope, [ids[size - 1] ?? ''])).toEqual({
      [ids[size - 1] ?? '']: stateIn(scope, ids[size - 1] ?? '', { name: 'renamed' }),
    });
    expect((await eventsOf(scope)).filter((event) => event.syncRunId === run.id)).toHaveLength(size);
    // The generation, close versions, three chunks of updates (with their versions), one COPY of
    // the events.
    expect(statements).toBe(6);
  });

  it('records a watch poll’s observation of unchanged images as last_seen_at only, never moving it back', async () => {
    const scope = scopeFor('touches');
    const [a, b] = ['m-a', 'm-b'].map((id) => stateIn(scope, id)) as [ImageState, ImageState];
    const run1 = await sync(scope, emptyPlan({ writes: [imageWrite(a, 1), imageWrite(b, 1)] }));
    const xminBefore = await rowVersions(scope);

    const poll = await sync(scope, emptyPlan({ touches: ['m-a'] }), { complete: false, trigger: 'watch' });
    expect(await storedOf(scope)).toEqual([keyOf(a, 1, poll.at), keyOf(b, 1, run1.at)]);
    const [rowA] = await images(scope);
    expect(rowA).toMatchObject({ version: 1, firstSeenAt: new Date(run1.at), lastSeenAt: new Date(poll.at) });
    const xminAfter = await rowVersions(scope);
    expect(xminAfter['image m-b']).toBe(xminBefore['image m-b']);
    expect(xminAfter['version m-a@1']).toBe(xminBefore['version m-a@1']);
    expect((await versions(scope)).map((v) => [v.imageId, v.version, v.validTo])).toEqual([
      ['m-a', 1, null],
      ['m-b', 1, null],
    ]);
    expect(await eventsOf(scope)).toEqual([]);

    // An observation older than the recorded one does not move it back.
    const older = await startRun(scope, 'watch');
    await withLock(scope, (tx) => applyPlan(tx, scope, older.id, emptyPlan({ touches: ['m-a'] }), run1.at));
    expect((await storedOf(scope))[0]?.observedAt).toBe(poll.at);
  });

  it('rewrites a stale or missing hash alone: no version, no event, no observation', async () => {
    const scope = scopeFor('rehash');
    const a = stateIn(scope, 'm-a');
    const run1 = await sync(scope, emptyPlan({ writes: [imageWrite(a, 1)] }));
    await database.pool.query(`update custom_images set state_hash = null where account = $1`, [
      scope.account,
    ]);
    const [before] = await images(scope);
    expect(before?.stateHash).toBeNull();

    await sync(scope, emptyPlan({ rehashes: [{ imageId: 'm-a', hash: stateHash(a) }] }));
    const [after] = await images(scope);
    expect(after).toEqual({ ...before, stateHash: stateHash(a) });
    expect(await storedOf(scope)).toEqual([keyOf(a, 1, run1.at)]);
    expect((await versions(scope)).map((v) => [v.version, v.validTo])).toEqual([[1, null]]);
    expect(await eventsOf(scope)).toEqual([]);
  });

  it('refuses a plan that does not match the stored state, writing nothing', async () => {
    const scope = scopeFor('mismatch');
    const [a, b] = ['m-a', 'm-b'].map((id) => stateIn(scope, id)) as [ImageState, ImageState];
    await sync(scope, emptyPlan({ writes: [imageWrite(a, 1), imageWrite(b, 1)] }));
    await sync(
      scope,
      emptyPlan({
        closeVersions: [{ imageId: 'm-b', version: 1 }],
        deletions: [{ imageId: 'm-b', version: 1 }],
      }),
    );
    const imagesBefore = await images(scope);
    const xminBefore = await rowVersions(scope);

    const stale: Record<string, Partial<SyncPlan>> = {
      'a version that is not current': {
        writes: [imageWrite(stateIn(scope, 'm-new'), 1)],
        closeVersions: [{ imageId: 'm-a', version: 7 }],
      },
      'a stored image taken for new': { writes: [imageWrite({ ...a, name: 'again' }, 1)] },
      'a change that does not move the version forwards': {
        writes: [{ ...imageWrite({ ...a, name: 'back' }, 1), isNew: false }],
      },
      'a deletion of a deleted image': { deletions: [{ imageId: 'm-b', version: 1 }] },
      'a touch of a deleted image': { touches: ['m-a', 'm-b'] },
      'a touch of an image the scope does not hold': { touches: ['m-elsewhere'] },
      'a rehash of an image the scope does not hold': { rehashes: [{ imageId: 'm-elsewhere', hash: 'x' }] },
    };
    for (const [label, overrides] of Object.entries(stale)) {
      const run = await startRun(scope, 'manual');
      const error = await rejection(
        withLock(scope, (tx) => applyPlan(tx, scope, run.id, emptyPlan(overrides), run.at)),
      );
      expect(isAppError(error) && error.code, label).toBe('db.plan_mismatch');
    }
    expect(await images(scope)).toEqual(imagesBefore);
    expect(await rowVersions(scope)).toEqual(xminBefore);
    expect(await eventsOf(scope)).toEqual([]);
  });
});

describe('reads at commit', () => {
  it('reads keys only, and decodes exactly the states the plan needs, from the database alone', async () => {
    const scope = scopeFor('needed');
    const [a, b, c, d] = ['m-a', 'm-b', 'm-c', 'm-d'].map((id) => stateIn(scope, id)) as [
      ImageState,
      ImageState,
      ImageState,
      ImageState,
    ];
    const first = await sync(scope, emptyPlan({ writes: [a, b, c, d].map((s) => imageWrite(s, 1)) }));
    // m-d's hash is missing (a row from before hashes were stored).
    await database.pool.query(
      `update custom_images set state_hash = null where account = $1 and image_id = 'm-d'`,
      [scope.account],
    );

    // A complete listing: m-a unchanged, m-b renamed, m-c gone, m-d unchanged, m-e new.
    const b2 = { ...b, name: 'renamed' };
    const e = stateIn(scope, 'm-e');
    const listing: Listing = {
      kind: 'full',
      images: [a, b2, d, e].map(listedImage),
      seen: new Map(),
      rejected: [],
      complete: true,
      totalCount: 4,
      apiCalls: 1,
      pages: 1,
    };
    await clockPast(first.at);
    const run = await startRun(scope);
    const plan = await withLock(scope, async (tx) => {
      const keys = await readRegionKeys(tx, scope);
      expect(keys.stored.every((row) => row.state === undefined)).toBe(true);
      const region = { ...keys, elsewhere: new Map<string, string>() };
      const input = { scope, listing, region, deleteBrake: 1, observedAt: run.at };
      const needed = statesNeeded(input);
      const states = await readRegionStates(tx, scope, needed);
      // The rows whose hash moved or is missing, and the one about to be deleted; nothing else.
      expect(Object.fromEntries(states)).toEqual({ 'm-b': b, 'm-c': c, 'm-d': d });
      region.stored = keys.stored.map((row) => ({ ...row, state: states.get(row.imageId) }));
      const computed = planSync({ ...input, newId: randomUUID });
      await applyPlan(tx, scope, run.id, computed, run.at);
      return computed;
    });
    expect(plan).toMatchObject({
      rehashes: [{ imageId: 'm-d', hash: stateHash(d) }],
      deletions: [{ imageId: 'm-c', version: 1 }],
      counts: { created: 1, updated: 1, deleted: 1 },
    });
    expect(await storedOf(scope)).toMatchObject([
      { imageId: 'm-a', version: 1, hash: stateHash(a) },
      { imageId: 'm-b', version: 2, hash: stateHash(b2) },
      { imageId: 'm-c', version: 1, deletedAt: run.at },
      { imageId: 'm-d', version: 1, hash: stateHash(d) },
      { imageId: 'm-e', version: 1, hash: stateHash(e) },
    ]);

    // The same listing again, by a later run: nothing differs, so nothing is decoded.
    await clockPast(run.at);
    const again = await startRun(scope);
    const neededAgain = await withLock(scope, async (tx) => {
      const keys = await readRegionKeys(tx, scope);
      return statesNeeded({
        scope,
        listing,
        region: { ...keys, elsewhere: new Map() },
        deleteBrake: 1,
        observedAt: again.at,
      });
    });
    expect(neededAgain).toEqual([]);
    expect(await statesOf(scope, [])).toEqual({});
  });

  it('gives a listing the live images of the scope with their stored hashes, and nothing else', async () => {
    const scope = scopeFor('known', 'cn-shanghai');
    const elsewhere = scopeFor('known', 'cn-beijing');
    const [a, b, c, d] = ['m-a', 'm-b', 'm-c', 'm-d'].map((id) => stateIn(scope, id)) as [
      ImageState,
      ImageState,
      ImageState,
      ImageState,
    ];
    await sync(scope, emptyPlan({ writes: [a, b, c, d].map((s) => imageWrite(s, 1)) }));
    await sync(
      scope,
      emptyPlan({
        closeVersions: [{ imageId: 'm-c', version: 1 }],
        deletions: [{ imageId: 'm-c', version: 1 }],
      }),
    );
    await sync(elsewhere, emptyPlan({ writes: [imageWrite(stateIn(elsewhere, 'm-e'), 1)] }));
    await database.pool.query(
      `update custom_images set state_hash = null where account = $1 and image_id = 'm-d'`,
      [scope.account],
    );
    const { known } = await readRegionSnapshot({ client: database.pool }, scope);
    expect(Object.fromEntries(known)).toEqual({ 'm-a': stateHash(a), 'm-b': stateHash(b) });
  });

  it('reads every key exactly as the columns hold it, whatever printable characters an id has', async () => {
    const scope = scopeFor('keys-text');
    const ids = ['m-plain', `m-\\"'{},;%_`, 'm-~!@#$&*()[]|<>?/'];
    const [plain, odd, other] = ids.map((id) => stateIn(scope, id)) as [ImageState, ImageState, ImageState];
    await sync(scope, emptyPlan({ writes: [plain, odd, other].map((s) => imageWrite(s, 1)) }));
    await sync(
      scope,
      emptyPlan({ writes: [imageWrite(odd, 2)], closeVersions: [{ imageId: odd.imageId, version: 1 }] }),
    );
    await sync(
      scope,
      emptyPlan({
        closeVersions: [{ imageId: other.imageId, version: 1 }],
        deletions: [{ imageId: other.imageId, version: 1 }],
      }),
    );
    await database.pool.query(
      `update custom_images set state_hash = null where account = $1 and image_id = $2`,
      [scope.account, plain.imageId],
    );
    // The same columns read row by row, as node-postgres decodes them.
    const { rows } = await database.pool.query<[string, number, number | null, number, string | null]>({
      text: `select image_id, version, (extract(epoch from deleted_at) * 1000)::float8,
          (extract(epoch from greatest(last_seen_at, deleted_at)) * 1000)::float8, state_hash
        from custom_images where account = $1 and region_id = $2 order by image_id`,
      values: [scope.account, scope.regionId],
      rowMode: 'array',
    });
    const expected = rows.map(([imageId, version, deletedAt, observedAt, hash]) => ({
      imageId,
      version,
      deletedAt,
      observedAt,
      hash,
    }));
    expect(expected.map((key) => key.imageId).toSorted()).toEqual(ids.toSorted());
    expect(expected.find((key) => key.imageId === odd.imageId)).toMatchObject({
      version: 2,
      deletedAt: null,
    });
    expect(expected.find((key) => key.imageId === other.imageId)?.deletedAt).toEqual(expect.any(Number));
    expect(expected.find((key) => key.imageId === plain.imageId)?.hash).toBeNull();
    expect(await storedOf(scope)).toEqual(expected);
    const snapshot = await readRegionSnapshot({ client: database.pool }, scope);
    expect(snapshot.stored.toSorted(byImageId)).toEqual(expected);
  });

  it('moves the scope’s generation with every commit that writes its image rows, and only then', async () => {
    const scope = scopeFor('generation');
    const generation = async () => (await readRegionSnapshot({ client: database.pool }, scope)).generation;
    expect(await generation()).toBe(0);
    const a = stateIn(scope, 'm-a');
    await sync(scope, emptyPlan({ writes: [imageWrite(a, 1)] }));
    expect(await generation()).toBe(1);
    await sync(scope, emptyPlan()); // a no-op: its run row only
    expect(await generation()).toBe(1);
    await sync(scope, emptyPlan({ touches: ['m-a'] })); // a watch poll's observation
    expect(await generation()).toBe(2);
    // Another region of the account keeps its own.
    const beijing = scopeFor('generation', 'cn-beijing');
    await sync(beijing, emptyPlan({ writes: [imageWrite(stateIn(beijing, 'm-b'), 1)] }));
    expect(await generation()).toBe(2);
  });

  it('reads the keys again at commit when another commit wrote the scope after the snapshot', async () => {
    const scope = scopeFor('snapshot-moved');
    const a = stateIn(scope, 'm-a');
    const b = stateIn(scope, 'm-b');
    await sync(scope, emptyPlan({ writes: [imageWrite(a, 1), imageWrite(b, 1)] }));
    const snapshot = await readRegionSnapshot({ client: database.pool }, scope);
    // Unchanged since: the commit's keys are the snapshot's.
    expect((await database.transaction((tx) => readRegionKeys(tx, scope, snapshot))).stored).toEqual(
      (await keysOf(scope)).stored,
    );
    // Another sync changes m-a and deletes m-b meanwhile: the commit sees that, not the snapshot.
    const other = await sync(
      scope,
      emptyPlan({
        writes: [imageWrite({ ...a, name: 'renamed' }, 2)],
        closeVersions: [{ imageId: 'm-a', version: 1 }],
        deletions: [{ imageId: 'm-b', version: 1 }],
      }),
    );
    const keys = await database.transaction((tx) => readRegionKeys(tx, scope, snapshot));
    const byId = new Map(keys.stored.map((row) => [row.imageId, row]));
    expect(byId.get('m-a')).toMatchObject({
      version: 2,
      observedAt: other.at,
      hash: stateHash({ ...a, name: 'renamed' }),
    });
    expect(byId.get('m-b')).toMatchObject({ deletedAt: other.at });
    expect(keys.stored).toEqual((await keysOf(scope)).stored);
  });

  it('reads a region’s keys from its index alone once VACUUM has marked the pages all-visible', async () => {
    const scope = scopeFor('index-only', 'cn-shanghai');
    const states = Array.from({ length: 1_000 }, (_, i) =>
      stateIn(scope, `m-io-${String(i).padStart(4, '0')}`),
    );
    await sync(scope, emptyPlan({ writes: states.map((state) => imageWrite(state, 1)) }));
    // What autovacuum does after a first sync's inserts (the test server runs without it).
    await database.pool.query('vacuum (analyze) custom_images');
    // The server's plan of every statement, with what it fetched, as notices of this connection.
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const plans: string[] = [];
    client.on('notice', (notice) => {
      if (notice.message?.includes('Query Text')) plans.push(notice.message);
    });
    try {
      await client.query(`load 'auto_explain'`);
      await client.query(
        'set auto_explain.log_min_duration = 0; set auto_explain.log_analyze = on; set client_min_messages = log',
      );
      const { known } = await readRegionSnapshot({ client }, scope);
      const keys = await readRegionKeys({ client, db: drizzle({ client, schema }) }, scope);
      expect(known.size).toBe(1_000);
      expect(keys.stored).toHaveLength(1_000);
    } finally {
      await client.end();
    }
    const keyReads = plans.filter((plan) => /from custom_images/.test(plan));
    expect(keyReads).toHaveLength(2);
    for (const plan of keyReads) {
      expect(plan).toContain('Index Only Scan using custom_images_account_region_idx');
      expect(plan).toContain('Heap Fetches: 0');
    }
  });

  it('finds listed ids stored under another region of the same account only', async () => {
    const here = scopeFor('elsewhere', 'cn-shanghai');
    const there = scopeFor('elsewhere', 'cn-beijing');
    const otherAccount = scopeFor('elsewhere-other', 'cn-beijing');
    await sync(there, emptyPlan({ writes: [imageWrite(stateIn(there, 'm-1'), 1)] }));
    await sync(here, emptyPlan({ writes: [imageWrite(stateIn(here, 'm-2'), 1)] }));
    await sync(otherAccount, emptyPlan({ writes: [imageWrite(stateIn(otherAccount, 'm-3'), 1)] }));
    const found = await database.transaction((tx) =>
      findImagesElsewhere(tx, here, ['m-1', 'm-2', 'm-3', 'm-none']),
    );
    expect(Object.fromEntries(found)).toEqual({ 'm-1': 'cn-beijing' });
    expect(await database.transaction((tx) => findImagesElsewhere(tx, here, []))).toEqual(new Map());
  });
});

describe('readRegionKeys: baseline, held deletions and the latest complete listing', () => {
  it('is at the baseline until a complete run, then reads the held ids and start of the latest complete run', async () => {
    const scope = scopeFor('baseline');
    const a = stateIn(scope, 'm-a');
    expect(await keysOf(scope)).toEqual({
      stored: [],
      baseline: true,
      heldDeletions: [],
      lastCompleteAt: null,
    });

    // An incomplete listing writes what it saw but leaves the scope at its baseline.
    const partial = await sync(
      scope,
      emptyPlan({ writes: [imageWrite(a, 1)], status: 'partial', reason: 'incomplete' }),
      {
        complete: false,
      },
    );
    expect(await keysOf(scope)).toEqual({
      stored: [keyOf(a, 1, partial.at)],
      baseline: true,
      heldDeletions: [],
      lastCompleteAt: null,
    });

    // A complete listing whose deletions the brake held: the ids come back to the next sync.
    const held = { count: 2, total: 3, imageIds: ['m-x', 'm-y'] };
    const holding = await sync(scope, (at) =>
      emptyPlan({
        held,
        status: 'partial',
        reason: 'deletions held: 2 of 3 images',
        events: [
          plannedEvent(scope, 'sync.deletions_held', null, at, {
            count: 2,
            total: 3,
            imageIds: held.imageIds,
          }),
        ],
      }),
    );
    expect(await keysOf(scope)).toEqual({
      stored: [keyOf(a, 1, partial.at)],
      baseline: false,
      heldDeletions: ['m-x', 'm-y'],
      lastCompleteAt: holding.at,
    });
    // Read from the run's own row, not from the public event.
    await database.pool.query(`delete from image_events where sync_run_id = $1`, [holding.id]);
    expect((await keysOf(scope)).heldDeletions).toEqual(['m-x', 'm-y']);

    // A watch poll is not a complete listing: the held ids and the latest complete start stay.
    await sync(scope, emptyPlan({ touches: ['m-a'] }), { complete: false, trigger: 'watch' });
    expect(await keysOf(scope)).toMatchObject({ heldDeletions: ['m-x', 'm-y'], lastCompleteAt: holding.at });

    // The next complete listing held nothing: nothing is held any more.
    const next = await sync(scope, emptyPlan());
    expect(await keysOf(scope)).toMatchObject({
      baseline: false,
      heldDeletions: [],
      lastCompleteAt: next.at,
    });

    // Baselines are per (account, region).
    expect((await keysOf(scopeFor('baseline', 'eu-central-1'))).baseline).toBe(true);
    expect((await keysOf(scopeFor('baseline-other'))).baseline).toBe(true);
  });

  it('takes the latest complete listing by start, not by commit', async () => {
    const scope = scopeFor('by-start');
    const older = await startRun(scope);
    await clockPast(older.at);
    const newer = await startRun(scope);
    expect(newer.at).toBeGreaterThan(older.at);
    const finish = (run: Run, heldImageIds: string[]) =>
      withLock(scope, (tx) =>
        runs.finishRun(tx.db, {
          id: run.id,
          status: 'partial',
          apiCalls: 1,
          pages: 1,
          imagesSeen: 0,
          created: 0,
          updated: 0,
          deleted: 0,
          events: 0,
          error: 'deletions held',
          complete: true,
          heldImageIds,
        }),
      );
    await finish(newer, ['m-newer']);
    // The older listing commits last: it is not the scope's latest complete listing.
    await finish(older, ['m-older']);
    expect(await keysOf(scope)).toMatchObject({
      baseline: false,
      heldDeletions: ['m-newer'],
      lastCompleteAt: newer.at,
    });
  });
});

describe('lockRegion', () => {
  /** Holds the scope's lock in a transaction of its own until `release` is called. */
  async function holdLock(scope: Scope, work: (tx: Transaction) => Promise<void> = async () => undefined) {
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => undefined;
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const done = withLock(scope, async (tx) => {
      await work(tx);
      locked();
      await gate;
    });
    await holding;
    return { release, done };
  }

  it('makes a second caller wait, then run against what the first committed', async () => {
    const scope = scopeFor('lock');
    const order: string[] = [];
    const run = await startRun(scope, 'manual');
    const first = await holdLock(scope, async (tx) => {
      order.push('first');
      await applyPlan(
        tx,
        scope,
        run.id,
        emptyPlan({ writes: [imageWrite(stateIn(scope, 'm-first'), 1)] }),
        run.at,
      );
    });
    let waits = 0;
    const second = database.transaction(async (tx) => {
      await lockRegion(tx, scope, {
        timeoutMs: 10_000,
        clock: {
          now: systemClock.now,
          sleep: (ms, signal) => {
            waits++;
            return systemClock.sleep(ms, signal);
          },
        },
      });
      order.push('second');
      return readRegionKeys(tx, scope);
    });
    await waitFor('the second caller to wait for the lock', () => waits > 0);
    // Another scope is not blocked meanwhile.
    await expect(withLock(scopeFor('lock', 'us-west-1'), async () => 'free')).resolves.toBe('free');
    expect(order).toEqual(['first']);

    first.release();
    await first.done;
    const seen = await second;
    expect(order).toEqual(['first', 'second']);
    // It read what the first committed: it ran after, not beside, the first.
    expect(seen.stored.map((s) => s.imageId)).toEqual(['m-first']);
  });

  it('gives up after its bound with db.lock_timeout, and at once when aborted', async () => {
    const scope = scopeFor('lock-bound');
    const holder = await holdLock(scope);
    try {
      const started = Date.now();
      const timedOut = await rejection(
        database.transaction((tx) => lockRegion(tx, scope, { timeoutMs: 200, clock: systemClock })),
      );
      expect(isAppError(timedOut) && [timedOut.code, timedOut.retryable]).toEqual(['db.lock_timeout', true]);
      expect(Date.now() - started).toBeLessThan(5_000);

      // The bound is the injected clock's: ten minutes of a manual clock, whose sleep moves it on,
      // pass at once, and the tries stop there.
      const manual = createManualClock();
      const since = manual.now();
      const onManualClock = await rejection(
        database.transaction((tx) => lockRegion(tx, scope, { timeoutMs: 600_000, clock: manual })),
      );
      expect(isAppError(onManualClock) && onManualClock.code).toBe('db.lock_timeout');
      expect(manual.now() - since).toBeGreaterThan(599_000);
      expect(manual.now() - since).toBeLessThanOrEqual(600_000);

      const controller = new AbortController();
      let waits = 0;
      const aborted = database.transaction((tx) =>
        lockRegion(tx, scope, {
          timeoutMs: 60_000,
          signal: controller.signal,
          clock: {
            now: systemClock.now,
            sleep: (ms, signal) => {
              waits++;
              return systemClock.sleep(ms, signal);
            },
          },
        }),
      );
      await waitFor('the caller to wait for the lock', () => waits > 0);
      const reason = new Error('stopped by the operator');
      controller.abort(reason);
      expect(await rejection(aborted)).toBe(reason);
    } finally {
      holder.release();
      await holder.done;
    }
    await expect(withLock(scope, async () => 'free again')).resolves.toBe('free again');
  });

  it('rolls back every write when the work throws, and releases the lock', async () => {
    const scope = scopeFor('rollback');
    const run = await startRun(scope, 'manual');
    const a = stateIn(scope, 'm-a');
    const error = await rejection(
      withLock(scope, async (tx) => {
        await applyPlan(
          tx,
          scope,
          run.id,
          emptyPlan({
            writes: [imageWrite(a, 1)],
            events: [plannedEvent(scope, 'image.created', 'm-a', run.at)],
          }),
          run.at,
        );
        await runs.finishRun(tx.db, {
          id: run.id,
          status: 'succeeded',
          apiCalls: 1,
          pages: 1,
          imagesSeen: 1,
          created: 1,
          updated: 0,
          deleted: 0,
          events: 1,
          error: null,
          complete: true,
        });
        throw new Error('boom');
      }),
    );
    expect((error as Error).message).toBe('boom');
    expect(await images(scope)).toEqual([]);
    expect(await versions(scope)).toEqual([]);
    expect(await eventsOf(scope)).toEqual([]);
    const [row] = await db
      .select()
      .from(syncRuns)
      .where(and(eq(syncRuns.id, run.id)));
    expect(row).toMatchObject({ status: 'running', finishedAt: null, complete: false });
    await expect(withLock(scope, async () => 'free again')).resolves.toBe('free again');
  });
});
