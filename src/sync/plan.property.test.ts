import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { toApiShape } from './event-payloads.ts';
import { imageState } from './image-state.fixture.ts';
import {
  IMAGE_STATUSES,
  type ImageState,
  type ImageStatus,
  type ImageTag,
  type ListedImage,
  type Listing,
  type PlannedEvent,
  type RegionState,
  type StoredImage,
  type SyncPlan,
} from './model.ts';
import { planSync } from './plan.ts';

/**
 * Any sequence of listings for one scope, each planned against the tables the previous plans
 * wrote (an in-memory model of `custom_images`, `custom_image_versions` and `image_events`),
 * yields history and events consistent with what was listed. The expectations are computed here
 * from the listings alone, without `state-changes.ts`, so the two must agree independently.
 */

const SCOPE = { account: 'acme', regionId: 'cn-hangzhou' };
const START = Date.UTC(2026, 0, 1);
const STEP_MS = 60_000;
const BRAKE_MIN = 10;

// 14 ids: enough for regions above the brake's minimum of 10 live images.
const IDS = Array.from({ length: 14 }, (_, index) => `m-${String(index).padStart(2, '0')}`);
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

const variantArb: fc.Arbitrary<Variant> = fc.record({
  status: fc.constantFrom(...STATUSES),
  inShare: fc.boolean(),
  inShareUser: fc.boolean(),
  name: fc.constantFrom('web', 'api', null),
  tags: fc.integer({ min: 0, max: TAG_SETS.length - 1 }),
  instances: fc.integer({ min: 0, max: INSTANCE_SETS.length - 1 }),
  disk: fc.constantFrom(0, 20),
});

/** One item of a listing: a new state, or (null) the image as the tables hold it, lists maybe reordered. */
interface Entry {
  id: string;
  variant: Variant | null;
  reorder: boolean;
}

interface Step {
  kind: 'full' | 'watch';
  complete: boolean;
  entries: Entry[];
}

const entryArb: fc.Arbitrary<Entry> = fc.record({
  id: fc.constantFrom(...IDS),
  variant: fc.option(variantArb, { freq: 2 }),
  reorder: fc.boolean(),
});

const stepArb: fc.Arbitrary<Step> = fc.record({
  kind: fc.constantFrom<Step['kind']>('full', 'full', 'watch'),
  complete: fc.constantFrom(true, true, false),
  entries: fc.array(entryArb, { maxLength: 28 }),
});

const scenarioArb = fc.record({
  steps: fc.array(stepArb, { minLength: 1, maxLength: 10 }),
  deleteBrake: fc.constantFrom(0.3, 0.5, 1),
});

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

const DEFAULT_VARIANT: Variant = {
  status: '4',
  inShare: false,
  inShareUser: false,
  name: 'web',
  tags: 1,
  instances: 0,
  disk: 0,
};

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

interface Tables {
  rows: Map<string, StoredImage>;
  versions: VersionRow[];
  events: PlannedEvent[];
  baseline: boolean;
  heldDeletions: string[];
}

const emptyTables = (): Tables => ({
  rows: new Map(),
  versions: [],
  events: [],
  baseline: true,
  heldDeletions: [],
});

const regionOf = (tables: Tables): RegionState => ({
  stored: [...tables.rows.values()],
  baseline: tables.baseline,
  heldDeletions: [...tables.heldDeletions],
});

function listingOf(step: Step, tables: Tables): Listing {
  const images: ListedImage[] = step.entries.map((entry) => {
    const stored = tables.rows.get(entry.id);
    const state = entry.variant
      ? stateOf(entry.id, entry.variant)
      : structuredClone(stored?.state ?? stateOf(entry.id, DEFAULT_VARIANT));
    if (entry.reorder) {
      state.tags.reverse();
      state.createInstances.reverse();
    }
    return { state, raw: { ...toApiShape(state), Unmodelled: entry.id } };
  });
  const complete = step.kind === 'full' && step.complete;
  return { kind: step.kind, images, complete, totalCount: images.length, apiCalls: 1, pages: 1 };
}

function plan(tables: Tables, listing: Listing, now: number, deleteBrake: number): SyncPlan {
  let next = 0;
  return planSync({
    scope: SCOPE,
    listing,
    region: regionOf(tables),
    deleteBrake,
    now,
    newId: () => `evt-${now}-${++next}`,
  });
}

/** Writes a plan as the store would, refusing any plan the tables cannot take. */
function apply(tables: Tables, listing: Listing, result: SyncPlan, now: number): void {
  for (const close of result.closeVersions) {
    const open = tables.versions.find(
      (row) => row.imageId === close.imageId && row.version === close.version && row.validTo === null,
    );
    expect(open, `open version ${close.imageId}#${close.version}`).toBeDefined();
    if (open) open.validTo = now;
  }
  for (const write of result.writes) {
    const imageId = write.state.imageId;
    const row = tables.rows.get(imageId);
    expect(write.isNew, `isNew ${imageId}`).toBe(row === undefined);
    expect(write.version, `version ${imageId}`).toBe((row?.version ?? 0) + 1);
    tables.rows.set(imageId, { state: write.state, version: write.version, deletedAt: null });
    tables.versions.push({
      imageId,
      version: write.version,
      state: write.state,
      validFrom: now,
      validTo: null,
    });
  }
  for (const deletion of result.deletions) {
    const row = tables.rows.get(deletion.imageId);
    expect(row?.deletedAt, `live ${deletion.imageId}`).toBeNull();
    expect(row?.version).toBe(deletion.version);
    if (row) tables.rows.set(deletion.imageId, { ...row, deletedAt: now });
  }
  tables.events.push(...result.events);
  if (listing.kind === 'full' && listing.complete) {
    tables.baseline = false;
    tables.heldDeletions = result.held?.imageIds ?? [];
  }
}

interface Turn {
  listing: Listing;
  /** The tables before the plan (rows copied). */
  before: { rows: Map<string, StoredImage>; baseline: boolean; heldDeletions: string[] };
  /** The listing keyed by id, last occurrence winning. */
  seen: Map<string, ImageState>;
  result: SyncPlan;
}

function run(steps: Step[], deleteBrake: number): { tables: Tables; turns: Turn[] } {
  const tables = emptyTables();
  const turns: Turn[] = [];
  steps.forEach((step, index) => {
    const now = START + (index + 1) * STEP_MS;
    const listing = listingOf(step, tables);
    const before = {
      rows: new Map(tables.rows),
      baseline: tables.baseline,
      heldDeletions: [...tables.heldDeletions],
    };
    const result = plan(tables, listing, now, deleteBrake);
    apply(tables, listing, result, now);
    const seen = new Map(listing.images.map((image) => [image.state.imageId, image.state]));
    turns.push({ listing, before, seen, result });
    expectOneOpenVersionWhileLive(tables);
  });
  return { tables, turns };
}

function expectOneOpenVersionWhileLive(tables: Tables): void {
  for (const [imageId, row] of tables.rows) {
    const open = tables.versions.filter((version) => version.imageId === imageId && version.validTo === null);
    if (row.deletedAt === null) expect(open.map((version) => version.version)).toEqual([row.version]);
    else expect(open, `open versions of deleted ${imageId}`).toEqual([]);
  }
}

// ---- the oracle -------------------------------------------------------------------------------

/** Which live images a turn should delete and hold, from the rules of SPEC §5.4. */
function expectedSweep(turn: Turn, deleteBrake: number): { deleted: string[]; held: string[] | null } {
  const { listing, before, seen } = turn;
  if (!(listing.kind === 'full' && listing.complete)) return { deleted: [], held: null };
  const live = [...before.rows.values()]
    .filter((row) => row.deletedAt === null)
    .map((row) => row.state.imageId);
  const absent = live.filter((imageId) => !seen.has(imageId)).sort();
  const confirmed = absent.filter((imageId) => before.heldDeletions.includes(imageId));
  const fresh = absent.filter((imageId) => !before.heldDeletions.includes(imageId));
  if (live.length >= BRAKE_MIN && fresh.length > 0 && fresh.length / live.length > deleteBrake)
    return { deleted: confirmed, held: fresh };
  return { deleted: absent, held: null };
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
    if (before.baseline || canonical(was) === canonical(now)) continue;
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

// ---- the properties ---------------------------------------------------------------------------

describe('planSync over any sequence of listings', () => {
  it('(a) versions each image by its distinct consecutive observed states, 1..n', () => {
    fc.assert(
      fc.property(scenarioArb, ({ steps, deleteBrake }) => {
        const { tables, turns } = run(steps, deleteBrake);
        // What each image's history should be: a new version whenever the listed state differs
        // from the last one, or the image comes back after a deletion.
        const expected = new Map<string, { states: string[]; live: boolean }>();
        for (const turn of turns) {
          for (const [imageId, state] of turn.seen) {
            const history = expected.get(imageId) ?? { states: [], live: false };
            if (!history.live || history.states.at(-1) !== canonical(state))
              history.states.push(canonical(state));
            history.live = true;
            expected.set(imageId, history);
          }
          for (const { imageId } of turn.result.deletions) {
            const history = expected.get(imageId);
            if (history) history.live = false;
          }
        }
        expect([...tables.rows.keys()].sort()).toEqual([...expected.keys()].sort());
        for (const [imageId, history] of expected) {
          const versions = tables.versions.filter((version) => version.imageId === imageId);
          expect(versions.map((version) => version.version)).toEqual(
            history.states.map((_, index) => index + 1),
          );
          expect(versions.map((version) => canonical(version.state))).toEqual(history.states);
          expect(tables.rows.get(imageId)?.deletedAt === null).toBe(history.live);
        }
      }),
    );
  });

  it('(b) raises exactly the events of the transitions listed, baseline ones only during the baseline', () => {
    fc.assert(
      fc.property(scenarioArb, ({ steps, deleteBrake }) => {
        const { tables, turns } = run(steps, deleteBrake);
        expect(new Set(tables.events.map((event) => event.id)).size).toBe(tables.events.length);
        for (const turn of turns) {
          const { result, before, seen } = turn;
          expect(result.events.map(describeEvent)).toEqual(expectedEvents(turn, deleteBrake));
          const written = new Map(result.writes.map((write) => [write.state.imageId, write]));
          for (const event of result.events) {
            expect(event.baseline).toBe(before.baseline);
            if (event.imageId !== null) {
              // The common part: the version after the change (the closed one for a deletion) and
              // the item as listed (the stored state in API field names for a deletion).
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
            if (before.baseline)
              expect(['image.created', 'image.deleted', 'sync.deletions_held']).toContain(event.type);
          }
          // A re-listed unchanged state raises nothing.
          for (const imageId of result.unchangedIds) {
            expect(result.events.filter((event) => event.imageId === imageId)).toEqual([]);
            expect(canonical(seen.get(imageId) as ImageState)).toBe(
              canonical(before.rows.get(imageId)?.state as ImageState),
            );
          }
          // Every status change observed on a live image is told once, with its codes.
          if (!before.baseline) {
            for (const [imageId, state] of seen) {
              const prior = before.rows.get(imageId);
              const moved =
                prior !== undefined && prior.deletedAt === null && prior.state.status !== state.status;
              const told = result.events.filter(
                (event) => event.imageId === imageId && event.type === 'image.status_changed',
              );
              expect(told.map((event) => [event.data.from, event.data.to])).toEqual(
                moved ? [[prior.state.status, state.status]] : [],
              );
            }
          }
        }
      }),
    );
  });

  it('(c) deletes only from complete full listings, within the brake', () => {
    fc.assert(
      fc.property(scenarioArb, ({ steps, deleteBrake }) => {
        const { turns } = run(steps, deleteBrake);
        for (const turn of turns) {
          const { listing, result, before, seen } = turn;
          const sweep = expectedSweep(turn, deleteBrake);
          expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(sweep.deleted);
          expect(result.held?.imageIds ?? null).toEqual(sweep.held);
          const complete = listing.kind === 'full' && listing.complete;
          if (!complete) {
            expect(result.deletions).toEqual([]);
            expect(result.held).toBeNull();
            expect(result.events.filter((event) => event.type === 'image.deleted')).toEqual([]);
          }
          if (result.held) {
            const live = [...before.rows.values()].filter((row) => row.deletedAt === null).length;
            expect(result.held).toMatchObject({ count: result.held.imageIds.length, total: live });
          }
          expect(result.status).toBe(
            (listing.kind === 'full' && !listing.complete) || result.held ? 'partial' : 'succeeded',
          );
          // A watch or incomplete listing touches only what it returned.
          const touched = [...result.writes.map((write) => write.state.imageId), ...result.unchangedIds];
          expect(touched.sort()).toEqual([...seen.keys()].sort());
          expect(result.counts).toEqual({
            imagesSeen: seen.size,
            created: result.writes.filter((write) => before.rows.get(write.state.imageId)?.deletedAt !== null)
              .length,
            updated: result.writes.filter((write) => before.rows.get(write.state.imageId)?.deletedAt === null)
              .length,
            deleted: result.deletions.length,
            events: result.events.length,
          });
        }
      }),
    );
  });

  it('(d) plans nothing when the same listing is replayed', () => {
    fc.assert(
      fc.property(scenarioArb, stepArb, ({ steps, deleteBrake }, last) => {
        const { tables } = run(steps, deleteBrake);
        let now = START + (steps.length + 1) * STEP_MS;
        const listing = listingOf(last, tables);
        const first = plan(tables, listing, now, deleteBrake);
        apply(tables, listing, first, now);

        now += STEP_MS;
        const second = plan(tables, listing, now, deleteBrake);
        expect(second.writes).toEqual([]);
        expect(second.unchangedIds.toSorted()).toEqual(
          [...new Set(listing.images.map((image) => image.state.imageId))].sort(),
        );
        if (first.held === null) {
          expect(second).toMatchObject({ closeVersions: [], deletions: [], events: [], held: null });
          return;
        }
        // Held deletions are the one thing a replay changes: the second complete listing confirms them.
        expect(second.deletions.map((deletion) => deletion.imageId)).toEqual(first.held.imageIds);
        expect(second.held).toBeNull();
        apply(tables, listing, second, now);
        const third = plan(tables, listing, now + STEP_MS, deleteBrake);
        expect(third).toMatchObject({ writes: [], closeVersions: [], deletions: [], events: [], held: null });
      }),
    );
  });

  it('is deterministic: the same input gives the same plan and event ids', () => {
    fc.assert(
      fc.property(scenarioArb, stepArb, ({ steps, deleteBrake }, last) => {
        const { tables } = run(steps, deleteBrake);
        const listing = listingOf(last, tables);
        expect(plan(tables, listing, START, deleteBrake)).toEqual(plan(tables, listing, START, deleteBrake));
      }),
    );
  });
});
