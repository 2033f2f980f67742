import { randomUUID } from 'node:crypto';
import { and, asc, eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/client.ts';
import { createRegionReadMemory, createRegionStore } from '../../src/db/region-store.ts';
import * as schema from '../../src/db/schema/index.ts';
import { customImages, customImageVersions, imageEvents, syncRuns } from '../../src/db/schema/index.ts';
import { createSyncRunStore } from '../../src/db/sync-run-store.ts';
import { isAppError } from '../../src/shared/app-error.ts';
import type { ImageAttribute, ImageState, Scope, StoredImage, SyncPlan } from '../../src/sync/model.ts';
import {
  emptyPlan,
  imageState,
  imageWrite,
  openTestDatabase,
  plannedEvent,
  rawItem,
} from '../support/db-fixtures.ts';
import { rejection } from '../support/rejection.ts';
import { waitFor } from '../support/wait-for.ts';

const database = await openTestDatabase();
const { db } = database;
const memory = createRegionReadMemory();
const regions = createRegionStore(db, memory);
const runs = createSyncRunStore(db);

const T1 = Date.UTC(2026, 0, 1, 8, 0, 0, 123);
const T2 = T1 + 15 * 60_000;
const T3 = T2 + 15 * 60_000;

const scopeFor = (account: string, regionId = 'cn-hangzhou'): Scope => ({ account, regionId });
const stateIn = (scope: Scope, imageId: string, overrides: Partial<ImageState> = {}) =>
  imageState(imageId, { regionId: scope.regionId, ...overrides });

/** Starts a run, applies `plan` under the scope's lock and finishes the run; returns the run id. */
async function sync(scope: Scope, at: number, plan: SyncPlan, complete = true): Promise<string> {
  const id = randomUUID();
  await runs.startRun({ id, ...scope, trigger: 'schedule', startedAt: at - 1000 });
  await regions.withRegionLock(scope, async (tx) => {
    await regions.applyPlan(tx, scope, id, plan, at);
    await runs.finishRun(tx, {
      id,
      status: plan.status,
      finishedAt: at,
      apiCalls: 1,
      pages: 1,
      ...plan.counts,
      error: null,
      complete,
    });
  });
  return id;
}

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

const byId = (stored: StoredImage[]) =>
  [...stored].sort((a, b) =>
    a.state.imageId < b.state.imageId ? -1 : a.state.imageId > b.state.imageId ? 1 : 0,
  );

describe('applyPlan', () => {
  it('writes new, changed, deleted and unchanged images with their history and events', async () => {
    const scope = scopeFor('apply');
    const [a, b, c, d] = ['m-a', 'm-b', 'm-c', 'm-d'].map((id) => stateIn(scope, id)) as [
      ImageState,
      ImageState,
      ImageState,
      ImageState,
    ];
    const run1 = await sync(
      scope,
      T1,
      emptyPlan({
        writes: [a, b, c, d].map((s) => imageWrite(s, 1)),
        events: [a, b, c, d].map((s) =>
          plannedEvent(scope, 'image.created', s.imageId, T1, { version: 1 }, true),
        ),
      }),
    );
    const before = await images(scope);

    const a2 = { ...a, name: 'renamed', status: '2' as const, tags: [{ Key: 'env', Value: 'staging' }] };
    const e = stateIn(scope, 'm-e', { inShare: true });
    const events = [
      plannedEvent(scope, 'image.updated', 'm-a', T2, {
        version: 2,
        changes: { Name: { from: a.name, to: 'renamed' } },
      }),
      plannedEvent(scope, 'image.status_changed', 'm-a', T2, { version: 2, from: '1', to: '2' }),
      plannedEvent(scope, 'image.created', 'm-e', T2, { version: 1 }),
      plannedEvent(scope, 'image.shared', 'm-e', T2, { version: 1, target: 'ecs' }),
      plannedEvent(scope, 'image.deleted', 'm-c', T2, { version: 1 }),
    ];
    const run2 = await sync(
      scope,
      T2,
      emptyPlan({
        writes: [imageWrite(a2, 2), imageWrite(e, 1)],
        unchangedIds: ['m-b', 'm-d'],
        closeVersions: [
          { imageId: 'm-a', version: 1 },
          { imageId: 'm-c', version: 1 },
        ],
        deletions: [{ imageId: 'm-c', version: 1 }],
        events,
      }),
    );

    const after = await images(scope);
    expect(after.map((row) => row.imageId)).toEqual(['m-a', 'm-b', 'm-c', 'm-d', 'm-e']);
    const [rowA, rowB, rowC, rowD, rowE] = after;
    const [beforeA, beforeB, beforeC, beforeD] = before;
    // Changed: new attributes, version and raw; first seen unchanged.
    expect(rowA).toMatchObject({ name: 'renamed', status: '2', tags: a2.tags, version: 2, raw: rawItem(a2) });
    expect(rowA?.firstSeenAt).toEqual(new Date(T1));
    expect(rowA?.lastSeenAt).toEqual(new Date(T2));
    expect(rowA?.deletedAt).toBeNull();
    // Unchanged: only last_seen_at moved.
    expect(rowB).toEqual({ ...beforeB, lastSeenAt: new Date(T2) });
    expect(rowD).toEqual({ ...beforeD, lastSeenAt: new Date(T2) });
    // Deleted: the row stays, marked.
    expect(rowC).toEqual({ ...beforeC, deletedAt: new Date(T2) });
    // New.
    expect(rowE).toMatchObject({ inShare: true, version: 1, deletedAt: null, raw: rawItem(e) });
    expect(rowE?.firstSeenAt).toEqual(new Date(T2));
    expect(rowE?.lastSeenAt).toEqual(new Date(T2));
    expect(beforeA?.name).toBe(a.name);

    const history = (await versions(scope)).map((v) => ({
      id: `${v.imageId}@${v.version}`,
      name: v.name,
      status: v.status,
      from: v.validFrom.getTime(),
      to: v.validTo?.getTime() ?? null,
      run: v.syncRunId,
    }));
    expect(history).toEqual([
      { id: 'm-a@1', name: a.name, status: '1', from: T1, to: T2, run: run1 },
      { id: 'm-a@2', name: 'renamed', status: '2', from: T2, to: null, run: run2 },
      { id: 'm-b@1', name: b.name, status: '1', from: T1, to: null, run: run1 },
      { id: 'm-c@1', name: c.name, status: '1', from: T1, to: T2, run: run1 },
      { id: 'm-d@1', name: d.name, status: '1', from: T1, to: null, run: run1 },
      { id: 'm-e@1', name: e.name, status: '1', from: T2, to: null, run: run2 },
    ]);
    const version2 = (await versions(scope)).find((v) => v.imageId === 'm-a' && v.version === 2);
    expect(version2).toMatchObject({
      ...a2,
      version: 2,
      account: scope.account,
      creationTime: new Date(a.creationTime ?? 0),
    });

    const written = await db.select().from(imageEvents).where(eq(imageEvents.syncRunId, run2));
    expect(written.sort((x, y) => (x.id < y.id ? -1 : 1))).toEqual(
      events
        .map((event) => ({
          id: event.id,
          type: event.type,
          account: scope.account,
          regionId: scope.regionId,
          imageId: event.imageId,
          occurredAt: new Date(T2),
          syncRunId: run2,
          baseline: false,
          data: event.data,
        }))
        .sort((x, y) => (x.id < y.id ? -1 : 1)),
    );
    const baselineEvents = await db.select().from(imageEvents).where(eq(imageEvents.syncRunId, run1));
    expect(baselineEvents.map((event) => [event.type, event.baseline])).toEqual(
      Array(4).fill(['image.created', true]),
    );

    const state = await regions.loadRegionState(db, scope);
    expect(byId(state.stored)).toEqual([
      { state: a2, version: 2, deletedAt: null },
      { state: b, version: 1, deletedAt: null },
      { state: c, version: 1, deletedAt: T2 },
      { state: d, version: 1, deletedAt: null },
      { state: e, version: 1, deletedAt: null },
    ]);

    // Listed again after its deletion: the history continues with version 2.
    await sync(
      scope,
      T3,
      emptyPlan({ writes: [imageWrite(c, 2)], unchangedIds: ['m-a', 'm-b', 'm-d', 'm-e'] }),
    );
    const again = await regions.loadRegionState(db, scope);
    expect(byId(again.stored)[2]).toEqual({ state: c, version: 2, deletedAt: null });
    const cHistory = (await versions(scope)).filter((v) => v.imageId === 'm-c');
    expect(cHistory.map((v) => [v.version, v.validFrom.getTime(), v.validTo?.getTime() ?? null])).toEqual([
      [1, T1, T2],
      [2, T3, null],
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
    await sync(scope, T1, emptyPlan({ writes: [tricky, nulls, literalNull].map((s) => imageWrite(s, 1)) }));

    const state = await regions.loadRegionState(db, scope);
    expect(byId(state.stored)).toEqual([
      { state: literalNull, version: 1, deletedAt: null },
      { state: nulls, version: 1, deletedAt: null },
      { state: tricky, version: 1, deletedAt: null },
    ]);
    // Other scopes of the same account and other accounts are not read.
    expect((await regions.loadRegionState(db, scopeFor('roundtrip', 'cn-hangzhou'))).stored).toEqual([]);
  });

  it('runs a constant number of statements whatever the size of the plan', async () => {
    const counted = async (scope: Scope, size: number) => {
      const statements: string[] = [];
      const logged: Db = drizzle({
        client: database.pool,
        schema,
        logger: { logQuery: (query) => statements.push(query) },
      });
      const ids = Array.from({ length: size }, (_, i) => `m-${String(i).padStart(6, '0')}`);
      await sync(scope, T1, emptyPlan({ writes: ids.map((id) => imageWrite(stateIn(scope, id), 1)) }));
      const plan = emptyPlan({
        writes: ids.slice(0, size / 2).map((id) => imageWrite(stateIn(scope, id, { name: 'changed' }), 2)),
        closeVersions: ids.slice(0, size / 2 + 1).map((id) => ({ imageId: id, version: 1 })),
        deletions: [{ imageId: ids[size / 2] ?? '', version: 1 }],
        unchangedIds: ids.slice(size / 2 + 1),
        events: ids.map((id) => plannedEvent(scope, 'image.updated', id, T2)),
      });
      const id = randomUUID();
      await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T2 });
      await logged.transaction((tx) => regions.applyPlan(tx, scope, id, plan, T2));
      const state = await regions.loadRegionState(db, scope);
      expect(state.stored.filter((s) => s.version === 2)).toHaveLength(size / 2);
      expect(state.stored.filter((s) => s.deletedAt === T2)).toHaveLength(1);
      return statements.filter((query) => !/^(begin|commit|rollback)/i.test(query.trim())).length;
    };
    const small = await counted(scopeFor('constant-small'), 4);
    const large = await counted(scopeFor('constant-large'), 2000);
    expect(small).toBe(5);
    expect(large).toBe(small);
  });

  it('refuses a plan that does not match the stored state, writing nothing', async () => {
    const scope = scopeFor('mismatch');
    const a = stateIn(scope, 'm-a');
    await sync(scope, T1, emptyPlan({ writes: [imageWrite(a, 1)] }));
    const id = randomUUID();
    await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T2 });
    const error = await rejection(
      regions.withRegionLock(scope, (tx) =>
        regions.applyPlan(
          tx,
          scope,
          id,
          emptyPlan({
            writes: [imageWrite(stateIn(scope, 'm-new'), 1)],
            closeVersions: [{ imageId: 'm-a', version: 7 }],
          }),
          T2,
        ),
      ),
    );
    expect(isAppError(error) && error.code).toBe('db.plan_mismatch');
    expect((await images(scope)).map((row) => row.imageId)).toEqual(['m-a']);
    expect((await versions(scope)).map((row) => [row.version, row.validTo])).toEqual([[1, null]]);
  });
});

describe('loadRegionState kept states', () => {
  const hashes = async (scope: Scope) =>
    Object.fromEntries(
      (
        await database.pool.query<{ image_id: string; state_hash: string }>(
          'select image_id, state_hash from custom_images where account = $1',
          [scope.account],
        )
      ).rows.map((row) => [row.image_id, row.state_hash]),
    );

  it('decodes again only the rows whose state_hash moved, whoever changed them', async () => {
    const scope = scopeFor('kept');
    const [a, b, c] = ['m-a', 'm-b', 'm-c'].map((id) => stateIn(scope, id)) as [
      ImageState,
      ImageState,
      ImageState,
    ];
    await sync(scope, T1, emptyPlan({ writes: [a, b, c].map((s) => imageWrite(s, 1)) }));
    memory.forget();
    const cold = byId((await regions.loadRegionState(db, scope)).stored);
    const warm = byId((await regions.loadRegionState(db, scope)).stored);
    expect(warm).toEqual(cold);
    // Kept states are shared by later reads, hence frozen.
    expect(warm.map((s) => s.state)).toEqual(cold.map((s) => s.state));
    expect(warm[0]?.state).toBe(cold[0]?.state);
    expect(Object.isFrozen(warm[0]?.state) && Object.isFrozen(warm[0]?.state.tags)).toBe(true);

    // An edit by hand (no new version) and a sync's deletion: the edited row is decoded again;
    // version and deleted_at always come from the row.
    await database.pool.query(
      `update custom_images set name = 'edited by hand' where account = $1 and image_id = 'm-b'`,
      [scope.account],
    );
    await sync(
      scope,
      T2,
      emptyPlan({
        unchangedIds: ['m-a', 'm-b'],
        closeVersions: [{ imageId: 'm-c', version: 1 }],
        deletions: [{ imageId: 'm-c', version: 1 }],
      }),
    );
    const after = byId((await regions.loadRegionState(db, scope)).stored);
    expect(after).toEqual([
      { state: a, version: 1, deletedAt: null },
      { state: { ...b, name: 'edited by hand' }, version: 1, deletedAt: null },
      { state: c, version: 1, deletedAt: T2 },
    ]);
    expect(after[0]?.state).toBe(cold[0]?.state);
    expect(after[2]?.state).toBe(cold[2]?.state);
    memory.forget();
    expect(byId((await regions.loadRegionState(db, scope)).stored)).toEqual(after);
  });

  it('gives states that differ in any one attribute different hashes, and equal states equal ones', async () => {
    const scope = scopeFor('hashes');
    const base = stateIn(scope, 'm-base', { dataSnapshotId: 'sd-1', requiredDataDiskSize: 20 });
    const other: Record<ImageAttribute, unknown> = {
      regionId: 'cn-hangzhou-other',
      name: null,
      description: '',
      status: '3',
      inShare: true,
      inShareUser: true,
      instanceId: 'NULL',
      instanceName: "web-1'",
      systemSnapshotId: 's-0002',
      systemSnapshotName: 'system snapshot,',
      dataSnapshotId: null,
      dataSnapshotName: 'data',
      resourceGroupId: 'rg-other',
      osType: 'Windows',
      requiredSystemDiskSize: 41,
      requiredDataDiskSize: null,
      sourceImageName: 'Ubuntu',
      sourceImageVersion: '22.04',
      userId: '1234567890123457',
      tags: [{ Key: 'env', Value: 'prod ' }],
      createInstances: ['ace-0001', 'ace-0002'],
      creationTime: '2025-03-04T05:06:07.001Z',
    };
    const variants = (Object.keys(other) as ImageAttribute[]).map((attribute) => ({
      ...base,
      imageId: `m-${attribute}`,
      [attribute]: other[attribute],
    }));
    const twin = { ...base, imageId: 'm-twin' };
    await sync(scope, T1, emptyPlan({ writes: [base, twin, ...variants].map((s) => imageWrite(s, 1)) }));
    const byImage = await hashes(scope);
    expect(byImage['m-twin']).toBe(byImage['m-base']);
    const distinct = new Set(variants.map((v) => byImage[v.imageId]).concat(byImage['m-base']));
    expect(distinct.size).toBe(variants.length + 1);
  });
});

describe('applyPlan after a read in the same transaction', () => {
  it('moves last_seen_at of the unchanged images only, and refuses unchanged ids that are not live', async () => {
    const scope = scopeFor('after-read');
    const ids = ['m-a', 'm-b', 'm-c', 'm-d'];
    await sync(scope, T1, emptyPlan({ writes: ids.map((id) => imageWrite(stateIn(scope, id), 1)) }));
    const b2 = stateIn(scope, 'm-b', { name: 'changed' });
    const id = randomUUID();
    await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T2 });
    // m-b changed, m-c deleted, m-d not listed (a partial listing): only m-a is bumped.
    await regions.withRegionLock(scope, async (tx) => {
      await regions.loadRegionState(tx, scope);
      await regions.applyPlan(
        tx,
        scope,
        id,
        emptyPlan({
          writes: [imageWrite(b2, 2)],
          unchangedIds: ['m-a'],
          closeVersions: [
            { imageId: 'm-b', version: 1 },
            { imageId: 'm-c', version: 1 },
          ],
          deletions: [{ imageId: 'm-c', version: 1 }],
        }),
        T2,
      );
    });
    const seen = (await images(scope)).map((row) => [
      row.imageId,
      row.lastSeenAt.getTime(),
      row.deletedAt?.getTime() ?? null,
    ]);
    expect(seen).toEqual([
      ['m-a', T2, null],
      ['m-b', T2, null],
      ['m-c', T1, T2],
      ['m-d', T1, null],
    ]);

    // A stale plan naming the deleted m-c as unchanged, whichever way the bump names its rows
    // (the few live images left out, or the unchanged ones).
    for (const unchangedIds of [
      ['m-a', 'm-b', 'm-c'],
      ['m-a', 'm-c'],
    ]) {
      const error = await rejection(
        regions.withRegionLock(scope, async (tx) => {
          await regions.loadRegionState(tx, scope);
          await regions.applyPlan(tx, scope, id, emptyPlan({ unchangedIds }), T3);
        }),
      );
      expect(isAppError(error) && error.code).toBe('db.plan_mismatch');
    }
    expect((await images(scope)).map((row) => row.lastSeenAt.getTime())).toEqual([T2, T2, T1, T1]);
  });

  it('refuses a plan that takes a stored image for new', async () => {
    const scope = scopeFor('stale-new');
    const a = stateIn(scope, 'm-a');
    await sync(scope, T1, emptyPlan({ writes: [imageWrite(a, 1)] }));
    const id = randomUUID();
    await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T2 });
    const error = await rejection(
      regions.withRegionLock(scope, (tx) =>
        regions.applyPlan(tx, scope, id, emptyPlan({ writes: [imageWrite({ ...a, name: 'again' }, 1)] }), T2),
      ),
    );
    expect(isAppError(error) && error.code).toBe('db.plan_mismatch');
    expect((await images(scope)).map((row) => row.name)).toEqual([a.name]);
  });
});

describe('loadRegionState baseline and held deletions', () => {
  it('is at the baseline until a complete run, then reads the held ids of the latest complete run', async () => {
    const scope = scopeFor('baseline');
    const a = stateIn(scope, 'm-a');
    expect(await regions.loadRegionState(db, scope)).toEqual({
      stored: [],
      baseline: true,
      heldDeletions: [],
    });

    // An incomplete listing writes what it saw but leaves the scope at its baseline.
    await sync(scope, T1, emptyPlan({ writes: [imageWrite(a, 1)], status: 'partial' }), false);
    expect(await regions.loadRegionState(db, scope)).toMatchObject({ baseline: true, heldDeletions: [] });

    // A complete listing whose deletions the brake held: the ids come back to the next sync.
    // (This event's data lacks imageIds: the store fills them in from plan.held.)
    const held = { count: 2, total: 3, imageIds: ['m-x', 'm-y'] };
    await sync(
      scope,
      T2,
      emptyPlan({
        unchangedIds: ['m-a'],
        held,
        status: 'partial',
        events: [plannedEvent(scope, 'sync.deletions_held', null, T2, { count: 2, total: 3 })],
      }),
    );
    const afterHeld = await regions.loadRegionState(db, scope);
    expect(afterHeld.baseline).toBe(false);
    expect(afterHeld.heldDeletions).toEqual(['m-x', 'm-y']);
    expect(afterHeld.stored.map((s) => s.state)).toEqual([a]);

    // A watch poll is not a complete listing: the held ids stay.
    const watchId = randomUUID();
    await runs.startRun({ id: watchId, ...scope, trigger: 'watch', startedAt: T2 + 60_000 });
    await runs.finishRun(db, {
      id: watchId,
      status: 'succeeded',
      finishedAt: T2 + 61_000,
      apiCalls: 1,
      pages: 1,
      imagesSeen: 1,
      created: 0,
      updated: 0,
      deleted: 0,
      events: 0,
      error: null,
      complete: false,
    });
    expect((await regions.loadRegionState(db, scope)).heldDeletions).toEqual(['m-x', 'm-y']);

    // The next complete listing held nothing: nothing is held any more.
    await sync(scope, T3, emptyPlan({ unchangedIds: ['m-a'] }));
    expect(await regions.loadRegionState(db, scope)).toMatchObject({ baseline: false, heldDeletions: [] });

    // Baselines are per (account, region).
    expect((await regions.loadRegionState(db, scopeFor('baseline', 'eu-central-1'))).baseline).toBe(true);
    expect((await regions.loadRegionState(db, scopeFor('baseline-other'))).baseline).toBe(true);
  });
});

describe('withRegionLock', () => {
  it('makes a second caller wait, then run against what the first committed', async () => {
    const scope = scopeFor('lock');
    const order: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked: () => void = () => undefined;
    const firstHoldsLock = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const id = randomUUID();
    await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T1 });

    const first = regions.withRegionLock(scope, async (tx) => {
      order.push('first');
      await regions.applyPlan(
        tx,
        scope,
        id,
        emptyPlan({ writes: [imageWrite(stateIn(scope, 'm-first'), 1)] }),
        T1,
      );
      locked();
      await gate;
      order.push('first done');
    });
    await firstHoldsLock;
    const second = regions.withRegionLock(scope, async (tx) => {
      order.push('second');
      return regions.loadRegionState(tx, scope);
    });
    await waitFor('the second caller to wait for the advisory lock', async () => {
      const { rows } = await database.pool.query<{ n: number }>(
        "select count(*)::int as n from pg_locks where locktype = 'advisory' and not granted and database = (select oid from pg_database where datname = current_database())",
      );
      return (rows[0]?.n ?? 0) > 0;
    });
    // Another scope is not blocked meanwhile.
    await expect(regions.withRegionLock(scopeFor('lock', 'us-west-1'), async () => 'free')).resolves.toBe(
      'free',
    );
    expect(order).toEqual(['first']);

    release();
    await first;
    const seen = await second;
    expect(order).toEqual(['first', 'first done', 'second']);
    expect(seen.stored.map((s) => s.state.imageId)).toEqual(['m-first']);
  });

  it('rolls back every write when the callback throws, and releases the lock', async () => {
    const scope = scopeFor('rollback');
    const id = randomUUID();
    await runs.startRun({ id, ...scope, trigger: 'manual', startedAt: T1 });
    const a = stateIn(scope, 'm-a');
    const error = await rejection(
      regions.withRegionLock(scope, async (tx) => {
        await regions.applyPlan(
          tx,
          scope,
          id,
          emptyPlan({
            writes: [imageWrite(a, 1)],
            events: [plannedEvent(scope, 'image.created', 'm-a', T1)],
          }),
          T1,
        );
        await runs.finishRun(tx, {
          id,
          status: 'succeeded',
          finishedAt: T1,
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
    expect(await db.select().from(imageEvents).where(eq(imageEvents.account, scope.account))).toEqual([]);
    const [run] = await db
      .select()
      .from(syncRuns)
      .where(and(eq(syncRuns.id, id)));
    expect(run).toMatchObject({ status: 'running', finishedAt: null, complete: false });
    await expect(regions.withRegionLock(scope, async () => 'free again')).resolves.toBe('free again');
  });
});
