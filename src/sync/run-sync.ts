import { AppError, errorMessage, numberDetail } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { IdSource } from '../shared/ids.ts';
import type {
  ImageState,
  KnownHashes,
  Listing,
  PlannedEvent,
  RegionState,
  RunStatus,
  RunTrigger,
  Scope,
  StoredImage,
  SyncPlan,
} from './model.ts';
import { classifyListing, neededStates, planSync, unknownListedIds } from './plan.ts';

/** Reads a scope's images from the API (the SWAS client implements it). */
export interface ImageLister {
  /** `known` may still be reading: the listing awaits it when its first page arrives. */
  listAllImages(
    regionId: string,
    signal?: AbortSignal,
    known?: KnownHashes | Promise<KnownHashes>,
  ): Promise<Listing>;
  listImagesByIds(regionId: string, imageIds: readonly string[], signal?: AbortSignal): Promise<Listing>;
}

export interface RunRecord {
  id: string;
  scope: Scope;
  trigger: RunTrigger;
}

/** A run the store has started: its observation instant, and its heartbeat to stop when it ends. */
export interface StartedRun {
  /** Epoch ms, from the database's clock: when the run (and its listing) began. */
  observedAt: number;
  /** Stops the run's heartbeat (the row then ages into "abandoned" unless finished). */
  release(): void;
}

export interface RunOutcome {
  apiCalls: number;
  pages: number;
}

/** The keys of a scope's stored images and what fences them, read at commit. */
export type RegionKeys = Omit<RegionState, 'elsewhere'>;

/** A scope's image keys read before listing, with the write generation they belong to. */
export interface RegionSnapshot {
  /** Commits that had written the scope's image rows when the keys were read. */
  generation: number;
  stored: StoredImage[];
  /** The live images' hashes, for the listing (see {@link KnownHashes}). */
  known: KnownHashes;
}

/** A scope's commit transaction, holding the scope's lock (the db layer implements it). */
export interface RegionSession {
  /**
   * Every image row of the scope as keys (no states), plus baseline, held ids and lastCompleteAt;
   * the image keys are those of `snapshot` when no commit wrote the scope since it was read.
   */
  readKeys(snapshot?: RegionSnapshot): Promise<RegionKeys>;
  /** Full states of these images of the scope. */
  readStates(imageIds: readonly string[]): Promise<Map<string, ImageState>>;
  /** Of these ids, those stored under another region of the account → that region. */
  findElsewhere(imageIds: readonly string[]): Promise<Map<string, string>>;
  /** Writes the plan and finishes the run row with its outcome, in this transaction. */
  apply(run: RunRecord, started: StartedRun, outcome: RunOutcome, plan: SyncPlan): Promise<void>;
}

/** The database side of a sync (the db layer implements it). */
export interface SyncStore {
  /**
   * Closes the scope's abandoned runs (no heartbeat within the bound), then inserts this run's row
   * `running`, committed at once, and starts its heartbeat.
   */
  startRun(run: RunRecord): Promise<StartedRun>;
  /**
   * Runs `work` in ONE transaction holding the scope's lock (waiting for it boundedly, abortably);
   * an error rolls everything back and is rethrown.
   */
  withRegion<T>(
    scope: Scope,
    signal: AbortSignal | undefined,
    work: (session: RegionSession) => Promise<T>,
  ): Promise<T>;
  /** Finishes the run row as `failed` with the error text; writes nothing else. */
  failRun(run: RunRecord, outcome: RunOutcome, error: string): Promise<void>;
  /** The scope's image keys now, outside any lock, with their write generation. */
  readSnapshot(scope: Scope): Promise<RegionSnapshot>;
}

export interface RunSyncDeps {
  lister: ImageLister;
  store: SyncStore;
  clock: Clock;
  ids: IdSource;
}

export interface RegionSyncRequest {
  scope: Scope;
  trigger: RunTrigger;
  /** A watch poll re-reads these ids only and never deletes. */
  watchImageIds?: readonly string[];
  /** Share of a region above which deletions are held (SYNC_DELETE_BRAKE). */
  deleteBrake: number;
  signal?: AbortSignal;
}

export interface RegionSyncResult {
  runId: string;
  scope: Scope;
  status: Exclude<RunStatus, 'running'>;
  apiCalls: number;
  pages: number;
  counts: SyncPlan['counts'];
  durationMs: number;
  /** Why the run failed, is partial or was superseded. */
  error?: string;
  errorCode?: string;
  /** For a failed run: whether trying again later may succeed (the error's own verdict). */
  retryable?: boolean;
  /** The events the run committed, by type and baseline flag (absent when it committed none). */
  eventsByType?: EventCount[];
}

export interface EventCount {
  type: string;
  baseline: boolean;
  count: number;
}

function countEvents(events: readonly PlannedEvent[]): EventCount[] {
  const counts = new Map<string, EventCount>();
  for (const event of events) {
    const key = `${event.type}\n${event.baseline}`;
    const entry = counts.get(key) ?? { type: event.type, baseline: event.baseline, count: 0 };
    entry.count++;
    counts.set(key, entry);
  }
  return [...counts.values()];
}

const NO_COUNTS: SyncPlan['counts'] = { imagesSeen: 0, created: 0, updated: 0, deleted: 0, events: 0 };

/**
 * One region sync: record the run, list, then diff and write in one transaction under
 * the scope's lock. Any failure leaves the data as it was and records only the run's `failed` row
 * with the cause. Never throws for a failed sync (a database that cannot even record the failure
 * included): the result says what happened.
 */
export async function runRegionSync(
  deps: RunSyncDeps,
  request: RegionSyncRequest,
): Promise<RegionSyncResult> {
  const run: RunRecord = { id: deps.ids.uuid(), scope: request.scope, trigger: request.trigger };
  const began = deps.clock.now();
  let started: StartedRun | undefined;
  let listing: Listing | undefined;
  try {
    started = await deps.store.startRun(run);
    const observedAt = started.observedAt;
    let snapshot: Promise<RegionSnapshot> | undefined;
    if (request.watchImageIds === undefined) {
      // Images still as stored when the sync began are kept as ids and hashes only while listing.
      // The snapshot is read while the first page is fetched; a failed read fails the listing.
      snapshot = deps.store.readSnapshot(request.scope);
      const known = snapshot.then((read) => read.known);
      known.catch(() => undefined);
      listing = await deps.lister.listAllImages(request.scope.regionId, request.signal, known);
    } else {
      listing = await deps.lister.listImagesByIds(
        request.scope.regionId,
        request.watchImageIds,
        request.signal,
      );
    }
    const done = listing;
    const outcome: RunOutcome = { apiCalls: done.apiCalls, pages: done.pages };
    const startedRun = started;
    const plan = await deps.store.withRegion(request.scope, request.signal, async (session) => {
      // The snapshot has arrived by now: the listing waited for it.
      const keys = await session.readKeys(snapshot === undefined ? undefined : await snapshot);
      const elsewhere = await lookUpElsewhere(session, done, keys);
      const region: RegionState = { ...keys, elsewhere };
      const input = {
        scope: request.scope,
        listing: done,
        region,
        deleteBrake: request.deleteBrake,
        observedAt,
      };
      // One classification of a region's keys (100,000 of them, maybe) serves both steps.
      const classified = classifyListing(input);
      const needed = neededStates(classified);
      if (needed.length > 0) {
        const states = await session.readStates(needed);
        for (const row of keys.stored) {
          const state = states.get(row.imageId);
          if (state !== undefined) row.state = state;
        }
      }
      const computed = planSync({ ...input, newId: () => deps.ids.uuid() }, classified);
      await session.apply(run, startedRun, outcome, computed);
      return computed;
    });
    return {
      runId: run.id,
      scope: run.scope,
      status: plan.status,
      apiCalls: done.apiCalls,
      pages: done.pages,
      counts: plan.counts,
      durationMs: deps.clock.now() - began,
      ...(plan.reason === null ? {} : { error: plan.reason }),
      // A superseded run writes nothing but its row.
      ...(plan.status === 'superseded' || plan.events.length === 0
        ? {}
        : { eventsByType: countEvents(plan.events) }),
    };
  } catch (error) {
    const apiCalls = listing?.apiCalls ?? numberDetail(error, 'apiCalls');
    const pages = listing?.pages ?? numberDetail(error, 'pages');
    let message = describeError(error);
    if (started !== undefined) {
      try {
        await deps.store.failRun(run, { apiCalls, pages }, message);
      } catch (recordError) {
        // The database may be what failed: the run row is then closed as abandoned later.
        message = `${message} (the failure could not be recorded: ${describeError(recordError)})`;
      }
    }
    return {
      runId: run.id,
      scope: run.scope,
      status: 'failed',
      apiCalls,
      pages,
      counts: NO_COUNTS,
      durationMs: deps.clock.now() - began,
      error: message,
      ...(error instanceof AppError ? { errorCode: error.code, retryable: error.retryable } : {}),
    };
  } finally {
    started?.release();
  }
}

/** Listed ids the scope does not hold, looked up in the account's other regions (full listings only). */
async function lookUpElsewhere(
  session: RegionSession,
  listing: Listing,
  keys: RegionKeys,
): Promise<ReadonlyMap<string, string>> {
  if (listing.kind !== 'full') return new Map();
  const unknown = unknownListedIds(listing, keys.stored);
  return unknown.length === 0 ? new Map() : session.findElsewhere(unknown);
}

function describeError(error: unknown): string {
  return error instanceof AppError ? `${error.code}: ${error.message}` : errorMessage(error);
}

/**
 * Runs `work` over `items` with at most `concurrency` in flight, results in input order.
 * (SYNC_CONCURRENCY bounds region syncs in flight per process.)
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const lanes = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  });
  await Promise.all(lanes);
  return results;
}
