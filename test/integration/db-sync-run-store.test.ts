import { randomUUID } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { syncRuns } from '../../src/db/schema/index.ts';
import { createSyncRunStore } from '../../src/db/sync-run-store.ts';
import { createSyncStore } from '../../src/db/sync-store.ts';
import { isAppError } from '../../src/shared/app-error.ts';
import type { RegionState, Scope } from '../../src/sync/model.ts';
import type { RunRecord } from '../../src/sync/run-sync.ts';
import { emptyPlan, imageState, imageWrite, openTestDatabase, plannedEvent } from '../support/db-fixtures.ts';
import { rejection } from '../support/rejection.ts';

const database = await openTestDatabase();
const { db } = database;
const runs = createSyncRunStore(db);

const T1 = Date.UTC(2026, 0, 1, 8, 0, 0, 250);
const COUNTS = { imagesSeen: 3, created: 1, updated: 1, deleted: 0, events: 2 };

const row = async (id: string) => (await db.select().from(syncRuns).where(eq(syncRuns.id, id)))[0];

describe('sync run store', () => {
  it('starts a run as running and finishes it once with its outcome', async () => {
    const id = randomUUID();
    await runs.startRun({ id, account: 'runs', regionId: 'cn-hangzhou', trigger: 'schedule', startedAt: T1 });
    expect(await row(id)).toMatchObject({
      status: 'running',
      trigger: 'schedule',
      startedAt: new Date(T1),
      finishedAt: null,
      apiCalls: 0,
      complete: false,
    });

    await db.transaction((tx) =>
      runs.finishRun(tx, {
        id,
        status: 'partial',
        finishedAt: T1 + 2500,
        apiCalls: 4,
        pages: 3,
        ...COUNTS,
        error: 'deletions held: 6 of 10 images',
        complete: true,
      }),
    );
    expect(await row(id)).toMatchObject({
      status: 'partial',
      finishedAt: new Date(T1 + 2500),
      apiCalls: 4,
      pages: 3,
      ...COUNTS,
      error: 'deletions held: 6 of 10 images',
      complete: true,
    });

    const again = await rejection(
      runs.finishRun(db, {
        id,
        status: 'succeeded',
        finishedAt: T1,
        apiCalls: 0,
        pages: 0,
        ...COUNTS,
        error: null,
        complete: true,
      }),
    );
    expect(isAppError(again) && again.code).toBe('db.run_not_running');
    // A finished run is never turned into a failure afterwards.
    expect(await runs.failRun({ id, finishedAt: T1 + 9000, error: 'late' })).toBe(false);
    expect((await row(id))?.status).toBe('partial');
  });

  it('fails a running run with the error text and the calls spent so far', async () => {
    const id = randomUUID();
    await runs.startRun({ id, account: 'runs', regionId: 'eu-central-1', trigger: 'manual', startedAt: T1 });
    expect(
      await runs.failRun({
        id,
        finishedAt: T1 + 100,
        error: 'swas.throttled: rate exceeded',
        apiCalls: 7,
        pages: 2,
      }),
    ).toBe(true);
    expect(await row(id)).toMatchObject({
      status: 'failed',
      finishedAt: new Date(T1 + 100),
      error: 'swas.throttled: rate exceeded',
      apiCalls: 7,
      pages: 2,
      complete: false,
    });
  });

  it('rejects a failed run marked complete, and values outside the CHECK constraints', async () => {
    const id = randomUUID();
    await runs.startRun({ id, account: 'runs-checks', regionId: 'r', trigger: 'watch', startedAt: T1 });
    const error = await rejection(
      runs.finishRun(db, {
        id,
        status: 'failed',
        finishedAt: T1,
        apiCalls: 0,
        pages: 0,
        ...COUNTS,
        error: 'x',
        complete: true,
      }),
    );
    expect(isAppError(error) && error.code).toBe('db.invalid_run');
    const badTrigger = await rejection(
      database.pool.query(
        "insert into sync_runs (id, account, region_id, trigger, status, started_at) values ($1, 'a', 'r', 'cron', 'running', now())",
        [randomUUID()],
      ),
    );
    expect((badTrigger as { code?: string }).code).toBe('23514');
  });

  it('lists the latest runs, newest first or one per scope', async () => {
    const account = 'latest';
    const ids: string[] = [];
    for (const [i, regionId] of ['r1', 'r2', 'r1', 'r2', 'r1'].entries()) {
      const id = randomUUID();
      ids.push(id);
      await runs.startRun({ id, account, regionId, trigger: 'schedule', startedAt: T1 + i * 1000 });
    }
    const all = await runs.latestRuns({ account });
    expect(all.map((run) => run.id)).toEqual([...ids].reverse());
    expect(all[0]).toMatchObject({
      account,
      regionId: 'r1',
      startedAt: T1 + 4000,
      finishedAt: null,
      status: 'running',
    });
    expect((await runs.latestRuns({ account, limit: 2 })).map((run) => run.id)).toEqual([ids[4], ids[3]]);
    expect((await runs.latestRuns({ account, regionId: 'r2' })).map((run) => run.id)).toEqual([
      ids[3],
      ids[1],
    ]);
    const perScope = await runs.latestRuns({ account, perScope: true });
    expect(perScope.map((run) => [run.regionId, run.id])).toEqual([
      ['r1', ids[4]],
      ['r2', ids[3]],
    ]);
  });
});

describe('sync store (the run-sync port)', () => {
  const scope: Scope = { account: 'port', regionId: 'cn-shanghai' };
  const store = createSyncStore(db);

  it('commits the plan and finishes the run in one transaction, from the state read under the lock', async () => {
    const run: RunRecord = { id: randomUUID(), scope, trigger: 'schedule', startedAt: T1 };
    await store.startRun(run);
    expect((await row(run.id))?.status).toBe('running');
    const a = imageState('m-a', { regionId: scope.regionId });
    let seen: RegionState | undefined;
    const plan = emptyPlan({
      writes: [imageWrite(a, 1)],
      events: [plannedEvent(scope, 'image.created', 'm-a', T1 + 500, { version: 1 }, true)],
      counts: { imagesSeen: 1, created: 1, updated: 0, deleted: 0, events: 1 },
    });
    const written = await store.commitRegion(
      run,
      { apiCalls: 1, pages: 1, finishedAt: T1 + 500, complete: true },
      (region) => {
        seen = region;
        return plan;
      },
    );
    expect(written).toBe(plan);
    expect(seen).toEqual({ stored: [], baseline: true, heldDeletions: [] });
    expect(await row(run.id)).toMatchObject({
      status: 'succeeded',
      finishedAt: new Date(T1 + 500),
      imagesSeen: 1,
      created: 1,
      events: 1,
      error: null,
      complete: true,
    });

    const next: RunRecord = { id: randomUUID(), scope, trigger: 'schedule', startedAt: T1 + 60_000 };
    await store.startRun(next);
    await store.commitRegion(
      next,
      { apiCalls: 1, pages: 1, finishedAt: T1 + 61_000, complete: true },
      (region) => {
        seen = region;
        return emptyPlan({ unchangedIds: ['m-a'] });
      },
    );
    expect(seen?.baseline).toBe(false);
    expect(seen?.stored).toEqual([{ state: a, version: 1, deletedAt: null }]);
  });

  it('leaves nothing but a running row when planning throws, which failRun then marks failed', async () => {
    const run: RunRecord = {
      id: randomUUID(),
      scope: { ...scope, regionId: 'cn-beijing' },
      trigger: 'manual',
      startedAt: T1,
    };
    await store.startRun(run);
    const error = await rejection(
      store.commitRegion(run, { apiCalls: 2, pages: 2, finishedAt: T1 + 10, complete: true }, () => {
        throw new Error('planner exploded');
      }),
    );
    expect((error as Error).message).toBe('planner exploded');
    expect((await row(run.id))?.status).toBe('running');
    await store.failRun(
      run,
      { apiCalls: 2, pages: 2, finishedAt: T1 + 20, complete: false },
      'planner exploded',
    );
    expect(await row(run.id)).toMatchObject({
      status: 'failed',
      error: 'planner exploded',
      apiCalls: 2,
      complete: false,
    });
  });
});
