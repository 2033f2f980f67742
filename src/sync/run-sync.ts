import { AppError, errorMessage, isAppError, numberDetail } from '../shared/app-error.ts';
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
    const startedRun = started;
    // Deletions are checked before they are written: ids a complete listing missed are read once
    // more by id, and only those the API no longer returns are deleted (see confirmDeletions).
    const confirmedGone = new Set<string>();
    let readBack = false;
    let replanned = false;
    let plan: SyncPlan | undefined;
    while (plan === undefined) {
      const heard = listing;
      const committing = deps.store.withRegion(request.scope, request.signal, async (session) => {
        // The snapshot has arrived by now: the listing waited for it.
        const keys = await session.readKeys(snapshot === undefined ? undefined : await snapshot);
        const elsewhere = await lookUpElsewhere(session, heard, keys);
        const region: RegionState = { ...keys, elsewhere };
        const loaded = new Set<string>();
        const planFor = async (read: Listing) => {
          const input = {
            scope: request.scope,
            listing: read,
            region,
            deleteBrake: request.deleteBrake,
            observedAt,
          };
          // One classification of a region's keys (100,000 of them, maybe) serves both steps.
          const classified = classifyListing(input);
          const needed = neededStates(classified).filter((id) => !loaded.has(id));
          if (needed.length > 0) {
            const states = await session.readStates(needed);
            for (const id of needed) loaded.add(id);
            for (const row of keys.stored) {
              const state = states.get(row.imageId);
              if (state !== undefined) row.state = state;
            }
          }
          return planSync({ ...input, newId: () => deps.ids.uuid() }, classified);
        };
        let computed = await planFor(heard);
        const unconfirmed = computed.deletions
          .map((deletion) => deletion.imageId)
          .filter((id) => !confirmedGone.has(id));
        // Nothing is written yet: the transaction ends empty while they are read by id.
        if (unconfirmed.length > 0 && !readBack) return { unconfirmed };
        if (unconfirmed.length > 0) {
          // Stored by a commit since the check (rare): this listing's word alone deletes nothing.
          computed = await planFor(
            withoutDeletions(heard, `${unconfirmed.length} deletion(s) not read back by id in time`),
          );
        }
        await session.apply(run, startedRun, { apiCalls: heard.apiCalls, pages: heard.pages }, computed);
        return { plan: computed };
      });
      let attempt: Awaited<typeof committing>;
      try {
        attempt = await committing;
      } catch (error) {
        // Regions hold locks of their own: another region of the account can store an id this
        // plan took for new between the plan's lookup and its insert. Planned once more, the id
        // is found stored elsewhere and left out like any such item.
        if (!replanned && isAppError(error) && error.code === 'db.plan_mismatch') {
          replanned = true;
          continue;
        }
        throw error;
      }
      if ('plan' in attempt) plan = attempt.plan;
      else {
        const confirmed = await confirmDeletions(
          deps.lister,
          request,
          heard,
          attempt.unconfirmed,
          confirmedGone,
        );
        listing = confirmed.listing;
        readBack = true;
        // Its calls are on the listing the failed run records.
        if (confirmed.aborted !== undefined) throw confirmed.aborted;
      }
    }
    const done = listing;
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

/** The listing as one that may not delete: its deletions wait for a later listing. */
const withoutDeletions = (listing: Listing, reason: string): Listing => ({
  ...listing,
  complete: false,
  incompleteReason: reason,
});

/**
 * Reads the images a complete listing would delete once more, by id (`ImageIds`, 100 a call), and
 * adds those the API no longer returns to `confirmedGone`. A listing can count right and still
 * miss an image: one image deleted and another created while it paged shift the pages by one
 * under a steady `TotalCount`. If any of them is still there, or the read fails, the listing
 * deletes nothing this time (its changes still apply); the next sync lists again. So does a read
 * that returns images not asked for (a server ignoring the filter would confirm anything).
 * Returns the listing with these calls counted, and the abort that ended the read, if one did.
 */
async function confirmDeletions(
  lister: ImageLister,
  request: RegionSyncRequest,
  listing: Listing,
  imageIds: readonly string[],
  confirmedGone: Set<string>,
): Promise<{ listing: Listing; aborted?: unknown }> {
  let read: Listing;
  try {
    read = await lister.listImagesByIds(request.scope.regionId, imageIds, request.signal);
  } catch (error) {
    const counted = {
      ...listing,
      apiCalls: listing.apiCalls + numberDetail(error, 'apiCalls'),
      pages: listing.pages + numberDetail(error, 'pages'),
    };
    if (request.signal?.aborted) return { listing: counted, aborted: error };
    return {
      listing: withoutDeletions(
        counted,
        `the images missing from the listing could not be read back by id (${describeError(error)}); no deletions this time`,
      ),
    };
  }
  const counted = {
    ...listing,
    apiCalls: listing.apiCalls + read.apiCalls,
    pages: listing.pages + read.pages,
  };
  const present = new Set([...read.images.map((image) => image.state.imageId), ...read.seen.keys()]);
  for (const item of read.rejected) if (item.imageId !== null) present.add(item.imageId);
  const asked = new Set(imageIds);
  const why = read.rejected.some((item) => item.imageId === null)
    ? 'an image read back by id had no usable ImageId'
    : [...present].some((id) => !asked.has(id))
      ? 'the read by id returned images not asked for (the ImageIds filter was not applied)'
      : imageIds.some((id) => present.has(id))
        ? `${imageIds.filter((id) => present.has(id)).length} image(s) missing from the listing are still there when read by id (the listing shifted while it was paged)`
        : undefined;
  if (why !== undefined) return { listing: withoutDeletions(counted, `${why}; no deletions this time`) };
  for (const id of imageIds) confirmedGone.add(id);
  return { listing: counted };
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
