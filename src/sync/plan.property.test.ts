import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { imageState, listedImage, planLikeStore } from '../../test/support/image-states.ts';
import { toApiShape } from './event-payloads.ts';
import {
  IMAGE_STATUSES,
  type ImageState,
  type ImageStatus,
  type ImageTag,
  type ListedImage,
  type Listing,
  type PlannedEvent,
  type RegionState,
  type RejectedItem,
  type StoredImage,
  type SyncPlan,
} from './model.ts';
import { stateHash } from './state-hash.ts';

/**
 * Any sequence of listings of one scope, committed in any order against the tables the previous
 * commits wrote (an in-memory model of `custom_images`, `custom_image_versions`, `image_events`
 * and the scope's run rows), yields history and events consistent with what was listed.
 *
 * The cloud is a timeline of snapshots; snapshot i holds from instant T(i). Each listing observes
 * one snapshot (a full listing, complete or not, or a watch poll of some ids; some items rejected)
 * and is committed in generated order, so an older listing often commits after a newer one. The
 * expectations are computed here from the listings alone, without `state-changes.ts`.
 */

const SCOPE = { account: 'acme', regionId: 'cn-hangzhou' };
const START = Date.UTC(2026, 0, 1);
const STEP_MS = 60_000;
const BRAKE_MIN = 10;

// 12 ids: enough for regions above the brake's minimum of 10 live images.
const IDS = Array.from({ length: 12 }, (_, index) => `m-${String(index).padStart(2, '0')}`);
const STATUSES = Object.keys(IMAGE_STATUSES) as ImageStatus[];
const TAG_SETS: ImageTag[][] = [
  [],
  [{ Key: 'env', Value: 'prod' }],
  [
    { Key: 'env', Value: 'prod' },
    { Key: 'team', Value: 'core' },
  ],
  [
    { Key: 'env', Value: 'dev' },
    { Key: 'team', Value: 'core' },
  ],
];
const INSTANCE_SETS = [[], ['i-1'], ['i-1', 'i-2']];

interface Variant {
  status: ImageStatus;
  inShare: boolean;
  inShareUser: boolean;
  name: string | null;
  tags: number;
  instances: number;
  disk: number;
}

// Few values per attribute, so that a change and its undo are common.
const variantArb: fc.Arbitrary<Variant> = fc.record({
  status: fc.constantFrom(...STATUSES),
  inShare: fc.boolean(),
  inShareUser: fc.boolean(),
  name: fc.constantFrom('web', null),
  tags: fc.integer({ min: 0, max: TAG_SETS.length - 1 }),
  instances: fc.integer({ min: 0, max: INSTANCE_SETS.length - 1 }),
  disk: fc.constantFrom(0, 20),
});

const DEFAULT_VARIANT: Variant = {
  status: '1',
  inShare: false,
  inShareUser: false,
  name: 'web',
  tags: 1,
  instances: 0,
  disk: 0,
};

/**
 * Per id, from one snapshot to the next: unchanged, gone, a (maybe equal) state, or back to what
 * it was the snapshot before (a change and its undo, a deletion and a reappearance).
 */
type Move = 'same' | 'gone' | 'back' | Variant;
const moveArb: fc.Arbitrary<Move> = fc.oneof(
  { weight: 4, arbitrary: fc.constant<Move>('same') },
  { weight: 2, arbitrary: fc.constant<Move>('back') },
  { weight: 1, arbitrary: fc.constant<Move>('gone') },
  { weight: 2, arbitrary: variantArb },
);
const snapshotMovesArb = fc.array(moveArb, { minLength: IDS.length, maxLength: IDS.length });

/** How one item of a listing fares: listed, left out by the listing side, or rejected. */
type ItemFate = 'listed' | 'omitted' | 'rejected' | 'rejected-without-id';
const fateArb = fc.oneof(
  { weight: 12, arbitrary: fc.constant<ItemFate>('listed') },
  { weight: 2, arbitrary: fc.constant<ItemFate>('omitted') },
  { weight: 1, arbitrary: fc.constant<ItemFate>('rejected') },
  { weight: 1, arbitrary: fc.constant<ItemFate>('rejected-without-id') },
);

interface ListingSpec {
  /** The snapshot it observes (clamped to those generated). */
  snapshot: number;
  kind: 'full' | 'watch';
  /** A full listing the listing side found complete (before any item without a usable id). */
  complete: boolean;
  fates: ItemFate[];
  reorder: boolean;
  /**
   * A full listing given the hashes the scope stored when it began (this many commits ago): items
   * with those hashes come back as ids and hashes only.
   */
  known: number | null;
}

const listingSpecArb: fc.Arbitrary<ListingSpec> = fc.record({
  snapshot: fc.nat(7),
  kind: fc.constantFrom<ListingSpec['kind']>('full', 'full', 'watch'),
  complete: fc.constantFrom(true, true, false),
  fates: fc.array(fateArb, { minLength: IDS.length, maxLength: IDS.length }),
  reorder: fc.boolean(),
  known: fc.option(fc.nat(2), { freq: 2 }),
});

const scenarioArb = fc.record({
  moves: fc.array(snapshotMovesArb, { minLength: 1, maxLength: 6 }),
  listings: fc.array(listingSpecArb, { minLength: 1, maxLength: 10 }),
  deleteBrake: fc.constantFrom(0.3, 0.5, 1),
  /** Rows of snapshot 0 written by a version that stored no hash, before the scope's baseline ended. */
  legacyRows: fc.boolean(),
});
type Scenario = typeof scenarioArb extends fc.Arbitrary<infer S> ? S : never;

function stateOf(imageId: string, variant: Variant): ImageState {
  return imageState(imageId, {
    regionId: SCOPE.regionId,
    name: variant.name,
    status: variant.status,
    inShare: variant.inShare,
    inShareUser: variant.inShareUser,
    requiredDataDiskSize: variant.disk,
    tags: structuredClone(TAG_SETS[variant.tags] ?? []),
    createInstances: [...(INSTANCE_SETS[variant.instances] ?? [])],
  });
}

type Cloud = Map<string, ImageState>;

/** The cloud at each snapshot. */
function cloudsOf(moves: Move[][]): Cloud[] {
  const clouds: Cloud[] = [];
  let previous: Cloud = new Map();
  moves.forEach((snapshot, index) => {
    const cloud: Cloud = new Map();
    const twoBack = clouds[index - 2];
    IDS.forEach((imageId, position) => {
      const move = snapshot[position] ?? 'same';
      if (move === 'gone') return;
      if (move === 'back' && twoBack !== undefined) {
        const earlier = twoBack.get(imageId);
        if (earlier) cloud.set(imageId, structuredClone(earlier));
        return;
      }
      if (move === 'same' || move === 'back') {
        const before = previous.get(imageId);
        if (before) cloud.set(imageId, structuredClone(before));
        else if (index === 0) cloud.set(imageId, stateOf(imageId, DEFAULT_VARIANT));
        return;
      }
      cloud.set(imageId, stateOf(imageId, move));
    });
    clouds.push(cloud);
    previous = cloud;
  });
  return clouds;
}

/** The oracle's notion of "same version": field by field, lists as sorted multisets. */
function normalised(state: ImageState): Record<string, unknown> {
  const tags = state.tags.map((tag) => `${tag.Key}=${tag.Value}`).sort();
  return { ...state, tags, createInstances: state.createInstances.toSorted() };
}
const canonical = (state: ImageState): string => JSON.stringify(normalised(state));

/** The attributes the generator varies that belong in `image.updated`, with their API field names. */
const UPDATED_FIELDS: [keyof ImageState, string][] = [
  ['name', 'Name'],
  ['requiredDataDiskSize', 'RequiredDataDiskSize'],
  ['tags', 'Tags'],
  ['createInstances', 'CreateInstances'],
];

// ---- the tables -------------------------------------------------------------------------------

interface VersionRow {
  imageId: string;
  version: number;
  state: ImageState;
  validFrom: number;
  validTo: number | null;
}

/** A `custom_images` row: the keys the sync reads, and the state the store decodes on demand. */
type Row = StoredImage & { state: ImageState };

interface Tables {
  rows: Map<string, Row>;
  versions: VersionRow[];
  events: PlannedEvent[];
  baseline: boolean;
  heldDeletions: string[];
  lastCompleteAt: number | null;
}

function initialTables(scenario: Scenario, clouds: Cloud[]): Tables {
  const tables: Tables = {
    rows: new Map(),
    versions: [],
    events: [],
    baseline: true,
    heldDeletions: [],
    lastCompleteAt: null,
  };
  if (!scenario.legacyRows) return tables;
  // Written before the first listing began, by a version that stored no hash.
  for (const [imageId, state] of clouds[0] ?? []) {
    tables.rows.set(imageId, { imageId, version: 1, deletedAt: null, observedAt: START, hash: null, state });
    tables.versions.push({ imageId, version: 1, state, validFrom: START, validTo: null });
  }
  return tables;
}

const regionOf = (tables: Tables): RegionState => ({
  stored: [...tables.rows.values()].map((row) => ({ ...row })),
  baseline: tables.baseline,
  heldDeletions: [...tables.heldDeletions],
  lastCompleteAt: tables.lastCompleteAt,
  elsewhere: new Map(),
});

/** A listing of the snapshot as the listing side would return it. */
function listingOf(
  spec: ListingSpec,
  cloud: Cloud,
  snapshot: number,
  known?: ReadonlyMap<string, string>,
): Listing {
  const images: ListedImage[] = [];
  const seen = new Map<string, string>();
  const rejected: RejectedItem[] = [];
  let withoutId = false;
  let omitted = false;
  IDS.forEach((imageId, index) => {
    const listedState = cloud.get(imageId);
    if (listedState === undefined) return;
    const fate = spec.fates[index] ?? 'listed';
    const state = structuredClone(listedState);
    if (spec.reorder) {
      state.tags.reverse();
      state.createInstances.reverse();
    }
    switch (fate) {
      case 'listed': {
        const image = listedImage(state, { ...toApiShape(state), Unmodelled: `${imageId}@${snapshot}` });
        if (spec.kind === 'full' && known?.get(imageId) === image.hash) seen.set(imageId, image.hash);
        else images.push(image);
        break;
      }
      case 'omitted':
        omitted = true;
        break;
      case 'rejected':
        rejected.push({
          imageId,
          page: 1,
          index,
          field: 'RegionId',
          reason: 'listed in cn-hangzhou but says cn-beijing',
        });
        break;
      case 'rejected-without-id':
        withoutId = true;
        rejected.push({
          imageId: null,
          page: 1,
          index,
          field: 'ImageId',
          reason: 'expected printable ASCII',
        });
        break;
    }
  });
  // The listing side never calls a listing complete that missed an item or holds one without an id.
  const complete = spec.kind === 'full' && spec.complete && !omitted && !withoutId;
  return {
    kind: spec.kind,
    images,
    seen,
    rejected,
    complete,
    ...(spec.kind === 'full' && !complete ? { incompleteReason: 'distinct ids differ from TotalCount' } : {}),
    totalCount: spec.kind === 'full' ? cloud.size : 0,
    apiCalls: 1,
    pages: 1,
  };
}

function plan(tables: Tables, listing: Listing, observedAt: number, deleteBrake: number): SyncPlan {
  let next = 0;
  return planLikeStore({
    scope: SCOPE,
    listing,
    region: regionOf(tables),
    deleteBrake,
    observedAt,
    newId: () => `evt-${observedAt}-${++next}`,
  });
}

/** Writes a plan as the store would, refusing any plan the tables cannot take. */
function apply(tables: Tables, result: SyncPlan, at: number): void {
  for (const imageId of result.touches) {
    const row = tables.rows.get(imageId);
    expect(row?.deletedAt, `touched ${imageId} is live`).toBeNull();
    if (row) row.observedAt = Math.max(row.observedAt, at);
  }
  for (const { imageId, hash } of result.rehashes) {
    const row = tables.rows.get(imageId);
    expect(row, `rehashed ${imageId}`).toBeDefined();
    if (row) row.hash = hash;
  }
  for (const close of result.closeVersions) {
    const open = tables.versions.find(
      (row) => row.imageId === close.imageId && row.version === close.version && row.validTo === null,
    );
    expect(open, `open version ${close.imageId}#${close.version}`).toBeDefined();
    if (open) open.validTo = at;
  }
  for (const write of result.writes) {
    const imageId = write.state.imageId;
    const row = tables.rows.get(imageId);
    expect(write.isNew, `isNew ${imageId}`).toBe(row === undefined);
    expect(write.version, `version ${imageId}`).toBe((row?.version ?? 0) + 1);
    expect(write.hash).toBe(stateHash(write.state));
    tables.rows.set(imageId, {
      imageId,
      version: write.version,
      deletedAt: null,
      observedAt: at,
      hash: write.hash,
      state: write.state,
    });
    tables.versions.push({
      imageId,
      version: write.version,
      state: write.state,
      validFrom: at,
      validTo: null,
    });
  }
  for (const deletion of result.deletions) {
    const row = tables.rows.get(deletion.imageId);
    expect(row?.deletedAt, `live ${deletion.imageId}`).toBeNull();
    expect(row?.version).toBe(deletion.version);
    if (row)
      tables.rows.set(deletion.imageId, { ...row, deletedAt: at, observedAt: Math.max(row.observedAt, at) });
  }
  tables.events.push(...result.events);
  if (result.complete) {
    expect(at).toBeGreaterThan(tables.lastCompleteAt ?? Number.NEGATIVE_INFINITY);
    tables.baseline = false;
    tables.heldDeletions = result.held?.imageIds ?? [];
    tables.lastCompleteAt = at;
  }
}

interface Turn {
  listing: Listing;
  /** The listing's observation instant. */
  at: number;
  snapshot: number;
  /** The tables before the commit (rows copied). */
  before: {
    rows: Map<string, Row>;
    baseline: boolean;
    heldDeletions: string[];
    lastCompleteAt: number | null;
  };
  /** The listed states by id. */
  seen: Map<string, ImageState>;
  result: SyncPlan;
}

/** Snapshot i holds from T(i); listing k of it began k ms later (distinct instants, same cloud). */
const instantOf = (snapshot: number, listingIndex: number) =>
  START + (snapshot + 1) * STEP_MS + listingIndex + 1;

function run(scenario: Scenario): { tables: Tables; turns: Turn[]; clouds: Cloud[] } {
  const clouds = cloudsOf(scenario.moves);
  const tables = initialTables(scenario, clouds);
  const turns: Turn[] = [];
  /** The live hashes before each commit: what a listing that began then was given as known. */
  const knownBefore: Map<string, string>[] = [];
  scenario.listings.forEach((spec, index) => {
    const snapshot = Math.min(spec.snapshot, clouds.length - 1);
    const at = instantOf(snapshot, index);
    knownBefore.push(
      new Map(
        [...tables.rows.values()].flatMap((row) =>
          row.deletedAt === null && row.hash !== null ? [[row.imageId, row.hash] as const] : [],
        ),
      ),
    );
    const known = spec.known === null ? undefined : knownBefore[Math.max(0, index - spec.known)];
    const listing = listingOf(spec, clouds[snapshot] ?? new Map(), snapshot, known);
    const before = {
      rows: new Map([...tables.rows].map(([imageId, row]) => [imageId, structuredClone(row)])),
      baseline: tables.baseline,
      heldDeletions: [...tables.heldDeletions],
      lastCompleteAt: tables.lastCompleteAt,
    };
    const result = plan(tables, listing, at, scenario.deleteBrake);
    apply(tables, result, at);
    const seen = new Map(listing.images.map((image) => [image.state.imageId, image.state]));
    turns.push({ listing, at, snapshot, before, seen, result });
    expectOneOpenVersionWhileLive(tables);
  });
  return { tables, turns, clouds };
}

function expectOneOpenVersionWhileLive(tables: Tables): void {
  for (const [imageId, row] of tables.rows) {
    const open = tables.versions.filter((version) => version.imageId === imageId && version.validTo === null);
    if (row.deletedAt === null) expect(open.map((version) => version.version)).toEqual([row.version]);
    else expect(open, `open versions of deleted ${imageId}`).toEqual([]);
  }
}

/** The snapshot that held at `at`. */
const snapshotAt = (at: number): number => Math.floor((at - START) / STEP_MS) - 1;

// ---- the oracle -------------------------------------------------------------------------------

const supersededTurn = (turn: Turn): boolean =>
  turn.before.lastCompleteAt !== null && turn.at <= turn.before.lastCompleteAt;
/** Ids a turn returned, rejected ones with an id included. */
const listedIds = (turn: Turn): Set<string> =>
  new Set([
    ...turn.seen.keys(),
    ...turn.listing.seen.keys(),
    ...turn.listing.rejected.flatMap((item) => (item.imageId === null ? [] : [item.imageId])),
  ]);

/** Images seen by hash only whose row no longer holds that hash (or is newer, then fenced instead). */
function unresolvedOf(turn: Turn): number {
  if (supersededTurn(turn)) return 0;
  let count = 0;
  for (const [imageId, hash] of turn.listing.seen) {
    const row = turn.before.rows.get(imageId);
    if (row !== undefined && turn.at <= row.observedAt) continue;
    if (row === undefined || row.deletedAt !== null || row.hash !== hash) count++;
  }
  return count;
}

/** Which live images a turn should delete and hold, from the deletion and brake rules. */
function expectedSweep(turn: Turn, deleteBrake: number): { deleted: string[]; held: string[] | null } {
  const { listing, before } = turn;
  if (supersededTurn(turn) || !(listing.kind === 'full' && listing.complete))
    return { deleted: [], held: null };
  const listed = listedIds(turn);
  const liveRows = [...before.rows.values()].filter((row) => row.deletedAt === null);
  const absent = liveRows
    .filter((row) => !listed.has(row.imageId) && turn.at > row.observedAt)
    .map((row) => row.imageId)
    .sort();
  const confirmed = absent.filter((imageId) => before.heldDeletions.includes(imageId));
  const fresh = absent.filter((imageId) => !before.heldDeletions.includes(imageId));
  if (liveRows.length >= BRAKE_MIN && fresh.length > 0 && fresh.length / liveRows.length > deleteBrake)
    return { deleted: confirmed, held: fresh };
  return { deleted: absent, held: null };
}

/** Whether a listed image of a turn may change its row: new (full listings), or newer than the row. */
function applicable(turn: Turn, imageId: string): boolean {
  if (supersededTurn(turn)) return false;
  const prior = turn.before.rows.get(imageId);
  return prior === undefined ? turn.listing.kind === 'full' : turn.at > prior.observedAt;
}

/** Each event of a turn as `imageId type detail`, in the order the plan must give them. */
function expectedEvents(turn: Turn, deleteBrake: number): string[] {
  const { before, seen } = turn;
  const sweep = expectedSweep(turn, deleteBrake);
  const events: string[] = [];
  const ids = [...new Set([...seen.keys(), ...sweep.deleted])].sort();
  for (const imageId of ids) {
    if (sweep.deleted.includes(imageId)) {
      events.push(`${imageId} image.deleted`);
      continue;
    }
    if (!applicable(turn, imageId)) continue;
    const now = seen.get(imageId) as ImageState;
    const prior = before.rows.get(imageId);
    if (prior === undefined || prior.deletedAt !== null) {
      events.push(`${imageId} image.created${prior ? ' reappeared' : ''}`);
      if (before.baseline) continue;
      if (now.status === '3') events.push(`${imageId} image.failed null`);
      if (now.inShare) events.push(`${imageId} image.shared ecs`);
      if (now.inShareUser) events.push(`${imageId} image.shared account`);
      continue;
    }
    const was = prior.state;
    // A stored image's change raises its events in the baseline too (never flagged baseline).
    if (canonical(was) === canonical(now)) continue;
    const fields = UPDATED_FIELDS.filter(
      ([attribute]) =>
        JSON.stringify(normalised(was)[attribute]) !== JSON.stringify(normalised(now)[attribute]),
    ).map(([, field]) => field);
    if (fields.length > 0) events.push(`${imageId} image.updated ${fields.join(',')}`);
    if (was.status !== now.status) {
      events.push(`${imageId} image.status_changed ${was.status}>${now.status}`);
      if (now.status === '3') events.push(`${imageId} image.failed ${was.status}`);
    }
    if (was.inShare !== now.inShare) events.push(`${imageId} image.${now.inShare ? '' : 'un'}shared ecs`);
    if (was.inShareUser !== now.inShareUser)
      events.push(`${imageId} image.${now.inShareUser ? '' : 'un'}shared account`);
  }
  if (sweep.held) events.push(`- sync.deletions_held ${sweep.held.length}`);
  return events;
}

function describeEvent(event: PlannedEvent): string {
  const { data } = event;
  const head = `${event.imageId ?? '-'} ${event.type}`;
  switch (event.type) {
    case 'image.created':
      return data.reappeared === true ? `${head} reappeared` : head;
    case 'image.updated':
      return `${head} ${Object.keys(data.changes as object).join(',')}`;
    case 'image.status_changed':
      return `${head} ${String(data.from)}>${String(data.to)}`;
    case 'image.failed':
      return `${head} ${String(data.from)}`;
    case 'image.shared':
    case 'image.unshared':
      return `${head} ${String(data.target)}`;
    case 'image.deleted':
      return head;
    case 'sync.deletions_held':
      return `${head} ${String(data.count)}`;
    default: {
      const unknown: never = event.type;
      return unknown;
    }
  }
}

/** A clean complete listing of `cloud`, observed at `at`. */
function cleanListing(cloud: Cloud): Listing {
  const images = [...cloud.values()].map((state) => listedImage(structuredClone(state)));
  return {
    kind: 'full',
    images,
    seen: new Map(),
    rejected: [],
    complete: true,
    totalCount: images.length,
    apiCalls: 1,
    pages: 1,
  };
}

// ---- the properties ---------------------------------------------------------------------------

const RUNS = { numRuns: 300 };

describe('planSync over any sequence of listings, committed in any order', () => {
  it('(a) records only what the cloud held: every version is the state listed at its instant, every deletion a real absence', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { tables, turns, clouds } = run(scenario);
        for (const [imageId, row] of tables.rows) {
          const versions = tables.versions.filter((version) => version.imageId === imageId);
          expect(versions.map((version) => version.version)).toEqual(versions.map((_, index) => index + 1));
          for (const [index, version] of versions.entries()) {
            const held = clouds[snapshotAt(version.validFrom)]?.get(imageId);
            if (version.validFrom !== START)
              expect(held && canonical(held), `${imageId}#${version.version}`).toBe(canonical(version.state));
            const next = versions[index + 1];
            // Time only moves forward in an image's history, whatever order the listings committed in.
            if (next) expect(next.validFrom).toBeGreaterThan(version.validFrom);
            if (version.validTo !== null) expect(version.validTo).toBeGreaterThan(version.validFrom);
          }
          if (row.deletedAt !== null) {
            expect(clouds[snapshotAt(row.deletedAt)]?.has(imageId), `${imageId} deleted while listed`).toBe(
              false,
            );
            expect(row.deletedAt).toBeGreaterThan(versions.at(-1)?.validFrom ?? 0);
          }
        }
        // Every deletion was made by a complete full listing.
        for (const turn of turns) {
          if (turn.result.deletions.length > 0)
            expect(turn.listing).toMatchObject({ kind: 'full', complete: true });
        }
      }),
      RUNS,
    );
  });

  it('(b) never lets a listing change what a newer observation recorded; a superseded one writes nothing', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { turns, tables } = run(scenario);
        for (const [index, turn] of turns.entries()) {
          const after = turns[index + 1]?.before.rows ?? tables.rows;
          const { result, before } = turn;
          if (supersededTurn(turn)) {
            expect(result).toMatchObject({
              writes: [],
              touches: [],
              rehashes: [],
              closeVersions: [],
              deletions: [],
              events: [],
              held: null,
              status: 'superseded',
              complete: false,
            });
            expect(result.reason).toContain('superseded');
          } else expect(result.status).not.toBe('superseded');
          for (const [imageId, row] of before.rows) {
            if (row.observedAt < turn.at) continue;
            // A row observed at or after this listing began is exactly as it was.
            const now = after.get(imageId);
            expect(now && { ...now, observedAt: row.observedAt }, imageId).toEqual(row);
          }
        }
      }),
      RUNS,
    );
  });

  it('(c) keeps the stored state of each image equal to its newest observation', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { turns, tables, clouds } = run(scenario);
        for (const [imageId, row] of tables.rows) {
          // The newest committed listing that returned the image with its state.
          const observed = turns
            .filter(
              (turn) =>
                !supersededTurn(turn) &&
                ((turn.seen.has(imageId) &&
                  // A watch poll reads only ids the scope holds: others are none of its business.
                  (turn.listing.kind === 'full' || turn.before.rows.has(imageId))) ||
                  // Seen by hash, equal to the live row: the same state, observed. (A hash equal to a
                  // deleted row's cannot bring the image back: it is unresolved, for the next sync.)
                  (turn.listing.seen.has(imageId) &&
                    turn.before.rows.get(imageId)?.deletedAt === null &&
                    turn.before.rows.get(imageId)?.hash === turn.listing.seen.get(imageId))),
            )
            .map((turn) => turn.at)
            .sort((a, b) => a - b)
            .at(-1);
          if (observed === undefined) continue;
          if (row.deletedAt === null) {
            const listed = clouds[snapshotAt(observed)]?.get(imageId) as ImageState;
            expect(canonical(row.state), `${imageId} as listed at ${observed - START}`).toBe(
              canonical(listed),
            );
          } else
            expect(row.deletedAt, `${imageId} deleted after it was last listed`).toBeGreaterThan(observed);
        }
      }),
      RUNS,
    );
  });

  it('(d) raises exactly the events of the transitions applied, baseline arrivals only during the baseline', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { tables, turns } = run(scenario);
        expect(new Set(tables.events.map((event) => event.id)).size).toBe(tables.events.length);
        for (const turn of turns) {
          const { result, before } = turn;
          expect(result.events.map(describeEvent)).toEqual(expectedEvents(turn, scenario.deleteBrake));
          const written = new Map(result.writes.map((write) => [write.state.imageId, write]));
          for (const event of result.events) {
            // Held deletions are of stored images too: never a baseline event.
            const changeOfStored =
              event.type === 'sync.deletions_held' ||
              (event.imageId !== null &&
                event.type !== 'image.created' &&
                before.rows.get(event.imageId)?.deletedAt === null);
            expect(event.baseline).toBe(before.baseline && !changeOfStored);
            expect(event.occurredAt).toBe(turn.at);
            if (event.imageId !== null) {
              const prior = before.rows.get(event.imageId);
              const write = written.get(event.imageId);
              const deleted = event.type === 'image.deleted';
              expect(event.data).toMatchObject({
                account: SCOPE.account,
                regionId: SCOPE.regionId,
                imageId: event.imageId,
                version: deleted ? prior?.version : write?.version,
              });
              expect(event.data.image).toEqual(
                deleted ? toApiShape(prior?.state as ImageState) : { ...write?.raw },
              );
            }
            // In the baseline an arriving image gets image.created only.
            if (before.baseline && !changeOfStored)
              expect(['image.created', 'image.deleted']).toContain(event.type);
          }
          // A rejected item is left out: nothing written or told about it.
          for (const item of turn.listing.rejected) {
            if (item.imageId === null || turn.seen.has(item.imageId)) continue;
            expect(result.writes.some((write) => write.state.imageId === item.imageId)).toBe(false);
            expect(result.events.some((event) => event.imageId === item.imageId)).toBe(false);
          }
        }
      }),
      RUNS,
    );
  });

  it('(e) writes only changes, touches what an incomplete listing or watch poll saw unchanged, and reports status and counts', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { turns } = run(scenario);
        for (const turn of turns) {
          const { listing, result, before, seen } = turn;
          const sweep = expectedSweep(turn, scenario.deleteBrake);
          expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(sweep.deleted);
          expect(result.held?.imageIds ?? null).toEqual(sweep.held);
          const changed: string[] = [];
          // A run that counts as a complete listing is an observation of every image (lastCompleteAt);
          // any other records its observation of the unchanged images it saw (touches).
          const completeRun =
            listing.kind === 'full' && listing.complete && unresolvedOf(turn) === 0 && !supersededTurn(turn);
          const touched: string[] = [];
          const rehashed: string[] = [];
          for (const [imageId, state] of seen) {
            if (!applicable(turn, imageId)) continue;
            const prior = before.rows.get(imageId);
            if (
              prior === undefined ||
              prior.deletedAt !== null ||
              canonical(prior.state) !== canonical(state)
            )
              changed.push(imageId);
            else {
              // A stale hash is rewritten; either way the image was observed unchanged.
              if (prior.hash !== stateHash(state)) rehashed.push(imageId);
              if (!completeRun) touched.push(imageId);
            }
          }
          // Seen by hash and equal to the row: observed unchanged too.
          for (const [imageId, hash] of listing.seen) {
            const prior = before.rows.get(imageId);
            if (
              !supersededTurn(turn) &&
              prior?.deletedAt === null &&
              prior.hash === hash &&
              turn.at > prior.observedAt
            )
              if (!completeRun) touched.push(imageId);
          }
          expect(result.writes.map((write) => write.state.imageId)).toEqual(changed.sort());
          expect(result.rehashes.map((rehash) => rehash.imageId).sort()).toEqual(rehashed.sort());
          expect(result.touches.toSorted()).toEqual(touched.sort());
          if (supersededTurn(turn)) continue;
          const unresolved = unresolvedOf(turn);
          expect(result.unresolved).toBe(unresolved);
          const partial =
            listing.rejected.length > 0 ||
            result.held !== null ||
            unresolved > 0 ||
            (listing.kind === 'full' && !listing.complete);
          expect(result.status).toBe(partial ? 'partial' : 'succeeded');
          expect(result.reason === null).toBe(!partial);
          expect(result.complete).toBe(listing.kind === 'full' && listing.complete && unresolved === 0);
          for (const item of listing.rejected)
            expect(result.reason).toContain(`${item.field}: ${item.reason}`);
          expect(result.counts).toEqual({
            imagesSeen: listedIds(turn).size,
            created: result.writes.filter((write) => before.rows.get(write.state.imageId)?.deletedAt !== null)
              .length,
            updated: result.writes.filter((write) => before.rows.get(write.state.imageId)?.deletedAt === null)
              .length,
            deleted: result.deletions.length,
            events: result.events.length,
          });
        }
      }),
      RUNS,
    );
  });

  it('(f) is healed by a clean complete listing afterwards, which a replay then leaves alone', () => {
    fc.assert(
      fc.property(scenarioArb, snapshotMovesArb, (scenario, finalMoves) => {
        const { tables } = run(scenario);
        const clouds = cloudsOf([...scenario.moves, finalMoves]);
        const cloud = clouds.at(-1) as Cloud;
        let at = instantOf(clouds.length + 1, 0);
        const listing = cleanListing(cloud);
        const first = plan(tables, listing, at, scenario.deleteBrake);
        expect(first.status).toBe(first.held === null ? 'succeeded' : 'partial');
        apply(tables, first, at);
        if (first.held !== null) {
          // Held deletions are confirmed by the next complete listing.
          at += STEP_MS;
          const confirm = plan(tables, listing, at, scenario.deleteBrake);
          expect(confirm.deletions.map((deletion) => deletion.imageId)).toEqual(first.held.imageIds);
          apply(tables, confirm, at);
        }
        for (const [imageId, row] of tables.rows) {
          const listed = cloud.get(imageId);
          expect(row.deletedAt === null, imageId).toBe(listed !== undefined);
          if (listed) {
            expect(canonical(row.state)).toBe(canonical(listed));
            expect(row.hash).toBe(stateHash(listed));
          }
        }
        for (const imageId of cloud.keys()) expect(tables.rows.has(imageId), imageId).toBe(true);
        expect(tables.baseline).toBe(false);

        const replay = plan(tables, listing, at + STEP_MS, scenario.deleteBrake);
        expect(replay).toMatchObject({
          writes: [],
          touches: [],
          rehashes: [],
          closeVersions: [],
          deletions: [],
          events: [],
          held: null,
          status: 'succeeded',
          complete: true,
        });
      }),
      RUNS,
    );
  });

  it('is deterministic: the same input gives the same plan and event ids', () => {
    fc.assert(
      fc.property(scenarioArb, listingSpecArb, (scenario, last) => {
        const { tables, clouds } = run(scenario);
        const snapshot = Math.min(last.snapshot, clouds.length - 1);
        const listing = listingOf(last, clouds[snapshot] ?? new Map(), snapshot);
        const at = instantOf(snapshot, 99);
        expect(plan(tables, listing, at, scenario.deleteBrake)).toEqual(
          plan(tables, listing, at, scenario.deleteBrake),
        );
      }),
      { numRuns: 100 },
    );
  });
});
