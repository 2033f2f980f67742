import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rows } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';

// The parts of the reporting contract a sync seldom reaches in a test: held deletions and watch
// polls in current_images.last_seen_at, and runs left running, superseded or partial in
// sync_health. Rows are written directly, as the sync core writes them.

let sql: pg.Client;
let runNumber = 0;

interface RunFixture {
  region: string;
  status: 'running' | 'succeeded' | 'partial' | 'failed' | 'superseded';
  /** Seconds before now(). */
  startedAgo: number;
  trigger?: 'schedule' | 'watch' | 'manual';
  complete?: boolean;
  held?: string[];
  /** Seconds before now(); null for none. */
  heartbeatAgo?: number | null;
}

async function run(fixture: RunFixture): Promise<void> {
  runNumber += 1;
  const id = `00000000-0000-7000-8000-${String(runNumber).padStart(12, '0')}`;
  await sql.query(
    `insert into sync_runs (id, account, region_id, trigger, status, started_at, finished_at, complete,
                            held_image_ids, heartbeat_at, error)
     values ($1, 'fx', $2, $3, $4, now() - make_interval(secs => $5),
             case when $4 = 'running' then null else now() - make_interval(secs => $5) + interval '2 seconds' end,
             $6, $7, case when $8::float8 is null then null else now() - make_interval(secs => $8::float8) end,
             case when $4 = 'failed' then 'swas.unavailable: ServiceUnavailable' end)`,
    [
      id,
      fixture.region,
      fixture.trigger ?? 'schedule',
      fixture.status,
      fixture.startedAgo,
      fixture.complete ?? false,
      fixture.held ?? null,
      fixture.heartbeatAgo ?? null,
    ],
  );
}

async function image(
  region: string,
  imageId: string,
  lastSeenAgo: number,
  deletedAgo?: number,
): Promise<void> {
  await sql.query(
    `insert into custom_images (account, image_id, region_id, status, version, first_seen_at, last_seen_at,
                                deleted_at, raw)
     values ('fx', $1, $2, '1', 1, now() - interval '1 day', now() - make_interval(secs => $3),
             case when $4::float8 is null then null else now() - make_interval(secs => $4::float8) end,
             jsonb_build_object('ImageId', $1::text))`,
    [imageId, region, lastSeenAgo, deletedAgo ?? null],
  );
}

beforeAll(async () => {
  sql = new pg.Client({ connectionString: await createTestDatabase() });
  await sql.connect();
});
afterAll(async () => {
  await sql?.end();
});

describe('reporting.current_images.last_seen_at', () => {
  beforeAll(async () => {
    // r1: complete listings P (600 s ago) and L (300 s ago, holding the deletion of m-held), a
    // failed run between them, a watch poll after L that saw m-watched.
    await run({ region: 'r1', status: 'succeeded', startedAgo: 600, complete: true });
    await run({ region: 'r1', status: 'failed', startedAgo: 450 });
    await run({ region: 'r1', status: 'partial', startedAgo: 300, complete: true, held: ['m-held'] });
    await run({ region: 'r1', status: 'succeeded', startedAgo: 100, trigger: 'watch' });
    await image('r1', 'm-live', 900);
    await image('r1', 'm-held', 900);
    await image('r1', 'm-watched', 100);
    await image('r1', 'm-deleted', 900, 300);
    // r2: the only complete listing held a deletion, so nothing before it saw the held image.
    await run({ region: 'r2', status: 'partial', startedAgo: 200, complete: true, held: ['m-held-first'] });
    await image('r2', 'm-held-first', 900);
    // r3: no complete listing yet (a partial one that was not complete).
    await run({ region: 'r3', status: 'partial', startedAgo: 50 });
    await image('r3', 'm-unconfirmed', 50);
  });

  it('is the latest complete listing for listed images, the one before it for held ones, the stored time otherwise', async () => {
    const seen = await rows<{ image_id: string; seen_ago: number; stored_ago: number }>(
      sql,
      `select image_id, round(extract(epoch from now() - last_seen_at))::int as seen_ago,
              round(extract(epoch from now() - last_seen_stored_at))::int as stored_ago
         from reporting.current_images where account = 'fx' order by image_id`,
    );
    expect(seen).toEqual([
      { image_id: 'm-deleted', seen_ago: 900, stored_ago: 900 },
      { image_id: 'm-held', seen_ago: 600, stored_ago: 900 },
      { image_id: 'm-held-first', seen_ago: 900, stored_ago: 900 },
      { image_id: 'm-live', seen_ago: 300, stored_ago: 900 },
      { image_id: 'm-unconfirmed', seen_ago: 50, stored_ago: 50 },
      { image_id: 'm-watched', seen_ago: 100, stored_ago: 100 },
    ]);
  });
});

describe('reporting.sync_health', () => {
  beforeAll(async () => {
    // a run left running whose heartbeat stopped 120 s ago, after a success
    await run({ region: 'h-abandoned', status: 'succeeded', startedAgo: 900, complete: true });
    await run({ region: 'h-abandoned', status: 'running', startedAgo: 600, heartbeatAgo: 120 });
    // a run left running that never beat, started 5 minutes ago
    await run({ region: 'h-no-beat', status: 'succeeded', startedAgo: 900, complete: true });
    await run({ region: 'h-no-beat', status: 'running', startedAgo: 300, heartbeatAgo: null });
    // a live run (heartbeat 5 s ago) after a success
    await run({ region: 'h-live', status: 'succeeded', startedAgo: 900, complete: true });
    await run({ region: 'h-live', status: 'running', startedAgo: 30, heartbeatAgo: 5 });
    // a failure, then a superseded run: not a failure, and not complete
    await run({ region: 'h-superseded', status: 'succeeded', startedAgo: 900, complete: true });
    await run({ region: 'h-superseded', status: 'failed', startedAgo: 600 });
    await run({ region: 'h-superseded', status: 'superseded', startedAgo: 300 });
    // failures ended by a partial run
    await run({ region: 'h-partial', status: 'failed', startedAgo: 900 });
    await run({ region: 'h-partial', status: 'failed', startedAgo: 600 });
    await run({ region: 'h-partial', status: 'partial', startedAgo: 300 });
    // a failing full sync is not healed by a successful watch poll
    await run({ region: 'h-watch', status: 'succeeded', startedAgo: 900, complete: true });
    await run({ region: 'h-watch', status: 'failed', startedAgo: 600 });
    await run({ region: 'h-watch', status: 'succeeded', startedAgo: 60, trigger: 'watch' });
    // never succeeded
    await run({ region: 'h-never', status: 'failed', startedAgo: 900 });
    await run({ region: 'h-never', status: 'failed', startedAgo: 600 });
    await run({ region: 'h-never', status: 'failed', startedAgo: 300 });
    // the first sync is still running
    await run({ region: 'h-pending', status: 'running', startedAgo: 10, heartbeatAgo: 2 });
  });

  it('counts a run left running past its heartbeat bound as failed, and only full syncs', async () => {
    const health = await rows(
      sql,
      `select region_id, state, consecutive_failures, last_run_status, last_run_abandoned,
              round(extract(epoch from now() - last_complete_started_at))::int as complete_ago,
              round(staleness_seconds)::int as staleness
         from reporting.sync_health where account = 'fx' and region_id like 'h-%' order by region_id`,
    );
    expect(health).toEqual([
      {
        region_id: 'h-abandoned',
        state: 'failing',
        consecutive_failures: 1,
        last_run_status: 'failed',
        last_run_abandoned: true,
        complete_ago: 900,
        staleness: 900,
      },
      {
        region_id: 'h-live',
        state: 'ok',
        consecutive_failures: 0,
        last_run_status: 'running',
        last_run_abandoned: false,
        complete_ago: 900,
        staleness: 900,
      },
      {
        region_id: 'h-never',
        state: 'failing',
        consecutive_failures: 3,
        last_run_status: 'failed',
        last_run_abandoned: false,
        complete_ago: null,
        staleness: null,
      },
      {
        region_id: 'h-no-beat',
        state: 'failing',
        consecutive_failures: 1,
        last_run_status: 'failed',
        last_run_abandoned: true,
        complete_ago: 900,
        staleness: 900,
      },
      {
        region_id: 'h-partial',
        state: 'ok',
        consecutive_failures: 0,
        last_run_status: 'partial',
        last_run_abandoned: false,
        complete_ago: null,
        staleness: null,
      },
      {
        region_id: 'h-pending',
        state: 'pending',
        consecutive_failures: 0,
        last_run_status: 'running',
        last_run_abandoned: false,
        complete_ago: null,
        staleness: null,
      },
      {
        region_id: 'h-superseded',
        state: 'ok',
        consecutive_failures: 0,
        last_run_status: 'superseded',
        last_run_abandoned: false,
        complete_ago: 900,
        staleness: 900,
      },
      {
        region_id: 'h-watch',
        state: 'failing',
        consecutive_failures: 1,
        last_run_status: 'failed',
        last_run_abandoned: false,
        complete_ago: 900,
        staleness: 900,
      },
    ]);
  });
});
