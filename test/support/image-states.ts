import { toApiShape } from '../../src/sync/event-payloads.ts';
import type {
  ImageAttribute,
  ImageState,
  ListedImage,
  PlanInput,
  StoredImage,
  SyncPlan,
} from '../../src/sync/model.ts';
import { planSync, statesNeeded } from '../../src/sync/plan.ts';
import { stateHash } from '../../src/sync/state-hash.ts';

/**
 * A plausible image state for tests, `overrides` applied. One
 * builder so every test of the domain starts from the same image and says only what differs.
 */
export function imageState(imageId: string, overrides: Partial<ImageState> = {}): ImageState {
  return {
    imageId,
    regionId: 'cn-hangzhou',
    name: `name-${imageId}`,
    description: null,
    status: '1',
    inShare: false,
    inShareUser: false,
    instanceId: 'i-1',
    instanceName: 'web-1',
    systemSnapshotId: 's-1',
    systemSnapshotName: null,
    dataSnapshotId: null,
    dataSnapshotName: null,
    resourceGroupId: 'rg-1',
    osType: 'Linux',
    requiredSystemDiskSize: 40,
    requiredDataDiskSize: 0,
    sourceImageName: 'Ubuntu',
    sourceImageVersion: '22.04',
    userId: '1234567890123456',
    tags: [
      { Key: 'env', Value: 'prod' },
      { Key: 'team', Value: 'core' },
    ],
    createInstances: ['i-1'],
    creationTime: '2026-01-01T00:00:00.000Z',
    ...overrides,
  };
}

/**
 * A state as a listing returns it, with its hash as the listing side computes it. The raw item
 * carries a field the model does not know, as the API's items may.
 */
export function listedImage(
  state: ImageState,
  raw: Record<string, unknown> = { ...toApiShape(state), Unmodelled: 'kept' },
): ListedImage {
  return { state, raw, hash: stateHash(state) };
}

export interface StoredOptions {
  version?: number;
  deletedAt?: number | null;
  /** When the row was last written or deleted (epoch ms). */
  observedAt: number;
  /** The stored hash; defaults to the state's, `null` for a row written before hashes were stored. */
  hash?: string | null;
}

/** A stored row as the store keeps it: the state stays beside the keys, {@link planLikeStore} decides what the plan sees. */
export function storedImage(state: ImageState, options: StoredOptions): StoredImage {
  return {
    imageId: state.imageId,
    version: options.version ?? 1,
    deletedAt: options.deletedAt ?? null,
    observedAt: options.observedAt,
    hash: options.hash === undefined ? stateHash(state) : options.hash,
    state,
  };
}

/**
 * Plans as `runRegionSync` does against the store: the rows are read as keys only, the states
 * {@link statesNeeded} names are decoded, then the plan is computed. A plan that needed any other
 * state would throw `internal.state_missing`.
 */
export function planLikeStore(input: PlanInput): SyncPlan {
  const keysOnly = input.region.stored.map(({ state: _state, ...keys }) => keys);
  const keyInput = { ...input, region: { ...input.region, stored: keysOnly } };
  const needed = new Set(statesNeeded(keyInput));
  const stored = input.region.stored.map((row) => {
    const { state, ...keys } = row;
    return needed.has(row.imageId) ? { ...keys, state } : keys;
  });
  return planSync({ ...input, region: { ...input.region, stored } });
}

/** An image with every optional attribute set, so that each can change to {@link otherValue}'s. */
export const richImageState: ImageState = imageState('m-1', {
  name: 'web',
  description: 'web tier',
  systemSnapshotName: 'sys',
  dataSnapshotId: 's-2',
  dataSnapshotName: 'data',
  requiredDataDiskSize: 20,
  createInstances: ['i-1', 'i-2'],
});

/** A different value of the same type for each attribute. */
export const otherValue: { [K in ImageAttribute]: ImageState[K] } = {
  regionId: 'cn-shanghai',
  name: 'api',
  description: null,
  status: '3',
  inShare: true,
  inShareUser: true,
  instanceId: null,
  instanceName: 'web-2',
  systemSnapshotId: 's-9',
  systemSnapshotName: null,
  dataSnapshotId: null,
  dataSnapshotName: 'other',
  resourceGroupId: 'rg-2',
  osType: 'Windows',
  requiredSystemDiskSize: 50,
  requiredDataDiskSize: null,
  sourceImageName: 'Debian',
  sourceImageVersion: '12',
  userId: null,
  tags: [{ Key: 'env', Value: 'dev' }],
  createInstances: [],
  creationTime: '2026-01-02T00:00:00.000Z',
};
