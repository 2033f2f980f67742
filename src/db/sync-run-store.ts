import { and, desc, eq, type SQL, sql } from 'drizzle-orm';
import { AppError } from '../shared/app-error.ts';
import type { RunStatus, RunTrigger } from '../sync/model.ts';
import type { Db, DbOrTx } from './client.ts';
import { syncRuns } from './schema/index.ts';

export interface StartRunInput {
  /** UUID from the application's id source. */
  id: string;
  account: string;
  regionId: string;
  trigger: RunTrigger;
  /** Epoch ms. */
  startedAt: number;
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
  /** Epoch ms. */
  finishedAt: number;
  /** Why the run is partial or failed; null when it succeeded. */
  error: string | null;
  /**
   * True when the run applied a complete full listing (SPEC §5.2). It ends the scope's baseline
   * and makes the run the one whose held deletions the next sync reads. Never true for `failed`.
   */
  complete: boolean;
}

export interface FailRunInput {
  id: string;
  /** Epoch ms. */
  finishedAt: number;
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
  /** Inserts the run as `running`; commits on its own so the row is visible while the listing runs. */
  startRun(input: StartRunInput): Promise<void>;
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

const iso = (ms: number) => new Date(ms);

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
  return {
    async startRun(input) {
      await db.insert(syncRuns).values({
        id: input.id,
        account: input.account,
        regionId: input.regionId,
        trigger: input.trigger,
        status: 'running',
        startedAt: iso(input.startedAt),
      });
    },

    async finishRun(tx, input) {
      if (input.complete && input.status === 'failed') {
        throw new AppError('db.invalid_run', `run ${input.id}: a failed run cannot be complete`);
      }
      const updated = await tx
        .update(syncRuns)
        .set({
          status: input.status,
          finishedAt: iso(input.finishedAt),
          apiCalls: input.apiCalls,
          pages: input.pages,
          imagesSeen: input.imagesSeen,
          created: input.created,
          updated: input.updated,
          deleted: input.deleted,
          events: input.events,
          error: cleanErrorText(input.error),
          complete: input.complete,
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
          finishedAt: iso(input.finishedAt),
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
}
