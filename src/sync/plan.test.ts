import { describe, expect, it } from 'vitest';
import { toApiShape } from './event-payloads.ts';
import { imageState } from './image-state.fixture.ts';
import type {
  ImageState,
  ListedImage,
  Listing,
  PlannedEvent,
  RegionState,
  StoredImage,
  SyncPlan,
} from './model.ts';
import { planSync } from './plan.ts';

const SCOPE = { account: 'acme', regionId: 'cn-hangzhou' };
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

const image = imageState;

/** The raw item carries a field the model does not know, as the API's items may. */
const listed = (state: ImageState): ListedImage => ({
  state,
  raw: { ...toApiShape(state), Unmodelled: 'kept' },
});

const row = (state: ImageState, version = 1, deletedAt: number | null = null): StoredImage => ({
  state,
  version,
  deletedAt,
});

function full(states: ImageState[], complete = true): Listing {
  return {
    kind: 'full',
    images: states.map(listed),
    complete,
    ...(complete ? {} : { incompleteReason: 'TotalCount changed while paging' }),
    totalCount: states.length,
    apiCalls: 1,
    pages: 1,
  };
}

function watch(states: ImageState[]): Listing {
  return { kind: 'watch', images: states.map(listed), complete: false, totalCount: 0, apiCalls: 1, pages: 1 };
}

interface PlanOptions {
  stored?: StoredImage[];
  baseline?: boolean;
  heldDeletions?: string[];
  deleteBrake?: number;
}

function plan(listing: Listing, options: PlanOptions = {}): SyncPlan {
  let next = 0;
  return planSync({
    scope: SCOPE,
    listing,
    region: {
      stored: options.stored ?? [],
      baseline: options.baseline ?? false,
      heldDeletions: options.heldDeletions ?? [],
    },
    deleteBrake: options.deleteBrake ?? 0.5,
    now: NOW,
    newId: () => `evt-${String(++next).padStart(3, '0')}`,
  });
}

/** `[type, imageId]` of each event, in plan order. */
const kinds = (result: SyncPlan) => result.events.map((event) => [event.type, event.imageId]);

const only = (result: SyncPlan, type: PlannedEvent['type']): PlannedEvent => {
  const matching = result.events.filter((event) => event.type === type);
  expect(matching).toHaveLength(1);
  return matching[0] as PlannedEvent;
};

/** The next region state after writing `result` (what the store would read back). */
function advance(region: RegionState, listing: Listing, result: SyncPlan): RegionState {
  const rows = new Map(region.stored.map((stored) => [stored.state.imageId, { ...stored }]));
  for (const write of result.writes)
    rows.set(write.state.imageId, { state: write.state, version: write.version, deletedAt: null });
  for (const deletion of result.deletions) {
    const stored = rows.get(deletion.imageId);
    if (stored) stored.deletedAt = NOW;
  }
  const complete = listing.kind === 'full' && listing.complete;
  return {
    stored: [...rows.values()],
    baseline: region.baseline && !complete,
    heldDeletions: complete ? (result.held?.imageIds ?? []) : region.heldDeletions,
  };
}

describe('planSync: new images', () => {
  it('writes version 1 and raises image.created with the common data', () => {
    const state = image('m-1');
    const result = plan(full([state]));
    expect(result.writes).toEqual([{ state, raw: listed(state).raw, version: 1, isNew: true }]);
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
    expect(result.status).toBe('succeeded');
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
});

describe('planSync: known images', () => {
  it('leaves an unchanged image to unchangedIds only', () => {
    const state = image('m-1');
    const result = plan(full([structuredClone(state)]), { stored: [row(state, 4)] });
    expect(result).toMatchObject({ writes: [], closeVersions: [], deletions: [], events: [], held: null });
    expect(result.unchangedIds).toEqual(['m-1']);
    expect(result.counts).toEqual({ imagesSeen: 1, created: 0, updated: 0, deleted: 0, events: 0 });
  });

  it('takes reordered tags and created instances as unchanged', () => {
    const state = image('m-1', { createInstances: ['i-1', 'i-2'] });
    const reordered = { ...state, tags: state.tags.toReversed(), createInstances: ['i-2', 'i-1'] };
    const result = plan(full([reordered]), { stored: [row(state)] });
    expect(result.writes).toEqual([]);
    expect(result.unchangedIds).toEqual(['m-1']);
  });

  it('opens the next version and closes the current one', () => {
    const before = image('m-1');
    const after = image('m-1', { description: 'now described' });
    const result = plan(full([after]), { stored: [row(before, 3)] });
    expect(result.writes).toEqual([{ state: after, raw: listed(after).raw, version: 4, isNew: false }]);
    expect(result.closeVersions).toEqual([{ imageId: 'm-1', version: 3 }]);
    expect(result.unchangedIds).toEqual([]);
    expect(result.counts).toMatchObject({ created: 0, updated: 1 });
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

  it('during the baseline versions changes without raising events', () => {
    const result = plan(full([image('m-1', { status: '3', inShare: true, name: 'x' })]), {
      stored: [row(image('m-1'))],
      baseline: true,
    });
    expect(result.writes.map((write) => write.version)).toEqual([2]);
    expect(result.closeVersions).toEqual([{ imageId: 'm-1', version: 1 }]);
    expect(result.events).toEqual([]);
    expect(result.counts.updated).toBe(1);
  });
});

describe('planSync: images listed again after deletion', () => {
  it('writes the next version, closes nothing and raises image.created with reappeared', () => {
    const state = image('m-1');
    const result = plan(full([state]), { stored: [row(state, 2, NOW - 1_000)] });
    expect(result.writes).toEqual([{ state, raw: listed(state).raw, version: 3, isNew: false }]);
    expect(result.closeVersions).toEqual([]);
    expect(result.unchangedIds).toEqual([]);
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
    expect(result.status).toBe('succeeded');
  });

  it('deletes nothing from an incomplete listing, and reports it partial', () => {
    const result = plan(full([image('m-1', { name: 'renamed' })], false), { stored: live });
    expect(result.deletions).toEqual([]);
    expect(kinds(result)).toEqual([['image.updated', 'm-1']]);
    expect(result.status).toBe('partial');
  });

  it('never deletes from a watch listing, and leaves images it did not return untouched', () => {
    const result = plan(watch([image('m-2', { status: '3' })]), { stored: live });
    expect(result.deletions).toEqual([]);
    expect(result.unchangedIds).toEqual([]);
    expect(result.writes.map((write) => write.state.imageId)).toEqual(['m-2']);
    expect(result.counts.imagesSeen).toBe(1);
    expect(result.status).toBe('succeeded');
  });

  it('flags deletions with the baseline while the scope has no complete listing yet', () => {
    const result = plan(full([image('m-1')]), { stored: live, baseline: true });
    expect(result.events.map((event) => [event.type, event.baseline])).toEqual([
      ['image.deleted', true],
      ['image.deleted', true],
    ]);
  });
});

describe('planSync: deletion brake', () => {
  const ids = Array.from({ length: 20 }, (_, index) => `m-${String(index).padStart(2, '0')}`);
  const stored = ids.map((id) => row(image(id)));
  const kept = ids.slice(0, 9).map((id) => image(id));
  const absent = ids.slice(9);

  it('holds 11 of 20, then deletes them when the next complete listing confirms', () => {
    const first = plan(full(kept), { stored, deleteBrake: 0.5 });
    expect(first.deletions).toEqual([]);
    expect(first.closeVersions).toEqual([]);
    expect(first.held).toEqual({ count: 11, total: 20, imageIds: absent });
    expect(first.status).toBe('partial');
    expect(kinds(first)).toEqual([['sync.deletions_held', null]]);
    expect(first.events[0]?.data).toEqual({
      account: 'acme',
      regionId: 'cn-hangzhou',
      count: 11,
      total: 20,
      imageIds: absent,
    });

    const second = plan(full(kept), { stored, deleteBrake: 0.5, heldDeletions: first.held?.imageIds ?? [] });
    expect(second.deletions.map((deletion) => deletion.imageId)).toEqual(absent);
    expect(second.held).toBeNull();
    expect(second.status).toBe('succeeded');
    expect(second.counts.deleted).toBe(11);
    expect(second.events.filter((event) => event.type === 'image.deleted')).toHaveLength(11);
  });

  it('deletes the confirmed ids and holds the new ones when both are missing', () => {
    const result = plan(full(kept), { stored, deleteBrake: 0.3, heldDeletions: absent.slice(0, 4) });
    expect(result.deletions.map((deletion) => deletion.imageId)).toEqual(absent.slice(0, 4));
    expect(result.held).toEqual({ count: 7, total: 20, imageIds: absent.slice(4) });
    expect(kinds(result).at(-1)).toEqual(['sync.deletions_held', null]);
  });

  it('does not engage at or below the threshold', () => {
    const result = plan(full(ids.slice(0, 10).map((id) => image(id))), { stored, deleteBrake: 0.5 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(10);
  });

  it('never engages for a region of fewer than 10 images', () => {
    const small = stored.slice(0, 9);
    const result = plan(full([]), { stored: small, deleteBrake: 0.1 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(9);
  });

  it('is disabled by a brake of 1', () => {
    const result = plan(full([]), { stored, deleteBrake: 1 });
    expect(result.held).toBeNull();
    expect(result.deletions).toHaveLength(20);
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
    expect(known.writes).toEqual([]);
    expect(known.unchangedIds).toEqual(['m-1']);
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
      writes: [],
      unchangedIds: ['m-1', 'm-2'],
      closeVersions: [],
      deletions: [],
      events: [],
      held: null,
      counts: { imagesSeen: 2, created: 0, updated: 0, deleted: 0, events: 0 },
      status: 'succeeded',
    });
  });

  it('plans a no-op listing of a large region in linear time', () => {
    // A guard against an accidental quadratic step, not a benchmark: 50,000 images take tens of
    // milliseconds (the target is over 1,000,000 images/s); a quadratic one would take minutes.
    const count = 50_000;
    const ids = Array.from({ length: count }, (_, index) => `m-${index.toString(36).padStart(8, '0')}`);
    const stored = ids.map((id) => row(image(id)));
    const listing: Listing = { ...full([]), images: ids.map((id) => ({ state: image(id), raw: {} })) };
    const started = performance.now();
    const result = plan(listing, { stored });
    const elapsedMs = performance.now() - started;
    expect(result.unchangedIds).toHaveLength(count);
    expect(result.writes).toEqual([]);
    expect(elapsedMs).toBeLessThan(2_000);
  });

  it('does not modify its input', () => {
    const region: RegionState = {
      stored: [row(image('m-1')), row(image('m-2')), row(image('m-3'), 1, NOW - 5)],
      baseline: false,
      heldDeletions: ['m-2'],
    };
    const listing = full([image('m-1', { status: '3' }), image('m-3'), image('m-4'), image('m-4')]);
    const copies = structuredClone({ region, listing });
    plan(listing, region);
    expect({ region, listing }).toEqual(copies);
  });
});

describe('planSync: a scope from its baseline on', () => {
  it('raises the baseline, then exactly one event per kind of change', () => {
    let region: RegionState = { stored: [], baseline: true, heldDeletions: [] };
    const step = (listing: Listing) => {
      const result = plan(listing, region);
      region = advance(region, listing, result);
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
  });
});
