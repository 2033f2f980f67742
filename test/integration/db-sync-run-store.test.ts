import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.ts';
import { eq } from '../../src/db/drizzle.ts';
import { lockRegion } from '../../src/db/region-store.ts';
import { syncRuns } from '../../src/db/schema/index.ts';
import { createSyncRunStore } from '../../src/db/sync-run-store.ts';
import { createSyncStore } from '../../src/db/sync-store.ts';
import { isAppError } from '../../src/shared/app-error.ts';
import { systemClock } from '../../src/shared/clock.ts';
import type { Scope } from '../../src/sync/model.ts';
import type { RegionKeys, RunRecord } from '../../src/sync/run-sync.ts';
import { stateHash } from '../../src/sync/state-hash.ts';
import { emptyPlan, imageState, imageWrite, openTestDatabase, plannedEvent } from '../support/db-fixtures.ts';
import { rejection } from '../support/rejection.ts';
import { waitFor } from '../support/wait-for.ts';

const database = await openTestDatabase();
const { db } = database;
const runs = createSyncRunStore(db);
const ABANDON = { staleAfterMs: 60_000 };

const T1 = Date.UTC(2026, 0, 1, 8, 0, 0, 250);
const COUNTS = { imagesSeen: 3, created: 1, updated: 1, deleted: 0, events: 2 };

const row = async (id: string) => (await db.select().from(syncRuns).where(eq(syncRuns.id, id)))[0];
const dbNow = async () =>
  (
    await database.pool.query<{ ms: number }>(
      'select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms',
    )
  ).rows[0]?.ms ?? Number.NaN;
const start = async (
  account: string,
  regionId: string,
  trigger: 'schedule' | 'watch' | 'manual' = 'schedule',
) => {
  const id = randomUUID();
  const startedAt = await runs.startRun({ id, account, regionId, trigger }, ABANDON);
  return { id, startedAt };
};
/** Moves a run's heartbeat (and start) into the past, as a process that died that long ago leaves it. */
const age = (id: string, heartbeatAgoMs: number | null, startedAgoMs = heartbeatAgoMs ?? 0) =>
  database.pool.query(
    `update sync_runs set
       started_at = clock_timestamp() - make_interval(secs => $2::float8 / 1000),
       heartbeat_at = case when $3::float8 is null then null else clock_timestamp() - make_interval(secs => $3::float8 / 1000) end
     where id = $1`,
    [id, startedAgoMs, heartbeatAgoMs],
  );

describe('sync run store', () => {
  it('starts a run as running on the database’s clock and finishes it once with its outcome', async () => {
    const before = await dbNow();
    const { id, startedAt } = await start('runs', 'cn-hangzhou');
    const after = await dbNow();
    // ms precision, as stored: the instant returned is the one in the row.
    expect(Number.isInteger(startedAt)).toBe(true);
    expect(startedAt).toBeGreaterThanOrEqual(Math.floor(before));
    expect(startedAt).toBeLessThanOrEqual(after);
    const running = await row(id);
    expect(running).toMatchObject({
      status: 'running',
      trigger: 'schedule',
      startedAt: new Date(startedAt),
      finishedAt: null,
      apiCalls: 0,
      complete: false,
      heldImageIds: null,
    });
    expect(running?.heartbeatAt?.getTime()).toBeGreaterThanOrEqual(startedAt);

    await db.transaction((tx) =>
      runs.finishRun(tx, {
        id,
        status: 'partial',
        apiCalls: 4,
        pages: 3,
        ...COUNTS,
        error: 'deletions held: 6 of 10 images',
        complete: true,
        heldImageIds: ['m-x', 'm-y'],
      }),
    );
    const finished = await row(id);
    expect(finished).toMatchObject({
      status: 'partial',
      apiCalls: 4,
      pages: 3,
      ...COUNTS,
      error: 'deletions held: 6 of 10 images',
      complete: true,
      heldImageIds: ['m-x', 'm-y'],
    });
    // finished_at is the database's clock too, never before the start.
    expect(finished?.finishedAt?.getTime()).toBeGreaterThanOrEqual(startedAt);
    expect(finished?.finishedAt?.getTime()).toBeLessThanOrEqual(await dbNow());

    const again = await rejection(
      runs.finishRun(db, {
        id,
        status: 'succeeded',
        apiCalls: 0,
        pages: 0,
        ...COUNTS,
        error: null,
        complete: true,
      }),
    );
    expect(isAppError(again) && again.code).toBe('db.run_not_running');
    // A finished run is never turned into a failure afterwards, nor heartbeated.
    expect(await runs.failRun({ id, error: 'late' })).toBe(false);
    expect(await runs.heartbeat(id)).toBe(false);
    expect(await row(id)).toEqual(finished);
  });

  it('records a superseded run with its reason, and no held ids when none were held', async () => {
    const { id } = await start('runs', 'cn-shenzhen');
    await runs.finishRun(db, {
      id,
      status: 'superseded',
      apiCalls: 2,
      pages: 2,
      imagesSeen: 150,
      created: 0,
      updated: 0,
      deleted: 0,
      events: 0,
      error: 'superseded: a complete listing that began later was committed first',
      complete: false,
      heldImageIds: [],
    });
    expect(await row(id)).toMatchObject({
      status: 'superseded',
      complete: false,
      heldImageIds: null,
      imagesSeen: 150,
      error: 'superseded: a complete listing that began later was committed first',
    });
  });

  it('fails a running run with the error text and the calls spent so far', async () => {
    const { id, startedAt } = await start('runs', 'eu-central-1', 'manual');
    expect(
      await runs.failRun({ id, error: 'swas.throttled: rate exceeded\u0000', apiCalls: 7, pages: 2 }),
    ).toBe(true);
    const failed = await row(id);
    expect(failed).toMatchObject({
      status: 'failed',
      error: 'swas.throttled: rate exceeded\\0',
      apiCalls: 7,
      pages: 2,
      complete: false,
    });
    expect(failed?.finishedAt?.getTime()).toBeGreaterThanOrEqual(startedAt);
  });

  it('rejects a failed or superseded run marked complete, and values outside the CHECK constraints', async () => {
    const { id } = await start('runs-checks', 'r', 'watch');
    const finish = { id, apiCalls: 0, pages: 0, ...COUNTS, error: 'x', complete: true } as const;
    const error = await rejection(runs.finishRun(db, { ...finish, status: 'failed' }));
    expect(isAppError(error) && error.code).toBe('db.invalid_run');
    const superseded = await rejection(runs.finishRun(db, { ...finish, status: 'superseded' }));
    expect(((superseded as Error).cause as { code?: string } | undefined)?.code).toBe('23514');
    expect((await row(id))?.status).toBe('running');
    const badTrigger = await rejection(
      database.pool.query(
        "insert into sync_runs (id, account, region_id, trigger, status, started_at) values ($1, 'a', 'r', 'cron', 'running', now())",
        [randomUUID()],
      ),
    );
    expect((badTrigger as { code?: string }).code).toBe('23514');
  });

  it('moves the heartbeat of a running run forward', async () => {
    const { id } = await start('runs-heartbeat', 'r');
    await age(id, 30_000);
    const stale = (await row(id))?.heartbeatAt?.getTime() ?? 0;
    expect(await runs.heartbeat(id)).toBe(true);
    expect((await row(id))?.heartbeatAt?.getTime()).toBeGreaterThan(stale + 25_000);
    expect(await runs.heartbeat(randomUUID())).toBe(false);
  });

  it('closes abandoned runs as failed, never a live one however long it has been listing', async () => {
    const account = 'runs-reap';
    const dead = await start(account, 'r1');
    const live = await start(account, 'r1');
    const silentSinceStart = await start(account, 'r1');
    const deadElsewhere = await start(account, 'r2');
    const finished = await start(account, 'r1');
    await runs.failRun({ id: finished.id, error: 'ended normally' });
    await age(dead.id, 10 * 60_000);
    // Listing for a day under the quota, heartbeat fresh.
    await age(live.id, 1_000, 24 * 3_600_000);
    await age(silentSinceStart.id, null, 10 * 60_000);
    await age(deadElsewhere.id, 10 * 60_000);
    await age(finished.id, 10 * 60_000);
    const finishedBefore = await row(finished.id);

    expect(await runs.reapAbandoned(ABANDON, { account, regionId: 'r1' })).toBe(2);
    for (const id of [dead.id, silentSinceStart.id]) {
      const reaped = await row(id);
      expect(reaped).toMatchObject({ status: 'failed', complete: false });
      expect(reaped?.error).toMatch(
        /^abandoned: its process stopped without finishing it \(no heartbeat since \d{4}-/,
      );
      expect(reaped?.finishedAt?.getTime()).toBeGreaterThanOrEqual(reaped?.startedAt.getTime() ?? Infinity);
    }
    expect((await row(live.id))?.status).toBe('running');
    expect((await row(deadElsewhere.id))?.status).toBe('running');
    expect(await row(finished.id)).toEqual(finishedBefore);

    // Without a scope (a worker starting up): every scope's abandoned runs.
    expect(await runs.reapAbandoned(ABANDON)).toBeGreaterThanOrEqual(1);
    expect((await row(deadElsewhere.id))?.status).toBe('failed');
    expect((await row(live.id))?.status).toBe('running');
  });

  it('closes the scope’s abandoned runs when a new run of the scope starts, and only those', async () => {
    const account = 'runs-start-reaps';
    const dead = await start(account, 'r1');
    const deadElsewhere = await start(account, 'r2');
    await age(dead.id, 10 * 60_000);
    await age(deadElsewhere.id, 10 * 60_000);
    const next = await start(account, 'r1');
    expect((await row(dead.id))?.status).toBe('failed');
    expect((await row(next.id))?.status).toBe('running');
    expect((await row(deadElsewhere.id))?.status).toBe('running');
  });

  it('sync_health and the reaper judge a silent running run by the bound of its own process', async () => {
    const account = 'runs-health-bound';
    // A process with a 30 s heartbeat (bound 2 min) and one with the default 15 s (bound 1 min),
    // both silent for 90 s; and a run recorded before runs kept their bound (taken as 1 min).
    const slow = { id: randomUUID(), account, regionId: 'slow', trigger: 'schedule' as const };
    await runs.startRun(slow, { staleAfterMs: 120_000 });
    const fast = await start(account, 'fast');
    const older = await start(account, 'older');
    for (const id of [slow.id, fast.id, older.id]) await age(id, 90_000);
    await database.pool.query('update sync_runs set abandon_after_ms = null where id = $1', [older.id]);

    const { rows } = await database.pool.query<{
      region_id: string;
      last_run_abandoned: boolean;
      last_run_status: string;
      consecutive_failures: number;
    }>(
      `select region_id, last_run_abandoned, last_run_status, consecutive_failures
         from reporting.sync_health where account = $1 order by region_id`,
      [account],
    );
    expect(rows).toEqual([
      { region_id: 'fast', last_run_abandoned: true, last_run_status: 'failed', consecutive_failures: 1 },
      { region_id: 'older', last_run_abandoned: true, last_run_status: 'failed', consecutive_failures: 1 },
      { region_id: 'slow', last_run_abandoned: false, last_run_status: 'running', consecutive_failures: 0 },
    ]);
    // A process with the 1-minute bound closes the other two, not the run whose process promised
    // a heartbeat within 2 minutes.
    expect(await runs.reapAbandoned(ABANDON, { account, regionId: 'slow' })).toBe(0);
    expect(await runs.reapAbandoned(ABANDON, { account, regionId: 'fast' })).toBe(1);
    expect(await runs.reapAbandoned(ABANDON, { account, regionId: 'older' })).toBe(1);
    expect((await row(slow.id))?.status).toBe('running');
  });

  it('lists the latest runs, newest first or one per scope', async () => {
    const account = 'latest';
    const ids: string[] = [];
    for (const [i, regionId] of ['r1', 'r2', 'r1', 'r2', 'r1'].entries()) {
      const { id } = await start(account, regionId);
      ids.push(id);
      // Distinct starts a second apart, whatever the speed of the machine.
      await database.pool.query('update sync_runs set started_at = $2 where id = $1', [
        id,
        new Date(T1 + i * 1000),
      ]);
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
  const options = { heartbeatMs: 60_000, lockTimeoutMs: 10_000, clock: systemClock };
  const store = createSyncStore(database, options);

  it('commits the plan and finishes the run in one transaction, from what it reads under the lock', async () => {
    const run: RunRecord = { id: randomUUID(), scope, trigger: 'schedule' };
    const started = await store.startRun(run);
    expect(await row(run.id)).toMatchObject({ status: 'running', startedAt: new Date(started.observedAt) });
    const a = imageState('m-a', { regionId: scope.regionId });
    const plan = emptyPlan({
      writes: [imageWrite(a, 1)],
      events: [plannedEvent(scope, 'image.created', 'm-a', started.observedAt, { version: 1 }, true)],
      counts: { imagesSeen: 1, created: 1, updated: 0, deleted: 0, events: 1 },
      complete: true,
    });
    let seen: RegionKeys | undefined;
    await store.withRegion(scope, undefined, async (session) => {
      seen = await session.readKeys();
      await session.apply(run, started, { apiCalls: 1, pages: 1 }, plan);
    });
    started.release();
    expect(seen).toEqual({ stored: [], baseline: true, heldDeletions: [], lastCompleteAt: null });
    const finished = await row(run.id);
    expect(finished).toMatchObject({
      status: 'succeeded',
      imagesSeen: 1,
      created: 1,
      events: 1,
      error: null,
      complete: true,
      heldImageIds: null,
    });
    expect(finished?.finishedAt?.getTime()).toBeGreaterThanOrEqual(started.observedAt);

    // The next run sees the first one's image and its start as the latest complete listing.
    const next: RunRecord = { id: randomUUID(), scope, trigger: 'schedule' };
    const nextStarted = await store.startRun(next);
    await store.withRegion(scope, undefined, async (session) => {
      seen = await session.readKeys();
      expect(Object.fromEntries(await session.readStates(['m-a', 'm-none']))).toEqual({ 'm-a': a });
      expect(Object.fromEntries(await session.findElsewhere(['m-a']))).toEqual({});
      const held = { count: 1, total: 1, imageIds: ['m-a'] };
      await session.apply(
        next,
        nextStarted,
        { apiCalls: 1, pages: 1 },
        emptyPlan({ held, status: 'partial', reason: 'deletions held: 1 of 1 images', complete: true }),
      );
    });
    nextStarted.release();
    expect(seen).toEqual({
      stored: [
        { imageId: 'm-a', version: 1, deletedAt: null, observedAt: started.observedAt, hash: stateHash(a) },
      ],
      baseline: false,
      heldDeletions: [],
      lastCompleteAt: started.observedAt,
    });
    expect(await row(next.id)).toMatchObject({
      status: 'partial',
      heldImageIds: ['m-a'],
      error: 'deletions held: 1 of 1 images',
    });
  });

  it('writes only the run row of a superseded plan', async () => {
    const superseded = { ...scope, regionId: 'cn-superseded' };
    const run: RunRecord = { id: randomUUID(), scope: superseded, trigger: 'schedule' };
    const started = await store.startRun(run);
    const plan = emptyPlan({
      writes: [imageWrite(imageState('m-stale', { regionId: superseded.regionId }), 1)],
      status: 'superseded',
      reason: 'superseded: a complete listing that began later was committed first',
      counts: { imagesSeen: 1, created: 0, updated: 0, deleted: 0, events: 0 },
    });
    await store.withRegion(superseded, undefined, (session) =>
      session.apply(run, started, { apiCalls: 1, pages: 1 }, plan),
    );
    started.release();
    expect(await row(run.id)).toMatchObject({ status: 'superseded', complete: false, error: plan.reason });
    expect(
      (await database.pool.query('select 1 from custom_images where region_id = $1', [superseded.regionId]))
        .rows,
    ).toEqual([]);
  });

  it('leaves nothing but a running row when the work throws, which failRun then marks failed', async () => {
    const failing = { ...scope, regionId: 'cn-beijing' };
    const run: RunRecord = { id: randomUUID(), scope: failing, trigger: 'manual' };
    const started = await store.startRun(run);
    const error = await rejection(
      store.withRegion(failing, undefined, async (session) => {
        await session.apply(
          run,
          started,
          { apiCalls: 2, pages: 2 },
          emptyPlan({ writes: [imageWrite(imageState('m-boom', { regionId: failing.regionId }), 1)] }),
        );
        throw new Error('planner exploded');
      }),
    );
    started.release();
    expect((error as Error).message).toBe('planner exploded');
    expect((await row(run.id))?.status).toBe('running');
    expect(
      (await database.pool.query('select 1 from custom_images where region_id = $1', [failing.regionId]))
        .rows,
    ).toEqual([]);
    await store.failRun(run, { apiCalls: 2, pages: 2 }, 'planner exploded');
    expect(await row(run.id)).toMatchObject({
      status: 'failed',
      error: 'planner exploded',
      apiCalls: 2,
      complete: false,
    });
  });

  it('keeps a live run’s heartbeat fresh, so another process does not close it', async () => {
    const beating = createSyncStore(database, { ...options, heartbeatMs: 50 });
    const run: RunRecord = {
      id: randomUUID(),
      scope: { ...scope, regionId: 'cn-heartbeat' },
      trigger: 'schedule',
    };
    const started = await beating.startRun(run);
    try {
      await age(run.id, 60_000);
      await waitFor(
        'a heartbeat',
        async () => ((await row(run.id))?.heartbeatAt?.getTime() ?? 0) >= started.observedAt,
      );
      // Started a minute ago, older than the bound, but alive: another process leaves it running.
      expect(await runs.reapAbandoned({ staleAfterMs: 10_000 }, run.scope)).toBe(0);
      expect((await row(run.id))?.status).toBe('running');
    } finally {
      started.release();
    }
  });

  it('tells onHeartbeatError when a heartbeat fails, and the run goes on', async () => {
    const own = createDatabase(database.url, { max: 2, applicationName: 'swas-inventory-heartbeat-test' });
    const errors: unknown[] = [];
    const failing = createSyncStore(own, {
      ...options,
      heartbeatMs: 20,
      onHeartbeatError: (error) => errors.push(error),
    });
    const run: RunRecord = {
      id: randomUUID(),
      scope: { ...scope, regionId: 'cn-no-heartbeat' },
      trigger: 'schedule',
    };
    const started = await failing.startRun(run);
    await own.close();
    try {
      await waitFor('a failed heartbeat to be reported', () => errors.length > 0);
      expect(errors[0]).toBeInstanceOf(Error);
      expect((await row(run.id))?.status).toBe('running');
    } finally {
      started.release();
    }
  });

  it('waits boundedly for another process’s commit of the scope: db.lock_timeout, or the abort reason', async () => {
    const locked = { ...scope, regionId: 'cn-locked' };
    const impatient = createSyncStore(database, { ...options, lockTimeoutMs: 200 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let holding: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const holder = database.transaction(async (tx) => {
      await lockRegion(tx, locked, { timeoutMs: 1_000, clock: systemClock });
      holding();
      await gate;
    });
    await held;
    try {
      let ran = false;
      const timedOut = await rejection(
        impatient.withRegion(locked, undefined, async () => {
          ran = true;
        }),
      );
      expect(isAppError(timedOut) && timedOut.code).toBe('db.lock_timeout');
      expect(ran).toBe(false);

      const controller = new AbortController();
      const reason = new Error('interrupted');
      const waiting = store.withRegion(locked, controller.signal, async () => {
        ran = true;
      });
      controller.abort(reason);
      expect(await rejection(waiting)).toBe(reason);
      expect(ran).toBe(false);
    } finally {
      release();
      await holder;
    }
    await expect(store.withRegion(locked, undefined, async () => 'free')).resolves.toBe('free');
  });

  it('turns a connection lost mid-transaction into db.unreachable, writing nothing', async () => {
    const lost = { ...scope, regionId: 'cn-lost' };
    const applicationName = `swas-inventory-lost-${randomUUID().slice(0, 8)}`;
    const own = createDatabase(database.url, { max: 2, applicationName });
    const ownStore = createSyncStore(own, options);
    const killer = new pg.Client({ connectionString: database.url });
    await killer.connect();
    try {
      const run: RunRecord = { id: randomUUID(), scope: lost, trigger: 'schedule' };
      const started = await ownStore.startRun(run);
      const error = await rejection(
        ownStore.withRegion(lost, undefined, async (session) => {
          await session.apply(
            run,
            started,
            { apiCalls: 1, pages: 1 },
            emptyPlan({ writes: [imageWrite(imageState('m-lost', { regionId: lost.regionId }), 1)] }),
          );
          await killer.query(
            "select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1 and state like 'idle in transaction%'",
            [applicationName],
          );
          await session.readKeys();
        }),
      );
      started.release();
      expect(isAppError(error) && error.code).toBe('db.unreachable');
      expect(
        (await database.pool.query('select 1 from custom_images where region_id = $1', [lost.regionId])).rows,
      ).toEqual([]);
      expect((await row(run.id))?.status).toBe('running');
      // The store goes on working with a fresh connection.
      await ownStore.failRun(run, { apiCalls: 1, pages: 1 }, 'db.unreachable');
      expect((await row(run.id))?.status).toBe('failed');
    } finally {
      await killer.end();
      await own.close();
    }
  });
});
