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
  type PlanInput,
  type StoredImage,
  type SyncPlan,
} from './model.ts';
import { changedAttributes, compareText, sameState } from './state-changes.ts';

/** The deletion brake never engages below this many live images (SPEC glossary: "at least 10"). */
export const BRAKE_MIN_LIVE_IMAGES = 10;

/** The status code of `create_failed`: entering it raises `image.failed`. */
const FAILED_STATUS: ImageStatus = '3';

/** Attributes that raise their own events and therefore never appear in `image.updated`. */
const OWN_EVENT_ATTRIBUTES: ReadonlySet<ImageAttribute> = new Set(['status', 'inShare', 'inShareUser']);

type ImageChange =
  | { kind: 'created'; imageId: string; listed: ListedImage }
  | { kind: 'reappeared'; imageId: string; listed: ListedImage; stored: StoredImage }
  | { kind: 'changed'; imageId: string; listed: ListedImage; stored: StoredImage }
  | { kind: 'deleted'; imageId: string; stored: StoredImage };

/**
 * The diff of one scope (SPEC §5, §7): what to write and which events to raise for a listing over
 * the scope's stored images. Pure and deterministic: the same input (and id sequence) gives the
 * same plan.
 *
 * - A listed image with no row is created (version 1); one whose row is deleted reappears (next
 *   version, nothing to close); one whose state differs by {@link sameState} gets the next version
 *   and its current one closed; the rest only go to `unchangedIds`.
 * - An image listed twice (paging moved under us) counts once, with its last occurrence.
 * - Only a complete full listing deletes: live images it did not return, subject to the deletion
 *   brake. A watch listing touches only the images it returned.
 * - While `region.baseline` holds, every event is flagged baseline and changes raise nothing: an
 *   image arriving gets `image.created` only; deletions and held deletions are still reported.
 *   After it, an image arriving failed or shared also gets `image.failed` / `image.shared`.
 *
 * Output order is by image id (code units), and per image: created, updated, status_changed,
 * failed, shared/unshared (ecs before account), deleted; `sync.deletions_held` last. Event ids are
 * drawn from `input.newId` in that order. `unchangedIds` follows the order of `region.stored`.
 */
export function planSync(input: PlanInput): SyncPlan {
  const { scope, listing, region } = input;
  const { stored } = region;
  // One map over the stored rows and a parallel array of what the listing returned for each: on
  // the no-op path of a large region this is most of the work, so nothing else is keyed by id.
  const storedIndex = new Map<string, number>();
  for (let index = 0; index < stored.length; index++)
    storedIndex.set((stored[index] as StoredImage).state.imageId, index);
  const listedAt = new Array<ListedImage | undefined>(stored.length);
  const arrivals = new Map<string, ListedImage>();
  // An id listed twice (paging moved under us) keeps its last occurrence.
  for (const image of listing.images) {
    const index = storedIndex.get(image.state.imageId);
    if (index === undefined) arrivals.set(image.state.imageId, image);
    else listedAt[index] = image;
  }

  const changes: ImageChange[] = [];
  const unchangedIds: string[] = [];
  let imagesSeen = arrivals.size;
  for (let index = 0; index < stored.length; index++) {
    const listed = listedAt[index];
    if (listed === undefined) continue;
    imagesSeen++;
    const row = stored[index] as StoredImage;
    const imageId = row.state.imageId;
    if (row.deletedAt !== null) changes.push({ kind: 'reappeared', imageId, listed, stored: row });
    else if (sameState(row.state, listed.state)) unchangedIds.push(imageId);
    else changes.push({ kind: 'changed', imageId, listed, stored: row });
  }
  for (const [imageId, listed] of arrivals) changes.push({ kind: 'created', imageId, listed });

  const sweep =
    listing.kind === 'full' && listing.complete
      ? sweepDeletions(stored, listedAt, region.heldDeletions, input.deleteBrake)
      : { deleted: [], held: null };
  for (const row of sweep.deleted) changes.push({ kind: 'deleted', imageId: row.state.imageId, stored: row });
  changes.sort((a, b) => compareText(a.imageId, b.imageId));

  const plan: SyncPlan = {
    writes: [],
    unchangedIds,
    closeVersions: [],
    deletions: [],
    events: [],
    held: sweep.held,
    counts: { imagesSeen, created: 0, updated: 0, deleted: 0, events: 0 },
    status: (listing.kind === 'full' && !listing.complete) || sweep.held !== null ? 'partial' : 'succeeded',
  };

  const emit = <T extends EventType>(type: T, imageId: string | null, data: EventData<T>): void => {
    plan.events.push({
      id: input.newId(),
      type,
      imageId,
      occurredAt: input.now,
      baseline: region.baseline,
      data,
    });
  };
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
        plan.writes.push({ state: listed.state, raw: listed.raw, version, isNew });
        plan.counts.created++;
        const base = common(imageId, version, listed.raw);
        emit('image.created', imageId, isNew ? base : { ...base, reappeared: true });
        // A reappeared image is reported as arriving anew: its deletion was already announced.
        if (!region.baseline) emitArrival(emit, base, listed.state);
        break;
      }
      case 'changed': {
        const { imageId, listed, stored } = change;
        const version = stored.version + 1;
        plan.writes.push({ state: listed.state, raw: listed.raw, version, isNew: false });
        plan.closeVersions.push({ imageId, version: stored.version });
        plan.counts.updated++;
        if (!region.baseline)
          emitTransition(emit, common(imageId, version, listed.raw), stored.state, listed.state);
        break;
      }
      case 'deleted': {
        const { imageId, stored } = change;
        plan.deletions.push({ imageId, version: stored.version });
        plan.closeVersions.push({ imageId, version: stored.version });
        plan.counts.deleted++;
        emit('image.deleted', imageId, common(imageId, stored.version, toApiShape(stored.state)));
        break;
      }
      default:
        unreachable(change);
    }
  }

  if (sweep.held !== null) {
    emit('sync.deletions_held', null, {
      account: scope.account,
      regionId: scope.regionId,
      count: sweep.held.count,
      total: sweep.held.total,
      imageIds: [...sweep.held.imageIds],
    });
  }
  plan.counts.events = plan.events.length;
  return plan;
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
 * Live images a complete listing did not return, less those the brake holds (SPEC §5.4): ids held
 * by the previous complete listing and missing again are confirmed and deleted; if the other
 * missing ids exceed `deleteBrake` of the live images (with at least
 * {@link BRAKE_MIN_LIVE_IMAGES} live), they are held until the next complete listing.
 */
function sweepDeletions(
  stored: readonly StoredImage[],
  listedAt: readonly (ListedImage | undefined)[],
  heldBefore: readonly string[],
  deleteBrake: number,
): { deleted: StoredImage[]; held: SyncPlan['held'] } {
  const previouslyHeld = new Set(heldBefore);
  const confirmed: StoredImage[] = [];
  const fresh: StoredImage[] = [];
  let live = 0;
  for (let index = 0; index < stored.length; index++) {
    const image = stored[index] as StoredImage;
    if (image.deletedAt !== null) continue;
    live++;
    if (listedAt[index] !== undefined) continue;
    (previouslyHeld.has(image.state.imageId) ? confirmed : fresh).push(image);
  }
  // A share of 1 can never be exceeded, so a brake of 1 (or more) disables it.
  if (live >= BRAKE_MIN_LIVE_IMAGES && fresh.length > 0 && fresh.length / live > deleteBrake) {
    const imageIds = fresh.map((image) => image.state.imageId).sort(compareText);
    return { deleted: confirmed, held: { count: imageIds.length, total: live, imageIds } };
  }
  return { deleted: [...confirmed, ...fresh], held: null };
}

function unreachable(value: never): never {
  throw new AppError('internal.unreachable', `unhandled image change: ${JSON.stringify(value)}`);
}
