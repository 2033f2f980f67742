import type { SQL } from 'drizzle-orm';
import { AppError } from '../shared/app-error.ts';
import type { RunStatus, RunTrigger } from '../sync/model.ts';
import type { Db, DbOrTx } from './client.ts';
import { and, desc, eq, sql } from './drizzle.ts';
import { syncRuns } from './schema/index.ts';

export interface StartRunInput {
  /** UUID from the application's id source. */
  id: string;
  account: string;
  regionId: string;
  trigger: RunTrigger;
}

/** When a `running` run counts as abandoned: its heartbeat is older than this (ms). */
export interface AbandonOptions {
  staleAfterMs: number;
}

export interface RunCounts {
  apiCalls: number;
  pages: number;
  imagesSeen: number;
  created: number;
  updated: number;
  deleted: number;
  events: number;
}

export interface FinishRunInput extends RunCounts {
  id: string;
  status: Exclude<RunStatus, 'running'>;
  /** Why the run is partial or failed; null when it succeeded. */
  error: string | null;
  /**
   * True when the run applied a complete full listing. It ends the scope's baseline
   * and makes the run the one whose held deletions the next sync reads. Never true for `failed`.
   */
  complete: boolean;
  /** Deletions the brake held (the next complete listing confirms them); empty when none. */
  heldImageIds?: readonly string[];
}

export interface FailRunInput {
  id: string;
  /** The cause, as text (never a secret). */
  error: string;
  /** API calls and pages spent before the failure, as far as they are known. */
  apiCalls?: number;
  pages?: number;
}

/** A `sync_runs` row with timestamps as epoch ms. */
export interface SyncRun extends RunCounts {
  id: string;
  account: string;
  regionId: string;
  trigger: RunTrigger;
  status: RunStatus;
  startedAt: number;
  finishedAt: number | null;
  error: string | null;
  complete: boolean;
}

export interface LatestRunsQuery {
  account?: string;
  regionId?: string;
  /** Only the newest run of each (account, region); default false (every run, newest first). */
  perScope?: boolean;
  /** Default 100. */
  limit?: number;
}

export interface SyncRunStore {
  /**
   * Closes the scope's abandoned runs ({@link reapAbandoned}), then inserts the run as `running`,
   * committed at once so the row is visible while the listing runs. Returns its `started_at`
   * (epoch ms): the database's clock, so every replica's runs are ordered by one clock.
   */
  startRun(input: StartRunInput, abandon: AbandonOptions): Promise<number>;
  /** Moves a running run's heartbeat to now; false when the run is no longer running. */
  heartbeat(id: string): Promise<boolean>;
  /**
   * Closes `running` runs whose heartbeat (or, lacking one, start) is older than their own
   * process's bound (`abandon` for a run that recorded none) as `failed` (abandoned: their
   * process died), for one scope or all. A live run is never closed,
   * however long it lists, because its process keeps its heartbeat fresh. Returns how many.
   */
  reapAbandoned(abandon: AbandonOptions, scope?: { account: string; regionId: string }): Promise<number>;
  /**
   * Finishes a `running` run with its outcome and counts, in the caller's transaction (the sync's,
   * so the row commits with the data). Throws `db.run_not_running` when the row is missing or
   * already finished.
   */
  finishRun(tx: DbOrTx, input: FinishRunInput): Promise<void>;
  /**
   * Marks a `running` run `failed` with the error text, outside any sync transaction (which
   * rolled back). Returns false, changing nothing, when the run is not `running`: a run that
   * committed is never turned into a failure afterwards.
   */
  failRun(input: FailRunInput, tx?: DbOrTx): Promise<boolean>;
  /** Runs newest first (by `started_at`); with `perScope`, the newest of each scope by account and region. */
  latestRuns(query?: LatestRunsQuery): Promise<SyncRun[]>;
}

/**
 * Error text as the `error` column can hold it: PostgreSQL text cannot contain NUL (a value the
 * failed listing or write may echo), and a run's error is a summary, not a dump.
 */
export function cleanErrorText(text: string | null): string | null {
  if (text === null) return null;
  const clean = text.replaceAll('\u0000', '\\0');
  return clean.length > 4_000 ? `${clean.slice(0, 4_000)}…` : clean;
}

export function createSyncRunStore(db: Db): SyncRunStore {
  const store: SyncRunStore = {
    async startRun(input, abandon) {
      await store.reapAbandoned(abandon, input);
      const [row] = await db
        .insert(syncRuns)
        .values({
          id: input.id,
          account: input.account,
          regionId: input.regionId,
          trigger: input.trigger,
          status: 'running',
          // ms precision, as the column keeps it, so the instant returned is the one stored.
          startedAt: sql`date_trunc('milliseconds', clock_timestamp())`,
          heartbeatAt: sql`clock_timestamp()`,
          // The reporting views judge a silent run by its own process's bound, whatever others use.
          abandonAfterMs: Math.round(abandon.staleAfterMs),
        })
        .returning({ startedAt: syncRuns.startedAt });
      if (!row) throw new AppError('db.query', `sync run ${input.id} was not inserted`);
      return row.startedAt.getTime();
    },

    async heartbeat(id) {
      const updated = await db
        .update(syncRuns)
        .set({ heartbeatAt: sql`clock_timestamp()` })
        .where(and(eq(syncRuns.id, id), eq(syncRuns.status, 'running')))
        .returning({ id: syncRuns.id });
      return updated.length === 1;
    },

    async reapAbandoned(abandon, scope) {
      // A run is judged by its own process's bound: while replicas roll to a longer heartbeat, one
      // still on the shorter must not close the others' live runs.
      const stale = sql`coalesce(${syncRuns.heartbeatAt}, ${syncRuns.startedAt}) < clock_timestamp() - make_interval(secs => coalesce(${syncRuns.abandonAfterMs}, ${abandon.staleAfterMs}) / 1000.0)`;
      const reaped = await db
        .update(syncRuns)
        .set({
          status: 'failed',
          finishedAt: sql`greatest(clock_timestamp(), ${syncRuns.startedAt})`,
          complete: false,
          error: sql`'abandoned: its process stopped without finishing it (no heartbeat since ' || to_char(coalesce(${syncRuns.heartbeatAt}, ${syncRuns.startedAt}) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') || ')'`,
        })
        .where(
          and(
            eq(syncRuns.status, 'running'),
            stale,
            ...(scope === undefined
              ? []
              : [eq(syncRuns.account, scope.account), eq(syncRuns.regionId, scope.regionId)]),
          ),
        )
        .returning({ id: syncRuns.id });
      return reaped.length;
    },

    async finishRun(tx, input) {
      if (input.complete && input.status === 'failed') {
        throw new AppError('db.invalid_run', `run ${input.id}: a failed run cannot be complete`);
      }
      const updated = await tx
        .update(syncRuns)
        .set({
          status: input.status,
          // The database's clock, like started_at, so a run's duration is measured on one clock.
          finishedAt: sql`greatest(clock_timestamp(), ${syncRuns.startedAt})`,
          apiCalls: input.apiCalls,
          pages: input.pages,
          imagesSeen: input.imagesSeen,
          created: input.created,
          updated: input.updated,
          deleted: input.deleted,
          events: input.events,
          error: cleanErrorText(input.error),
          complete: input.complete,
          heldImageIds: input.heldImageIds && input.heldImageIds.length > 0 ? [...input.heldImageIds] : null,
        })
        .where(and(eq(syncRuns.id, input.id), eq(syncRuns.status, 'running')))
        .returning({ id: syncRuns.id });
      if (updated.length !== 1) {
        throw new AppError(
          'db.run_not_running',
          `sync run ${input.id} is not running (missing or already finished)`,
          {
            details: { runId: input.id },
          },
        );
      }
    },

    async failRun(input, tx = db) {
      const updated = await tx
        .update(syncRuns)
        .set({
          status: 'failed',
          finishedAt: sql`greatest(clock_timestamp(), ${syncRuns.startedAt})`,
          error: cleanErrorText(input.error),
          complete: false,
          ...(input.apiCalls === undefined ? {} : { apiCalls: input.apiCalls }),
          ...(input.pages === undefined ? {} : { pages: input.pages }),
        })
        .where(and(eq(syncRuns.id, input.id), eq(syncRuns.status, 'running')))
        .returning({ id: syncRuns.id });
      return updated.length === 1;
    },

    async latestRuns(query = {}) {
      const filters: SQL[] = [];
      if (query.account !== undefined) filters.push(eq(syncRuns.account, query.account));
      if (query.regionId !== undefined) filters.push(eq(syncRuns.regionId, query.regionId));
      const limit = query.limit ?? 100;
      const rows = query.perScope
        ? await db
            .selectDistinctOn([syncRuns.account, syncRuns.regionId])
            .from(syncRuns)
            .where(and(...filters))
            .orderBy(syncRuns.account, syncRuns.regionId, desc(syncRuns.startedAt))
            .limit(limit)
        : await db
            .select()
            .from(syncRuns)
            .where(and(...filters))
            .orderBy(desc(syncRuns.startedAt), sql`${syncRuns.id} desc`)
            .limit(limit);
      return rows.map((row) => ({
        ...row,
        startedAt: row.startedAt.getTime(),
        finishedAt: row.finishedAt === null ? null : row.finishedAt.getTime(),
      }));
    },
  };
  return store;
}
