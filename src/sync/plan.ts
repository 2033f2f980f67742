import { AppError } from '../shared/app-error.ts';
import type { EventType } from '../shared/event-types.ts';
import {
  API_FIELD_NAMES,
  type ApiFieldName,
  type AttributeChange,
  type EventData,
  type ImageEventCommon,
  type ShareTarget,
  toApiShape,
} from './event-payloads.ts';
import {
  IMAGE_STATUSES,
  type ImageAttribute,
  type ImageState,
  type ImageStatus,
  type ListedImage,
  type Listing,
  type PlanInput,
  type RegionState,
  type RejectedItem,
  type StoredImage,
  type SyncPlan,
} from './model.ts';
import { changedAttributes, compareText, sameState } from './state-changes.ts';

/** The deletion brake never engages below this many live images (on a handful of images, one deletion is already a large share). */
export const BRAKE_MIN_LIVE_IMAGES = 10;

/** The status code of `create_failed`: entering it raises `image.failed`. */
const FAILED_STATUS: ImageStatus = '3';

/** Attributes that raise their own events and therefore never appear in `image.updated`. */
const OWN_EVENT_ATTRIBUTES: ReadonlySet<ImageAttribute> = new Set(['status', 'inShare', 'inShareUser']);

type ImageChange =
  | { kind: 'created'; imageId: string; listed: ListedImage }
  | { kind: 'reappeared'; imageId: string; listed: ListedImage; stored: StoredImage }
  | { kind: 'changed'; imageId: string; listed: ListedImage; stored: StoredImage; before: ImageState }
  | { kind: 'deleted'; imageId: string; stored: StoredImage; before: ImageState };

/** How each listed image and each live stored image fares, before any state is decoded. */
export interface Classification {
  superseded: boolean;
  created: ListedImage[];
  /** Listed images whose row must be compared in full (hash moved or missing). */
  compare: { listed: ListedImage; stored: StoredImage }[];
  reappeared: { listed: ListedImage; stored: StoredImage }[];
  /** Unchanged images (hash equal): what an incomplete listing records as observed. */
  unchanged: string[];
  /** Listed ids stored under another region: left out, still counted as listed. */
  foreign: { imageId: string; regionId: string }[];
  /** Live rows a complete full listing did not return and whose observation is older. */
  missing: StoredImage[];
  fenced: number;
  /** Images seen only as a hash whose row changed since: what was seen cannot be written. */
  unresolved: number;
  imagesSeen: number;
}

/**
 * The first half of the diff, on keys and hashes only: which stored images the plan needs in
 * full (those whose hash moved and those about to be deleted). The store decodes just these.
 */
export function statesNeeded(input: Omit<PlanInput, 'newId'>): string[] {
  return neededStates(classifyListing(input));
}

/**
 * The same from a classification already made ({@link classifyListing}): the caller then
 * attaches the states to those very `StoredImage` objects and passes the classification on.
 */
export function neededStates(classified: Classification): string[] {
  return [
    ...classified.compare.map((c) => c.stored.imageId),
    ...classified.missing.map((row) => row.imageId),
  ];
}

/** Listed ids that have no row in the scope: the store looks them up in the account's other regions. */
export function unknownListedIds(listing: Listing, stored: readonly StoredImage[]): string[] {
  // From the listed side: a listing that changed little makes a small set, whatever the region's size.
  const unknown = new Set<string>();
  for (const image of listing.images) unknown.add(image.state.imageId);
  if (unknown.size > 0) for (const row of stored) unknown.delete(row.imageId);
  return [...unknown];
}

/** Classifies once, for {@link neededStates} and then {@link planSync}, on keys and hashes only. */
export function classifyListing(input: Omit<PlanInput, 'newId'>): Classification {
  const { listing, region, observedAt } = input;
  const result: Classification = {
    superseded: region.lastCompleteAt !== null && observedAt <= region.lastCompleteAt,
    created: [],
    compare: [],
    reappeared: [],
    unchanged: [],
    foreign: [],
    missing: [],
    fenced: 0,
    unresolved: 0,
    imagesSeen: 0,
  };
  // An id listed twice (paging moved under us) keeps its last occurrence.
  const listedById = new Map<string, ListedImage>();
  for (const image of listing.images) listedById.set(image.state.imageId, image);
  // A listing keeps an id in `images` or in `seen`; should both hold it, the full copy counts.
  const seenById = listing.seen;
  let seenAlsoListed = 0;
  for (const imageId of listedById.keys()) if (seenById.has(imageId)) seenAlsoListed++;
  const rejectedIds = new Set<string>();
  for (const item of listing.rejected) if (item.imageId !== null) rejectedIds.add(item.imageId);
  result.imagesSeen = listedById.size + seenById.size - seenAlsoListed;
  for (const id of rejectedIds) if (!listedById.has(id) && !seenById.has(id)) result.imagesSeen++;
  // A newer complete listing observed every image of the scope: nothing of this one may land.
  if (result.superseded) return result;

  // One pass over the stored rows, looking each up in the listing: an unchanged region of 100,000
  // images costs two lookups a row and no map of its own.
  const deletes = listing.kind === 'full' && listing.complete;
  const listedStored = new Set<string>();
  let seenStored = 0;
  for (const row of region.stored) {
    const { imageId } = row;
    const listed = listedById.get(imageId);
    if (listed !== undefined) {
      listedStored.add(imageId);
      if (observedAt <= row.observedAt) result.fenced++;
      else if (row.deletedAt !== null) result.reappeared.push({ listed, stored: row });
      else if (row.hash !== null && row.hash === listed.hash) result.unchanged.push(imageId);
      else result.compare.push({ listed, stored: row });
      continue;
    }
    const hash = seenById.get(imageId);
    if (hash !== undefined) {
      seenStored++;
      if (observedAt <= row.observedAt) result.fenced++;
      else if (row.deletedAt === null && row.hash === hash) result.unchanged.push(imageId);
      else result.unresolved++;
      continue;
    }
    if (!deletes || row.deletedAt !== null || rejectedIds.has(imageId)) continue;
    if (observedAt <= row.observedAt) result.fenced++;
    else result.missing.push(row);
  }
  for (const [imageId, listed] of listedById) {
    if (listedStored.has(imageId)) continue;
    const elsewhere = region.elsewhere.get(imageId);
    if (elsewhere !== undefined) result.foreign.push({ imageId, regionId: elsewhere });
    // A watch poll reads ids the scope holds; one it does not hold is none of its business.
    else if (listing.kind === 'full') result.created.push(listed);
  }
  // Seen as a hash of a row that is gone since the listing began: nothing to compare it with.
  result.unresolved += seenById.size - seenAlsoListed - seenStored;
  return result;
}

/**
 * The diff of one scope: what to write and which events to raise for a listing over
 * the scope's stored images. Pure and deterministic: the same input (and id sequence) gives the
 * same plan. Stored images listed in {@link statesNeeded} must carry their `state`.
 *
 * - Fencing: a listing that began no later than the scope's latest complete listing is
 *   `superseded` and writes nothing. Otherwise it changes, re-creates or deletes an image only if
 *   it began after the row's own observation (`StoredImage.observedAt`); others count as fenced.
 * - A listed image with no row is created (version 1) — unless its id is stored under another
 *   region of the account, then it is rejected; one whose row is deleted reappears (next version);
 *   one whose hash differs and whose state differs by {@link sameState} gets the next version and
 *   its current one closed; an equal state with a stale hash only gets its hash rewritten.
 * - Only a complete full listing deletes: live images it did not return (rejected items with an id
 *   count as returned), subject to the deletion brake. A watch listing touches only what it
 *   returned. A listing that is not complete (watch polls included) records its observation of
 *   the unchanged images it returned (`touches`); a complete one is recorded by its start.
 * - While `region.baseline` holds (no complete listing yet), an image arriving gets a baseline
 *   `image.created` only; a change to an image already stored raises its events as after the
 *   baseline (earlier incomplete listings stored it, so the change is real), as does the
 *   deletion of one; held deletions are still reported. After the baseline, an image arriving
 *   failed or shared also gets `image.failed` / `image.shared`.
 *
 * Output order is by image id (code units), and per image: created, updated, status_changed,
 * failed, shared/unshared (ecs before account), deleted; `sync.deletions_held` last. Event ids are
 * drawn from `input.newId` in that order. Every instant written is `input.observedAt`.
 */
export function planSync(input: PlanInput, classified: Classification = classifyListing(input)): SyncPlan {
  const { scope, listing, region } = input;
  const rejected: RejectedItem[] = [
    ...listing.rejected,
    ...classified.foreign.map(({ imageId, regionId }) => ({
      imageId,
      page: 0,
      index: 0,
      field: 'ImageId',
      reason: `already stored under region ${regionId} of this account`,
    })),
  ];

  const plan: SyncPlan = {
    writes: [],
    touches: [],
    rehashes: [],
    closeVersions: [],
    deletions: [],
    events: [],
    held: null,
    counts: { imagesSeen: classified.imagesSeen, created: 0, updated: 0, deleted: 0, events: 0 },
    fenced: classified.fenced,
    unresolved: classified.unresolved,
    status: 'succeeded',
    complete: false,
    reason: null,
  };
  if (classified.superseded) {
    plan.status = 'superseded';
    plan.reason = `superseded: a complete listing that began later (${new Date(region.lastCompleteAt ?? 0).toISOString()}) was committed first`;
    return plan;
  }

  const changes: ImageChange[] = [];
  for (const listed of classified.created)
    changes.push({ kind: 'created', imageId: listed.state.imageId, listed });
  for (const { listed, stored } of classified.reappeared)
    changes.push({ kind: 'reappeared', imageId: stored.imageId, listed, stored });
  for (const { listed, stored } of classified.compare) {
    const before = stateOf(stored);
    if (sameState(before, listed.state)) plan.rehashes.push({ imageId: stored.imageId, hash: listed.hash });
    else changes.push({ kind: 'changed', imageId: stored.imageId, listed, stored, before });
  }

  const sweep = sweepDeletions(classified.missing, region, input.deleteBrake);
  for (const row of sweep.deleted)
    changes.push({ kind: 'deleted', imageId: row.imageId, stored: row, before: stateOf(row) });
  changes.sort((a, b) => compareText(a.imageId, b.imageId));
  plan.held = sweep.held;

  const emitAs =
    (baseline: boolean): Emit =>
    (type, imageId, data) => {
      plan.events.push({ id: input.newId(), type, imageId, occurredAt: input.observedAt, baseline, data });
    };
  const emit = emitAs(region.baseline);
  // A change to an image already stored is a real change even before the scope's first complete
  // listing (a region that never lists completely must still alert): never a baseline event.
  const emitChange = emitAs(false);
  const common = (imageId: string, version: number, image: Record<string, unknown>): ImageEventCommon => ({
    account: scope.account,
    regionId: scope.regionId,
    imageId,
    version,
    image,
  });

  for (const change of changes) {
    switch (change.kind) {
      case 'created':
      case 'reappeared': {
        const { imageId, listed } = change;
        const isNew = change.kind === 'created';
        const version = isNew ? 1 : change.stored.version + 1;
        plan.writes.push({ state: listed.state, raw: listed.raw, hash: listed.hash, version, isNew });
        plan.counts.created++;
        const base = common(imageId, version, listed.raw);
        emit('image.created', imageId, isNew ? base : { ...base, reappeared: true });
        // A reappeared image is reported as arriving anew: its deletion was already announced.
        if (!region.baseline) emitArrival(emit, base, listed.state);
        break;
      }
      case 'changed': {
        const { imageId, listed, stored, before } = change;
        const version = stored.version + 1;
        plan.writes.push({ state: listed.state, raw: listed.raw, hash: listed.hash, version, isNew: false });
        plan.closeVersions.push({ imageId, version: stored.version });
        plan.counts.updated++;
        emitTransition(emitChange, common(imageId, version, listed.raw), before, listed.state);
        break;
      }
      case 'deleted': {
        const { imageId, stored, before } = change;
        plan.deletions.push({ imageId, version: stored.version });
        plan.closeVersions.push({ imageId, version: stored.version });
        plan.counts.deleted++;
        emitChange('image.deleted', imageId, common(imageId, stored.version, toApiShape(before)));
        break;
      }
      default:
        unreachable(change);
    }
  }

  if (sweep.held !== null) {
    // Held deletions of stored images are an alert even on the listing that ends the baseline.
    emitChange('sync.deletions_held', null, {
      account: scope.account,
      regionId: scope.regionId,
      count: sweep.held.count,
      total: sweep.held.total,
      imageIds: [...sweep.held.imageIds],
    });
  }
  plan.counts.events = plan.events.length;
  plan.complete = listing.kind === 'full' && listing.complete && classified.unresolved === 0;
  // A complete listing's observation of what it saw unchanged is its start (lastCompleteAt);
  // any other run records it on the rows, or an older listing committed later could revert them.
  if (!plan.complete) {
    plan.touches = [...classified.unchanged, ...plan.rehashes.map((r) => r.imageId)].sort(compareText);
  }
  const reasons: string[] = [];
  if (classified.unresolved > 0) {
    reasons.push(
      `${classified.unresolved} image(s) changed by a concurrent sync while this listing ran were not applied; the next sync applies them`,
    );
  }
  if (rejected.length > 0) reasons.push(describeRejected(rejected));
  if (sweep.held) reasons.push(`deletions held: ${sweep.held.count} of ${sweep.held.total} images`);
  if (listing.kind === 'full' && !listing.complete) {
    reasons.push(
      `listing incomplete, deletions not applied: ${listing.incompleteReason ?? 'unknown reason'}`,
    );
  }
  if (reasons.length > 0) {
    plan.status = 'partial';
    plan.reason = reasons.join('; ');
  }
  return plan;
}

/** Rejected items shown in a run's error: enough to find them, bounded for a hostile listing. */
const REJECTED_SHOWN = 20;

/** `3 items rejected: m-1 (page 2 #5) RegionId: …; …`, naming each item, field and reason. */
export function describeRejected(rejected: readonly RejectedItem[]): string {
  const shown = rejected.slice(0, REJECTED_SHOWN).map((item) => {
    const where = item.page > 0 ? ` (page ${item.page} #${item.index})` : '';
    return `${item.imageId ?? 'item without a usable ImageId'}${where} ${item.field}: ${item.reason}`;
  });
  const more = rejected.length > REJECTED_SHOWN ? `; and ${rejected.length - REJECTED_SHOWN} more` : '';
  return `${rejected.length} item(s) rejected: ${shown.join('; ')}${more}`;
}

function stateOf(row: StoredImage): ImageState {
  if (row.state === undefined) {
    throw new AppError('internal.state_missing', `the stored state of ${row.imageId} was not read`);
  }
  return row.state;
}

type Emit = <T extends EventType>(type: T, imageId: string | null, data: EventData<T>) => void;

/** Events of an image first seen (or seen again) after the baseline, beyond `image.created`. */
function emitArrival(emit: Emit, base: ImageEventCommon, state: ImageState): void {
  if (state.status === FAILED_STATUS) emit('image.failed', base.imageId, { ...base, from: null });
  if (state.inShare) emit('image.shared', base.imageId, { ...base, target: 'ecs' });
  if (state.inShareUser) emit('image.shared', base.imageId, { ...base, target: 'account' });
}

/** Events of a known image whose state changed. */
function emitTransition(emit: Emit, base: ImageEventCommon, before: ImageState, after: ImageState): void {
  const { imageId } = base;
  const updated: Partial<Record<ApiFieldName, AttributeChange>> = {};
  let anyUpdated = false;
  for (const attribute of changedAttributes(before, after)) {
    if (OWN_EVENT_ATTRIBUTES.has(attribute)) continue;
    updated[API_FIELD_NAMES[attribute]] = { from: before[attribute], to: after[attribute] };
    anyUpdated = true;
  }
  if (anyUpdated) emit('image.updated', imageId, { ...base, changes: updated });

  if (before.status !== after.status) {
    emit('image.status_changed', imageId, {
      ...base,
      from: before.status,
      to: after.status,
      fromLabel: IMAGE_STATUSES[before.status],
      toLabel: IMAGE_STATUSES[after.status],
    });
    if (after.status === FAILED_STATUS) emit('image.failed', imageId, { ...base, from: before.status });
  }
  emitShareFlip(emit, base, 'ecs', before.inShare, after.inShare);
  emitShareFlip(emit, base, 'account', before.inShareUser, after.inShareUser);
}

function emitShareFlip(
  emit: Emit,
  base: ImageEventCommon,
  target: ShareTarget,
  before: boolean,
  after: boolean,
): void {
  if (before !== after) emit(after ? 'image.shared' : 'image.unshared', base.imageId, { ...base, target });
}

/**
 * Deletions of the live images a complete listing did not return, less those the brake holds:
 * ids held by the previous complete listing and missing again are confirmed and deleted; if the
 * other missing ids exceed `deleteBrake` of the live images the confirmed deletions leave (with
 * a region of at least {@link BRAKE_MIN_LIVE_IMAGES} live images), they are held until the next
 * complete listing.
 */
function sweepDeletions(
  missing: readonly StoredImage[],
  region: RegionState,
  deleteBrake: number,
): { deleted: StoredImage[]; held: SyncPlan['held'] } {
  if (missing.length === 0) return { deleted: [], held: null };
  const previouslyHeld = new Set(region.heldDeletions);
  const confirmed: StoredImage[] = [];
  const fresh: StoredImage[] = [];
  for (const row of missing) (previouslyHeld.has(row.imageId) ? confirmed : fresh).push(row);
  let live = 0;
  for (const row of region.stored) if (row.deletedAt === null) live++;
  // The share is of what the confirmed deletions leave: else a listing that confirms the held
  // ids could delete all the rest unbraked (20 live, 11 held, then an empty listing: 9 of 20).
  const left = live - confirmed.length;
  // A share of 1 can never be exceeded, so a brake of 1 (or more) disables it.
  if (live >= BRAKE_MIN_LIVE_IMAGES && fresh.length > 0 && fresh.length / left > deleteBrake) {
    const imageIds = fresh.map((row) => row.imageId).sort(compareText);
    return { deleted: confirmed, held: { count: imageIds.length, total: left, imageIds } };
  }
  return { deleted: [...confirmed, ...fresh], held: null };
}

function unreachable(value: never): never {
  throw new AppError('internal.unreachable', `unhandled image change: ${JSON.stringify(value)}`);
}
