import { describe, expect, it } from 'vitest';
import { imageState, listedImage, planLikeStore, storedImage } from '../../test/support/image-states.ts';
import { toApiShape } from './event-payloads.ts';
import type {
  ImageState,
  Listing,
  PlannedEvent,
  RegionState,
  RejectedItem,
  StoredImage,
  SyncPlan,
} from './model.ts';
import { describeRejected, planSync, statesNeeded } from './plan.ts';
import { stateHash } from './state-hash.ts';

const SCOPE = { account: 'acme', regionId: 'cn-hangzhou' };
/** When the listing under test began. */
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
/** When the stored rows were last observed: a minute before. */
const BEFORE = NOW - 60_000;

const image = imageState;
const listed = (state: ImageState) => listedImage(state);

const row = (
  state: ImageState,
  version = 1,
  deletedAt: number | null = null,
  observedAt = BEFORE,
): StoredImage => storedImage(state, { version, deletedAt, observedAt: deletedAt ?? observedAt });

function full(states: ImageState[], complete = true, rejected: RejectedItem[] = []): Listing {
  return {
    kind: 'full',
    images: states.map(listed),
    seen: new Map(),
    rejected,
    complete,
    ...(complete ? {} : { incompleteReason: 'TotalCount changed while paging' }),
    totalCount: states.length + rejected.length,
    apiCalls: 1,
    pages: 1,
  };
}

function watch(states: ImageState[], rejected: RejectedItem[] = []): Listing {
  return {
    kind: 'watch',
    images: states.map(listed),
    seen: new Map(),
    rejected,
    complete: false,
    totalCount: 0,
    apiCalls: 1,
    pages: 1,
  };
}

const rejectedItem = (
  imageId: string | null,
  field = 'RegionId',
  reason = 'listed in cn-hangzhou but says cn-beijing',
): RejectedItem => ({
  imageId,
  page: 1,
  index: 3,
  field,
  reason,
});

interface PlanOptions {
  stored?: StoredImage[];
  baseline?: boolean;
  heldDeletions?: string[];
  deleteBrake?: number;
  lastCompleteAt?: number | null;
  elsewhere?: Map<string, string>;
  observedAt?: number;
}

const regionOf = (options: PlanOptions): RegionState => ({
  stored: options.stored ?? [],
  baseline: options.baseline ?? false,
  heldDeletions: options.heldDeletions ?? [],
  lastCompleteAt: options.lastCompleteAt ?? null,
  elsewhere: options.elsewhere ?? new Map(),
});

const ids = () => {
  let next = 0;
  return () => `evt-${String(++next).padStart(3, '0')}`;
};

/** Plans as the sync does: keys for every row, states only where {@link statesNeeded} asks. */
function plan(listing: Listing, options: PlanOptions = {}): SyncPlan {
  return planLikeStore({
    scope: SCOPE,
    listing,
    region: regionOf(options),
    deleteBrake: options.deleteBrake ?? 0.5,
    observedAt: options.observedAt ?? NOW,
    newId: ids(),
  });
}

/** `[type, imageId]` of each event, in plan order. */
const kinds = (result: SyncPlan) => result.events.map((event) => [event.type, event.imageId]);

const only = (result: SyncPlan, type: PlannedEvent['type']): PlannedEvent => {
  const matching = result.events.filter((event) => event.type === type);
  expect(matching).toHaveLength(1);
  return matching[0] as PlannedEvent;
};

/** What the plan writes, without the events: nothing at all for an unchanged listing. */
const NO_WRITES = {
  writes: [],
  touches: [],
  rehashes: [],
  closeVersions: [],
  deletions: [],
  events: [],
  held: null,
};

/** The next region state after writing `result` at `observedAt` (what the store would read back). */
function advance(region: RegionState, result: SyncPlan, observedAt = NOW): RegionState {
  const rows = new Map(region.stored.map((stored) => [stored.imageId, { ...stored }]));
  for (const imageId of result.touches) {
    const stored = rows.get(imageId);
    if (stored) stored.observedAt = Math.max(stored.observedAt, observedAt);
  }
  for (const { imageId, hash } of result.rehashes) {
    const stored = rows.get(imageId);
    if (stored) stored.hash = hash;
  }
  for (const write of result.writes)
    rows.set(write.state.imageId, storedImage(write.state, { version: write.version, observedAt }));
  for (const deletion of result.deletions) {
    const stored = rows.get(deletion.imageId);
    if (stored) Object.assign(stored, { deletedAt: observedAt, observedAt });
  }
  return {
    stored: [...rows.values()],
    baseline: region.baseline && !result.complete,
    heldDeletions: result.complete ? (result.held?.imageIds ?? []) : region.heldDeletions,
    lastCompleteAt: result.complete ? observedAt : region.lastCompleteAt,
    elsewhere: new Map(),
  };
}

describe('planSync: new images', () => {
  it('writes version 1 with its hash and raises image.created at the observation instant', () => {
    const state = image('m-1');
    const result = plan(full([state]));
    expect(result.writes).toEqual([
      { state, raw: listed(state).raw, hash: stateHash(state), version: 1, isNew: true },
    ]);
    expect(result.closeVersions).toEqual([]);
    expect(result.events).toEqual([
      {
        id: 'evt-001',
        type: 'image.created',
        imageId: 'm-1',
        occurredAt: NOW,
        baseline: false,
        data: {
          account: 'acme',
          regionId: 'cn-hangzhou',
          imageId: 'm-1',
          version: 1,
          image: listed(state).raw,
        },
      },
    ]);
    expect(result.counts).toEqual({ imagesSeen: 1, created: 1, updated: 0, deleted: 0, events: 1 });
    expect(result).toMatchObject({ status: 'succeeded', reason: null, complete: true, fenced: 0 });
  });

  it('after the baseline, reports an image first seen failed or shared', () => {
    const result = plan(
      full([
        image('m-1', { status: '3' }),
        image('m-2', { inShare: true }),
        image('m-3', { inShareUser: true }),
      ]),
    );
    expect(kinds(result)).toEqual([
      ['image.created', 'm-1'],
      ['image.failed', 'm-1'],
      ['image.created', 'm-2'],
      ['image.shared', 'm-2'],
      ['image.created', 'm-3'],
      ['image.shared', 'm-3'],
    ]);
    expect(result.events[1]?.data).toMatchObject({ from: null, version: 1 });
    expect(result.events[3]?.data).toMatchObject({ target: 'ecs' });
    expect(result.events[5]?.data).toMatchObject({ target: 'account' });
  });

  it('during the baseline raises image.created only, flagged baseline', () => {
    const result = plan(
      full([image('m-1', { status: '3', inShare: true, inShareUser: true }), image('m-2')]),
      {
        baseline: true,
      },
    );
    expect(kinds(result)).toEqual([
      ['image.created', 'm-1'],
      ['image.created', 'm-2'],
    ]);
    expect(result.events.every((event) => event.baseline)).toBe(true);
    expect(result.writes.map((write) => write.version)).toEqual([1, 1]);
  });

  it('creates an image a newer listing has not seen, whatever the scope last observed', () => {
    const result = plan(full([image('m-1'), image('m-new')]), {
      stored: [row(image('m-1'), 1, null, NOW + 5_000)],
      lastCompleteAt: NOW - 1,
    });
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-new']);
    expect(result.fenced).toBe(1);
  });

  it('leaves an id a watch poll returns but the scope does not hold to the next full listing', () => {
    const result = plan(watch([image('m-1'), image('m-stranger')]), { stored: [row(image('m-1'))] });
    expect(result).toMatchObject({ ...NO_WRITES, touches: ['m-1'] });
    expect(result.status).toBe('succeeded');
  });
});

describe('planSync: known images', () => {
  it('writes nothing at all for an unchanged image of a full listing', () => {
    const state = image('m-1');
    const result = plan(full([structuredClone(state)]), { stored: [row(state, 4)] });
    expect(result).toMatchObject(NO_WRITES);
    expect(result.counts).toEqual({ imagesSeen: 1, created: 0, updated: 0, deleted: 0, events: 0 });
    expect(result).toMatchObject({ status: 'succeeded', reason: null, complete: true, fenced: 0 });
  });

  it('records a watch poll observing an unchanged image as a touch, and nothing else', () => {
    const result = plan(watch([image('m-1')]), { stored: [row(image('m-1'), 2), row(image('m-2'))] });
    expect(result).toMatchObject({ ...NO_WRITES, touches: ['m-1'] });
    expect(result).toMatchObject({ status: 'succeeded', complete: false });
  });

  it('takes reordered tags and created instances as unchanged', () => {
    const state = image('m-1', { createInstances: ['i-1', 'i-2'] });
    const reordered = { ...state, tags: state.tags.toReversed(), createInstances: ['i-2', 'i-1'] };
    expect(plan(full([reordered]), { stored: [row(state)] })).toMatchObject(NO_WRITES);
  });

  it('only rewrites the hash of a row whose hash is missing or stale for an equal state', () => {
    const state = image('m-1');
    const stored = [
      storedImage(state, { version: 3, observedAt: BEFORE, hash: null }),
      storedImage(image('m-2'), { observedAt: BEFORE, hash: 'written-by-an-older-hash' }),
    ];
    const result = plan(full([state, image('m-2')]), { stored });
    expect(result).toMatchObject({
      ...NO_WRITES,
      rehashes: [
        { imageId: 'm-1', hash: stateHash(state) },
        { imageId: 'm-2', hash: stateHash(image('m-2')) },
      ],
    });
    expect(result.counts).toMatchObject({ created: 0, updated: 0, events: 0 });
  });

  it('opens the next version and closes the current one', () => {
    const before = image('m-1');
    const after = image('m-1', { description: 'now described' });
    const result = plan(full([after]), { stored: [row(before, 3)] });
    expect(result.writes).toEqual([
      { state: after, raw: listed(after).raw, hash: stateHash(after), version: 4, isNew: false },
    ]);
    expect(result.closeVersions).toEqual([{ imageId: 'm-1', version: 3 }]);
    expect(result.rehashes).toEqual([]);
    expect(result.touches).toEqual([]);
    expect(result.counts).toMatchObject({ created: 0, updated: 1 });
  });

  it('versions a change found behind a missing hash', () => {
    const result = plan(full([image('m-1', { name: 'renamed' })]), {
      stored: [storedImage(image('m-1'), { observedAt: BEFORE, hash: null })],
    });
    expect(result.writes.map((write) => write.version)).toEqual([2]);
    expect(result.rehashes).toEqual([]);
    expect(kinds(result)).toEqual([['image.updated', 'm-1']]);
  });

  it('raises status_changed with codes and labels, and failed on entering 3', () => {
    const result = plan(full([image('m-1', { status: '3' })]), {
      stored: [row(image('m-1', { status: '4' }), 2)],
    });
    expect(kinds(result)).toEqual([
      ['image.status_changed', 'm-1'],
      ['image.failed', 'm-1'],
    ]);
    expect(result.events[0]?.data).toMatchObject({
      version: 3,
      from: '4',
      to: '3',
      fromLabel: 'creating',
      toLabel: 'create_failed',
    });
    expect(result.events[1]?.data).toMatchObject({ version: 3, from: '4' });
    expect(result.events.every((event) => event.occurredAt === NOW)).toBe(true);
  });

  it('raises status_changed alone for other status moves, leaving 3 included', () => {
    const result = plan(full([image('m-1', { status: '2' })]), {
      stored: [row(image('m-1', { status: '3' }))],
    });
    expect(kinds(result)).toEqual([['image.status_changed', 'm-1']]);
    expect(result.events[0]?.data).toMatchObject({ from: '3', to: '2', toLabel: 'unavailable' });
  });

  it('raises shared and unshared per flag and target', () => {
    const result = plan(
      full([
        image('m-1', { inShare: true, inShareUser: false }),
        image('m-2', { inShare: false, inShareUser: true }),
      ]),
      {
        stored: [
          row(image('m-1', { inShare: false, inShareUser: true })),
          row(image('m-2', { inShare: true })),
        ],
      },
    );
    expect(result.events.map((event) => [event.type, event.imageId, event.data.target])).toEqual([
      ['image.shared', 'm-1', 'ecs'],
      ['image.unshared', 'm-1', 'account'],
      ['image.unshared', 'm-2', 'ecs'],
      ['image.shared', 'm-2', 'account'],
    ]);
  });

  it('gathers every other change into one image.updated keyed by API field names', () => {
    const before = image('m-1', { createInstances: ['i-1'] });
    const after = image('m-1', {
      name: 'renamed',
      requiredDataDiskSize: 20,
      tags: [{ Key: 'env', Value: 'dev' }],
      createInstances: ['i-1', 'i-2'],
      status: '2',
    });
    const result = plan(full([after]), { stored: [row(before)] });
    expect(kinds(result)).toEqual([
      ['image.updated', 'm-1'],
      ['image.status_changed', 'm-1'],
    ]);
    expect(result.events[0]?.data.changes).toEqual({
      Name: { from: 'name-m-1', to: 'renamed' },
      RequiredDataDiskSize: { from: 0, to: 20 },
      Tags: { from: before.tags, to: [{ Key: 'env', Value: 'dev' }] },
      CreateInstances: { from: ['i-1'], to: ['i-1', 'i-2'] },
    });
  });

  it('raises a stored image’s change before the first complete listing too, as a real change', () => {
    // A region whose listings never complete (always changing under paging) must still alert:
    // an earlier incomplete listing stored m-1, so its failing now is a change, not a baseline.
    const result = plan(full([image('m-1', { status: '3', inShare: true, name: 'x' })], false), {
      stored: [row(image('m-1'))],
      baseline: true,
    });
    expect(result.writes.map((write) => write.version)).toEqual([2]);
    expect(result.closeVersions).toEqual([{ imageId: 'm-1', version: 1 }]);
    expect(kinds(result)).toEqual([
      ['image.updated', 'm-1'],
      ['image.status_changed', 'm-1'],
      ['image.failed', 'm-1'],
      ['image.shared', 'm-1'],
    ]);
    expect(result.events.every((event) => !event.baseline)).toBe(true);
    expect(result.counts.updated).toBe(1);
  });
});

describe('planSync: images listed again after deletion', () => {
  it('writes the next version, closes nothing and raises image.created with reappeared', () => {
    const state = image('m-1');
    const result = plan(full([state]), { stored: [row(state, 2, NOW - 1_000)] });
    expect(result.writes).toEqual([
      { state, raw: listed(state).raw, hash: stateHash(state), version: 3, isNew: false },
    ]);
    expect(result.closeVersions).toEqual([]);
    expect(kinds(result)).toEqual([['image.created', 'm-1']]);
    expect(result.events[0]?.data).toMatchObject({ reappeared: true, version: 3 });
    expect(result.counts).toMatchObject({ created: 1, updated: 0 });
  });

  it('reports it as arriving anew after the baseline, and as baseline during it', () => {
    const stored = [row(image('m-1', { status: '1' }), 1, NOW - 1_000)];
    const after = plan(full([image('m-1', { status: '3', inShare: true })]), { stored });
    expect(kinds(after)).toEqual([
      ['image.created', 'm-1'],
      ['image.failed', 'm-1'],
      ['image.shared', 'm-1'],
    ]);
    expect(after.events[1]?.data).toMatchObject({ from: null });
    const during = plan(full([image('m-1', { status: '3' })]), { stored, baseline: true });
    expect(during.events.map((event) => [event.type, event.baseline, event.data.reappeared])).toEqual([
      ['image.created', true, true],
    ]);
  });

  it('brings back an image a watch poll finds again', () => {
    const result = plan(watch([image('m-1')]), { stored: [row(image('m-1'), 2, NOW - 1_000)] });
    expect(result.writes.map((write) => [write.state.imageId, write.version])).toEqual([['m-1', 3]]);
    expect(result.touches).toEqual([]);
  });
});

describe('planSync: deletions', () => {
  const live = [row(image('m-1'), 2), row(image('m-2')), row(image('m-3'))];

  it('deletes live images a complete listing did not return', () => {
    const result = plan(full([image('m-1')]), { stored: [...live, row(image('m-9'), 5, NOW - 1)] });
    expect(result.deletions).toEqual([
      { imageId: 'm-2', version: 1 },
      { imageId: 'm-3', version: 1 },
    ]);
    expect(result.closeVersions).toEqual(result.deletions);
    expect(kinds(result)).toEqual([
      ['image.deleted', 'm-2'],
      ['image.deleted', 'm-3'],
    ]);
    expect(result.events[0]?.data).toEqual({
      account: 'acme',
      regionId: 'cn-hangzhou',
      imageId: 'm-2',
      version: 1,
      image: toApiShape(image('m-2')),
    });
    expect(result.counts.deleted).toBe(2);
    expect(result).toMatchObject({ status: 'succeeded', reason: null, complete: true });
  });

  it('deletes nothing from an incomplete listing, and reports it partial with the reason', () => {
    const result = plan(full([image('m-1', { name: 'renamed' })], false), { stored: live });
    expect(result.deletions).toEqual([]);
    expect(kinds(result)).toEqual([['image.updated', 'm-1']]);
    expect(result.status).toBe('partial');
    expect(result.complete).toBe(false);
    expect(result.reason).toBe('listing incomplete, deletions not applied: TotalCount changed while paging');
  });

  it('never deletes from a watch listing, and leaves images it did not return untouched', () => {
    const result = plan(watch([image('m-2', { status: '3' })]), { stored: live });
    expect(result.deletions).toEqual([]);
    expect(result.touches).toEqual([]);
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-2']);
    expect(result.counts.imagesSeen).toBe(1);
    expect(result).toMatchObject({ status: 'succeeded', reason: null, complete: false });
  });

  it('reports the deletion of a stored image as a real change while the scope has no complete listing yet', () => {
    // The first complete listing after incomplete ones: what those stored and this one lacks is gone.
    const result = plan(full([image('m-1')]), { stored: live, baseline: true });
    expect(result.events.map((event) => [event.type, event.baseline])).toEqual([
      ['image.deleted', false],
      ['image.deleted', false],
    ]);
  });
});

describe('planSync: fencing by observation time', () => {
  const stored = [row(image('m-1')), row(image('m-2')), row(image('m-3'), 2, BEFORE)];

  it('records a listing that began no later than the newest complete one as superseded, writing nothing', () => {
    for (const lastCompleteAt of [NOW, NOW + 1]) {
      const result = plan(full([image('m-1', { status: '3' }), image('m-4')], true, [rejectedItem('m-5')]), {
        stored,
        lastCompleteAt,
      });
      expect(result).toMatchObject({ ...NO_WRITES, status: 'superseded', complete: false });
      expect(result.counts).toMatchObject({ created: 0, updated: 0, deleted: 0, events: 0 });
      expect(result.reason).toContain('superseded');
      expect(result.reason).toContain(new Date(lastCompleteAt).toISOString());
    }
  });

  it('applies a listing that began after the newest complete one', () => {
    const result = plan(full([image('m-1', { status: '3' })]), { stored, lastCompleteAt: NOW - 1 });
    expect(result.status).toBe('succeeded');
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-1']);
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(['m-2']);
  });

  it('neither reverts, deletes nor resurrects what a newer observation recorded', () => {
    const newer = NOW + 30_000;
    const rows = [
      row(image('m-1', { name: 'renamed later' }), 2, null, newer),
      row(image('m-2'), 1, null, newer),
      row(image('m-3'), 1, newer),
      row(image('m-4'), 1, null, NOW),
    ];
    const result = plan(full([image('m-1'), image('m-3'), image('m-4', { status: '3' })]), { stored: rows });
    expect(result).toMatchObject(NO_WRITES);
    expect(result.fenced).toBe(4);
    expect(result.status).toBe('succeeded');
  });

  it('applies changes to the rows it is newer than and fences the others in the same listing', () => {
    const rows = [row(image('m-1')), row(image('m-2'), 1, null, NOW + 1), row(image('m-3'))];
    const result = plan(full([image('m-1', { status: '2' }), image('m-2', { status: '2' })]), {
      stored: rows,
    });
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-1']);
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(['m-3']);
    expect(result.fenced).toBe(1);
  });

  it('does not touch an image a watch poll saw unchanged when a newer observation holds it', () => {
    const result = plan(watch([image('m-1')]), { stored: [row(image('m-1'), 1, null, NOW + 1)] });
    expect(result).toMatchObject({ ...NO_WRITES, fenced: 1 });
  });

  it('lets a watch poll land between a full listing that began earlier and its commit', () => {
    // The full listing began at NOW; a watch poll that began later committed m-1 first.
    const rows = [
      row(image('m-1', { status: '1' }), 2, null, NOW + 10_000),
      row(image('m-2', { status: '4' })),
    ];
    const result = plan(full([image('m-1', { status: '4' }), image('m-2', { status: '1' })]), {
      stored: rows,
      lastCompleteAt: BEFORE,
    });
    expect(result.status).toBe('succeeded');
    expect(result.complete).toBe(true);
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-2']);
    expect(result.fenced).toBe(1);
  });
});

describe('planSync: an older listing committed after a newer one that saw no change', () => {
  // m-1 was A until NOW + 10 s, B until NOW + 20 s, then A again. The listing that began at
  // NOW + 20 s (and saw A, unchanged) commits first; the one that began at NOW + 10 s (and saw B)
  // commits after it. The newer observation must stand.
  const older = NOW + 10_000;
  const newer = NOW + 20_000;
  const step = (region: RegionState, listing: Listing, observedAt: number) => {
    const result = planLikeStore({
      scope: SCOPE,
      listing,
      region,
      deleteBrake: 0.5,
      observedAt,
      newId: ids(),
    });
    return { result, region: advance(region, result, observedAt) };
  };
  const renamed = image('m-1', { name: 'B' });

  it('keeps what a complete listing saw', () => {
    const first = step(
      regionOf({ stored: [row(image('m-1'))], lastCompleteAt: BEFORE }),
      full([image('m-1')]),
      newer,
    );
    const second = step(first.region, full([renamed]), older);
    expect(second.result).toMatchObject({ ...NO_WRITES, status: 'superseded' });
  });

  it('keeps what a watch poll saw', () => {
    const first = step(
      regionOf({ stored: [row(image('m-1'))], lastCompleteAt: BEFORE }),
      watch([image('m-1')]),
      newer,
    );
    const second = step(first.region, full([renamed]), older);
    expect(second.result).toMatchObject(NO_WRITES);
    expect(second.result.fenced).toBe(1);
  });

  it('keeps what an incomplete full listing saw', () => {
    const first = step(
      regionOf({ stored: [row(image('m-1'))], lastCompleteAt: BEFORE }),
      full([image('m-1')], false),
      newer,
    );
    const second = step(first.region, watch([renamed]), older);
    expect(second.result.writes).toEqual([]);
    expect(second.result.events).toEqual([]);
    expect(second.region.stored[0]?.state).toEqual(image('m-1'));
  });

  it('keeps what a complete listing saw when a concurrent sync left part of it unresolved', () => {
    // m-2 was seen by a hash its row no longer holds: the run is not a complete listing, so its
    // observation of the unchanged m-1 must be recorded some other way.
    const stored = [row(image('m-1')), row(image('m-2', { status: '2' }))];
    const listing = { ...full([image('m-1')]), seen: new Map([['m-2', stateHash(image('m-2'))]]) };
    const first = step(regionOf({ stored, lastCompleteAt: BEFORE }), listing, newer);
    expect(first.result.complete).toBe(false);
    const second = step(first.region, watch([renamed]), older);
    expect(second.result.writes).toEqual([]);
    expect(second.result.events).toEqual([]);
  });

  it('keeps what a watch poll saw of a row stored without a hash', () => {
    const legacy = storedImage(image('m-1'), { observedAt: BEFORE, hash: null });
    const first = step(regionOf({ stored: [legacy], lastCompleteAt: BEFORE }), watch([image('m-1')]), newer);
    const second = step(first.region, full([renamed]), older);
    expect(second.result.writes).toEqual([]);
    expect(second.result.events).toEqual([]);
  });
});

describe('planSync: images seen only by their hash', () => {
  const seenAs = (...states: ImageState[]) =>
    new Map(states.map((state) => [state.imageId, stateHash(state)]));
  const live = [row(image('m-1')), row(image('m-2')), row(image('m-3'))];

  it('takes an image seen with the stored hash as listed and unchanged: nothing written, nothing deleted', () => {
    const listing = {
      ...full([image('m-1', { status: '3' })]),
      seen: seenAs(image('m-2'), image('m-3')),
    };
    const result = plan(listing, { stored: live });
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-1']);
    expect(result.deletions).toEqual([]);
    expect(result.counts.imagesSeen).toBe(3);
    expect(result).toMatchObject({ status: 'succeeded', complete: true, unresolved: 0, reason: null });
  });

  it('does not apply an image seen by a hash its row no longer has, and does not call the listing complete', () => {
    // m-2 was seen equal to what the scope stored when the listing began; a concurrent sync changed it since.
    const stored = [row(image('m-1')), row(image('m-2', { status: '2' })), row(image('m-3'))];
    const listing = { ...full([image('m-1')]), seen: seenAs(image('m-2')) };
    const result = plan(listing, { stored });
    expect(result.writes).toEqual([]);
    expect(result.events.filter((event) => event.imageId === 'm-2')).toEqual([]);
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(['m-3']);
    expect(result).toMatchObject({ status: 'partial', complete: false, unresolved: 1 });
    expect(result.reason).toContain('concurrent sync');
  });

  it('counts an image seen by hash whose row holds a newer observation as fenced', () => {
    const stored = [row(image('m-1'), 1, null, NOW + 1)];
    const result = plan({ ...full([]), seen: seenAs(image('m-1')) }, { stored });
    expect(result).toMatchObject({ ...NO_WRITES, fenced: 1, unresolved: 0, complete: true });
  });
});

describe('planSync: rejected items', () => {
  const live = [row(image('m-1')), row(image('m-2')), row(image('m-3'))];

  it('leaves a rejected item out, counts it as listed and applies the rest, partial with each item named', () => {
    const result = plan(
      full([image('m-1', { status: '3' }), image('m-4')], true, [
        rejectedItem('m-2'),
        rejectedItem('m-5', 'RequiredDataDiskSize', 'expected an integer up to 2147483647'),
      ]),
      { stored: live },
    );
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-1', 'm-4']);
    // m-2 was listed (rejected, with its id): only m-3 went.
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(['m-3']);
    expect(result.counts.imagesSeen).toBe(4);
    expect(result.status).toBe('partial');
    expect(result.complete).toBe(true);
    expect(result.reason).toBe(
      '2 item(s) rejected: m-2 (page 1 #3) RegionId: listed in cn-hangzhou but says cn-beijing; ' +
        'm-5 (page 1 #3) RequiredDataDiskSize: expected an integer up to 2147483647',
    );
    expect(result.writes.some((write) => write.state.imageId === 'm-5')).toBe(false);
  });

  it('keeps the stored state of a rejected image as it was', () => {
    const result = plan(full([], true, [rejectedItem('m-1')]), { stored: [row(image('m-1'), 3)] });
    expect(result).toMatchObject(NO_WRITES);
    expect(result.counts.imagesSeen).toBe(1);
  });

  it('names an item without a usable id as such (its listing is incomplete, so nothing is deleted)', () => {
    const result = plan(full([image('m-1')], false, [rejectedItem(null, 'ImageId', 'required')]), {
      stored: live,
    });
    expect(result.deletions).toEqual([]);
    expect(result.counts.imagesSeen).toBe(1);
    expect(result.status).toBe('partial');
    expect(result.reason).toContain('item without a usable ImageId (page 1 #3) ImageId: required');
    expect(result.reason).toContain('listing incomplete');
  });

  it('rejects a listed id stored under another region of the account, and still counts it as listed', () => {
    const result = plan(full([image('m-1'), image('m-moved')]), {
      stored: [row(image('m-1'))],
      elsewhere: new Map([['m-moved', 'cn-beijing']]),
    });
    expect(result.writes).toEqual([]);
    expect(result.events).toEqual([]);
    expect(result.counts.imagesSeen).toBe(2);
    expect(result.status).toBe('partial');
    expect(result.reason).toBe(
      '1 item(s) rejected: m-moved ImageId: already stored under region cn-beijing of this account',
    );
  });

  it('reports the rejected items of a watch poll too', () => {
    const result = plan(
      watch(
        [image('m-1', { status: '3' })],
        [rejectedItem('m-2', 'Status', 'expected a status code "0".."4"')],
      ),
      {
        stored: live,
      },
    );
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-1']);
    expect(result.status).toBe('partial');
    expect(result.reason).toContain('m-2 (page 1 #3) Status: expected a status code "0".."4"');
  });

  it('bounds the reason for a listing full of bad items', () => {
    const many = Array.from({ length: 500 }, (_, index) => rejectedItem(`m-${index}`));
    const text = describeRejected(many);
    expect(text.startsWith('500 item(s) rejected: m-0 (page 1 #3) RegionId:')).toBe(true);
    expect(text.endsWith('; and 480 more')).toBe(true);
    expect(text.length).toBeLessThan(3_000);
  });
});

describe('planSync: deletion brake', () => {
  const ids20 = Array.from({ length: 20 }, (_, index) => `m-${String(index).padStart(2, '0')}`);
  const stored = ids20.map((id) => row(image(id)));
  const kept = ids20.slice(0, 9).map((id) => image(id));
  const absent = ids20.slice(9);

  it('holds deletions of images an earlier incomplete listing stored with an alert, not a baseline event', () => {
    // The scope has never listed completely: its first complete listing ends the baseline.
    const first = plan(full(kept), { stored, deleteBrake: 0.5, baseline: true });
    expect(first.held).toMatchObject({ count: 11, total: 20 });
    expect(first.events.map((event) => [event.type, event.baseline])).toEqual([
      ['sync.deletions_held', false],
    ]);
  });

  it('holds 11 of 20, then deletes them when the next complete listing confirms', () => {
    const first = plan(full(kept), { stored, deleteBrake: 0.5 });
    expect(first.deletions).toEqual([]);
    expect(first.closeVersions).toEqual([]);
    expect(first.held).toEqual({ count: 11, total: 20, imageIds: absent });
    expect(first.status).toBe('partial');
    expect(first.reason).toBe('deletions held: 11 of 20 images');
    expect(first.complete).toBe(true);
    expect(kinds(first)).toEqual([['sync.deletions_held', null]]);
    expect(first.events[0]?.data).toEqual({
      account: 'acme',
      regionId: 'cn-hangzhou',
      count: 11,
      total: 20,
      imageIds: absent,
    });

    const second = plan(full(kept), {
      stored,
      deleteBrake: 0.5,
      heldDeletions: first.held?.imageIds ?? [],
      lastCompleteAt: NOW,
      observedAt: NOW + 60_000,
    });
    expect(second.deletions.map((deletion) => deletion.imageId)).toEqual(absent);
    expect(second.held).toBeNull();
    expect(second.status).toBe('succeeded');
    expect(second.counts.deleted).toBe(11);
    expect(second.events.filter((event) => event.type === 'image.deleted')).toHaveLength(11);
  });

  it('deletes the confirmed ids and holds the new ones when both are missing', () => {
    const result = plan(full(kept), { stored, deleteBrake: 0.3, heldDeletions: absent.slice(0, 4) });
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(absent.slice(0, 4));
    // 7 of the 16 the confirmed deletions leave.
    expect(result.held).toEqual({ count: 7, total: 16, imageIds: absent.slice(4) });
    expect(kinds(result).at(-1)).toEqual(['sync.deletions_held', null]);
  });

  it('judges new deletions against what the confirmed ones leave, so an empty listing cannot slip through', () => {
    // 11 of 20 held; then a complete listing of nothing: the 11 are confirmed, and the other 9
    // are all of what would remain, not 45% of the 20.
    const second = plan(full([]), {
      stored,
      deleteBrake: 0.5,
      heldDeletions: absent,
      lastCompleteAt: NOW,
      observedAt: NOW + 60_000,
    });
    expect(second.deletions.map((deletion) => deletion.imageId)).toEqual(absent);
    expect(second.held).toEqual({ count: 9, total: 9, imageIds: ids20.slice(0, 9) });
    expect(second.status).toBe('partial');
    expect(second.events.filter((event) => event.type === 'image.deleted')).toHaveLength(11);
    expect(kinds(second).at(-1)).toEqual(['sync.deletions_held', null]);
  });

  it('does not engage at or below the threshold', () => {
    const result = plan(full(ids20.slice(0, 10).map((id) => image(id))), { stored, deleteBrake: 0.5 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(10);
  });

  it('never engages for a region of fewer than 10 images', () => {
    const result = plan(full([]), { stored: stored.slice(0, 9), deleteBrake: 0.1 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(9);
  });

  it('is disabled by a brake of 1', () => {
    const result = plan(full([]), { stored, deleteBrake: 1 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(20);
  });
});

describe('planSync: the states it needs', () => {
  const input = (listing: Listing, stored: StoredImage[]) => ({
    scope: SCOPE,
    listing,
    region: regionOf({ stored }),
    deleteBrake: 1,
    observedAt: NOW,
  });

  it('asks for the rows whose hash moved or is missing and those about to be deleted, no others', () => {
    const stored = [
      row(image('m-same')),
      row(image('m-moved')),
      storedImage(image('m-nohash'), { observedAt: BEFORE, hash: null }),
      row(image('m-gone')),
      row(image('m-gone-long-ago'), 1, BEFORE),
      row(image('m-newer'), 1, null, NOW + 1),
      row(image('m-rejected')),
    ];
    const listing = full(
      [
        image('m-same'),
        image('m-moved', { status: '2' }),
        image('m-nohash'),
        image('m-newer', { status: '2' }),
      ],
      true,
      [rejectedItem('m-rejected')],
    );
    expect(statesNeeded(input(listing, stored)).sort()).toEqual(['m-gone', 'm-moved', 'm-nohash']);
    expect(statesNeeded(input(watch([image('m-same'), image('m-moved', { status: '2' })]), stored))).toEqual([
      'm-moved',
    ]);
  });

  it('fails with internal.state_missing rather than guess a state it was not given', () => {
    const keysOnly = [row(image('m-1'))].map(({ state: _state, ...keys }) => keys);
    expect(() =>
      planSync({ ...input(full([image('m-1', { status: '2' })]), keysOnly), newId: ids() }),
    ).toThrow(expect.objectContaining({ code: 'internal.state_missing' }));
    expect(() => planSync({ ...input(full([]), keysOnly), newId: ids() })).toThrow(
      expect.objectContaining({ code: 'internal.state_missing' }),
    );
  });

  it('needs no state at all for an unchanged listing', () => {
    const stored = [row(image('m-1')), row(image('m-2'))];
    expect(statesNeeded(input(full([image('m-1'), image('m-2')]), stored))).toEqual([]);
  });
});

describe('planSync: shape of the plan', () => {
  it('keeps the last occurrence of an image listed twice and writes it once', () => {
    const first = image('m-1', { name: 'first' });
    const last = image('m-1', { name: 'last' });
    const result = plan(full([first, image('m-2'), last]));
    expect(result.writes.map((write) => [write.state.imageId, write.state.name])).toEqual([
      ['m-1', 'last'],
      ['m-2', 'name-m-2'],
    ]);
    expect(result.counts.imagesSeen).toBe(2);

    const known = plan(full([first, last, first]), { stored: [row(first)] });
    expect(known).toMatchObject(NO_WRITES);
  });

  it('orders output by image id and draws event ids in output order', () => {
    const result = plan(
      full([image('m-c', { status: '3' }), image('m-a'), image('m-b', { inShare: true })]),
      {
        stored: [row(image('m-d')), row(image('m-b'))],
      },
    );
    expect(kinds(result)).toEqual([
      ['image.created', 'm-a'],
      ['image.shared', 'm-b'],
      ['image.created', 'm-c'],
      ['image.failed', 'm-c'],
      ['image.deleted', 'm-d'],
    ]);
    expect(result.events.map((event) => event.id)).toEqual([
      'evt-001',
      'evt-002',
      'evt-003',
      'evt-004',
      'evt-005',
    ]);
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-a', 'm-b', 'm-c']);
    expect(result.events.every((event) => event.occurredAt === NOW)).toBe(true);
  });

  it('orders one image events: updated, status_changed, failed, shared, unshared', () => {
    const result = plan(full([image('m-1', { name: 'x', status: '3', inShare: true })]), {
      stored: [row(image('m-1', { inShareUser: true }))],
    });
    expect(result.events.map((event) => event.type)).toEqual([
      'image.updated',
      'image.status_changed',
      'image.failed',
      'image.shared',
      'image.unshared',
    ]);
  });

  it('plans nothing for an unchanged listing', () => {
    const states = [image('m-1'), image('m-2', { status: '3', inShare: true })];
    const result = plan(full(states.map((state) => structuredClone(state))), {
      stored: states.map((state) => row(state, 2)),
    });
    expect(result).toEqual({
      ...NO_WRITES,
      counts: { imagesSeen: 2, created: 0, updated: 0, deleted: 0, events: 0 },
      fenced: 0,
      unresolved: 0,
      status: 'succeeded',
      complete: true,
      reason: null,
    });
  });

  it('plans a no-op listing of a large region in linear time', () => {
    // A guard against an accidental quadratic step, not a benchmark: 50,000 images take tens of
    // milliseconds on an idle machine; a quadratic one would take many minutes.
    const count = 50_000;
    const names = Array.from({ length: count }, (_, index) => `m-${index.toString(36).padStart(8, '0')}`);
    const hash = stateHash(image('m-any'));
    const stored: StoredImage[] = names.map((imageId) => ({
      imageId,
      version: 1,
      deletedAt: null,
      observedAt: BEFORE,
      hash,
    }));
    const images = names.map((id) => ({ state: image(id), raw: {}, hash }));
    const started = performance.now();
    const result = plan({ ...full([]), images }, { stored });
    const elapsedMs = performance.now() - started;
    expect(result).toMatchObject(NO_WRITES);
    expect(result.counts.imagesSeen).toBe(count);
    expect(elapsedMs).toBeLessThan(10_000);
  });

  it('does not modify its input', () => {
    const options: PlanOptions = {
      stored: [row(image('m-1')), row(image('m-2')), row(image('m-3'), 1, NOW - 5)],
      heldDeletions: ['m-2'],
      elsewhere: new Map([['m-6', 'cn-beijing']]),
    };
    const listing = full(
      [image('m-1', { status: '3' }), image('m-3'), image('m-4'), image('m-4'), image('m-6')],
      true,
      [rejectedItem('m-5')],
    );
    const copies = structuredClone({ options, listing });
    plan(listing, options);
    expect({ options, listing }).toEqual(copies);
  });
});

describe('planSync: a scope from its baseline on', () => {
  it('raises the baseline, then exactly one event per kind of change', () => {
    let region: RegionState = regionOf({ baseline: true });
    let observedAt = NOW;
    const step = (listing: Listing) => {
      observedAt += 60_000;
      const result = planLikeStore({
        scope: SCOPE,
        listing,
        region,
        deleteBrake: 0.5,
        observedAt,
        newId: ids(),
      });
      region = advance(region, result, observedAt);
      return result;
    };

    const baseline = step(full([image('m-a'), image('m-b'), image('m-c', { status: '3', inShare: true })]));
    expect(baseline.events.map((event) => [event.type, event.imageId, event.baseline])).toEqual([
      ['image.created', 'm-a', true],
      ['image.created', 'm-b', true],
      ['image.created', 'm-c', true],
    ]);
    expect(region.baseline).toBe(false);

    const grown = [
      image('m-a'),
      image('m-b'),
      image('m-c', { status: '3', inShare: true }),
      image('m-d'),
      image('m-f'),
      image('m-g', { inShareUser: true }),
    ];
    const growth = step(full(grown));
    expect(kinds(growth)).toEqual([
      ['image.created', 'm-d'],
      ['image.created', 'm-f'],
      ['image.created', 'm-g'],
      ['image.shared', 'm-g'],
    ]);

    const changed = step(
      full([
        image('m-a', { status: '3' }),
        image('m-b', { inShare: true }),
        image('m-c', { status: '3', inShare: true, name: 'renamed' }),
        image('m-e'),
        image('m-f', { status: '2' }),
        image('m-g', { inShareUser: false }),
      ]),
    );
    expect(kinds(changed)).toEqual([
      ['image.status_changed', 'm-a'],
      ['image.failed', 'm-a'],
      ['image.shared', 'm-b'],
      ['image.updated', 'm-c'],
      ['image.deleted', 'm-d'],
      ['image.created', 'm-e'],
      ['image.status_changed', 'm-f'],
      ['image.unshared', 'm-g'],
    ]);
    expect(only(changed, 'image.updated').data.changes).toEqual({
      Name: { from: 'name-m-c', to: 'renamed' },
    });
    expect(changed.events.some((event) => event.baseline)).toBe(false);
    expect(changed.counts).toEqual({ imagesSeen: 6, created: 1, updated: 5, deleted: 1, events: 8 });
    expect(changed.closeVersions.map((close) => close.imageId)).toEqual([
      'm-a',
      'm-b',
      'm-c',
      'm-d',
      'm-f',
      'm-g',
    ]);

    // The same listing again is a no-op: nothing to write, nothing to tell.
    const again = step(
      full([
        image('m-a', { status: '3' }),
        image('m-b', { inShare: true }),
        image('m-c', { status: '3', inShare: true, name: 'renamed' }),
        image('m-e'),
        image('m-f', { status: '2' }),
        image('m-g', { inShareUser: false }),
      ]),
    );
    expect(again).toMatchObject({ ...NO_WRITES, status: 'succeeded' });
  });
});
