import type { Queue } from 'bullmq';
import { CronExpressionParser } from 'cron-parser';
import type { Schedule } from '../config/schedule.ts';
import type { ScheduleStore } from '../db/schedule-store.ts';
import type { Logger } from '../observability/logger.ts';
import { errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { Scope } from '../sync/model.ts';
import { JOB_NAMES, type RegionJobData, regionDeduplicationId } from './queues.ts';

/** An account the worker syncs: its name and its regions (`all`: discovered with ListRegions). */
export interface PlannedAccount {
  name: string;
  regions: 'all' | readonly string[];
}

export interface SyncPlannerDeps {
  accounts: readonly PlannedAccount[];
  discoverRegions(account: string): Promise<string[]>;
  store: ScheduleStore;
  regionQueue: Queue;
  watchQueue: Queue;
  clock: Clock;
  logger: Logger;
  /** How long a discovered region list is reused, ms. */
  discoveryTtlMs?: number;
}

export interface SyncPlanner {
  /** The configured scopes (discovering `all` accounts); an account that cannot be listed is left out, logged. */
  scopes(): Promise<Scope[]>;
  /**
   * Enqueues a full sync of every configured scope that has not had one start within `horizonMs`
   * (0: every scope). Deduplicated per scope: one queued or running at most. Returns how many
   * scopes were asked for.
   */
  planFull(horizonMs: number): Promise<number>;
  /** Enqueues a watch poll of every configured scope holding transitional images. */
  planWatch(): Promise<number>;
}

/**
 * The planner pattern: one scheduler tick enqueues one deduplicated job per region, so many
 * replicas and a slow region never produce overlapping or piled-up syncs (PostgreSQL fencing
 * stays the last guard).
 */
/** True when `scope` is one of the accounts' regions (`all` takes any region of the account). */
export function isConfiguredScope(accounts: readonly PlannedAccount[], scope: Scope): boolean {
  return accounts.some(
    (account) =>
      account.name === scope.account &&
      (account.regions === 'all' || account.regions.includes(scope.regionId)),
  );
}

/** One job per scope, deduplicated per (kind, scope): one queued or running at most. */
async function enqueue(
  queue: Queue,
  name: string,
  kind: 'full' | 'watch',
  scopes: readonly Scope[],
): Promise<void> {
  if (scopes.length === 0) return;
  const trigger = kind === 'full' ? 'schedule' : 'watch';
  await queue.addBulk(
    scopes.map((scope) => ({
      name,
      data: { account: scope.account, regionId: scope.regionId, trigger } satisfies RegionJobData,
      opts: { deduplication: { id: regionDeduplicationId(kind, scope) } },
    })),
  );
}

export function createSyncPlanner(deps: SyncPlannerDeps): SyncPlanner {
  const log = deps.logger.child({ component: 'planner' });
  const ttl = deps.discoveryTtlMs ?? 10 * 60_000;
  const discovered = new Map<string, { regions: string[]; at: number }>();

  async function regionsOf(account: PlannedAccount): Promise<readonly string[]> {
    if (account.regions !== 'all') return account.regions;
    const cached = discovered.get(account.name);
    if (cached && deps.clock.now() - cached.at < ttl) return cached.regions;
    const regions = await deps.discoverRegions(account.name);
    discovered.set(account.name, { regions, at: deps.clock.now() });
    return regions;
  }

  async function scopes(): Promise<Scope[]> {
    const all: Scope[] = [];
    for (const account of deps.accounts) {
      try {
        for (const regionId of await regionsOf(account)) all.push({ account: account.name, regionId });
      } catch (error) {
        log.warn(
          { account: account.name, err: error },
          `could not list the regions of account ${account.name}: ${errorMessage(error)}`,
        );
      }
    }
    return all;
  }

  const key = (scope: Scope) => JSON.stringify([scope.account, scope.regionId]);

  return {
    scopes,
    async planFull(horizonMs) {
      const wanted = await scopes();
      const fresh =
        horizonMs > 0 ? new Set((await deps.store.recentlySynced(horizonMs)).map(key)) : new Set<string>();
      const due = interleaveAccounts(wanted.filter((scope) => !fresh.has(key(scope))));
      await enqueue(deps.regionQueue, JOB_NAMES.syncRegion, 'full', due);
      log.debug({ due: due.length, configured: wanted.length }, 'planned full syncs');
      return due.length;
    },
    async planWatch() {
      const watched = (await deps.store.scopesToWatch()).filter((scope) =>
        isConfiguredScope(deps.accounts, scope),
      );
      await enqueue(deps.watchQueue, JOB_NAMES.watchRegion, 'watch', watched);
      log.debug({ regions: watched.length }, 'planned watch polls');
      return watched.length;
    },
  };
}

/**
 * The scopes in turns: the first region of every account, then the second of every account, …
 * Jobs are taken in the order they were queued, so a 30-region account queued first does not
 * keep a 2-region account's syncs behind all of its own.
 */
export function interleaveAccounts(scopes: readonly Scope[]): Scope[] {
  const rank = new Map<string, number>();
  return scopes
    .map((scope, index) => {
      const turn = rank.get(scope.account) ?? 0;
      rank.set(scope.account, turn + 1);
      return { scope, turn, index };
    })
    .sort((a, b) => a.turn - b.turn || a.index - b.index)
    .map(({ scope }) => scope);
}

/**
 * The schedule's interval, ms: the interval itself, or for a cron the gap between its next two
 * firings after `now`. A region synced within it is not due.
 */
export function scheduleIntervalMs(schedule: Schedule, now: number): number {
  if (schedule.kind === 'interval') return schedule.everyMs;
  const cron = CronExpressionParser.parse(schedule.pattern, { tz: schedule.tz, currentDate: new Date(now) });
  const first = cron.next().getTime();
  const second = cron.next().getTime();
  return Math.max(1_000, second - first);
}
