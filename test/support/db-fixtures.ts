import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, inject } from 'vitest';
import { createDatabase, type Database } from '../../src/db/client.ts';
import type {
  ImageState,
  ImageWrite,
  ListedImage,
  PlannedEvent,
  Scope,
  SyncPlan,
} from '../../src/sync/model.ts';
import { stateHash } from '../../src/sync/state-hash.ts';
import { databaseUrlWithName } from './database-url.ts';
import { createTestDatabase } from './test-database.ts';

/**
 * A migrated database of its own for the calling test file, with a pool closed after its tests.
 * Call at the top level of the file (top-level await), like `createTestDatabase`.
 */
export async function openTestDatabase(): Promise<Database & { url: string }> {
  const url = await createTestDatabase();
  const database = createDatabase(url, { max: 5, applicationName: 'swas-inventory-test' });
  afterAll(() => database.close());
  return { ...database, url };
}

/**
 * Names for databases that do not exist yet on the test server (for migrate tests). Call at the
 * top level of a test file: every database named is dropped after the file's tests, whoever
 * created it.
 */
export function freshDatabases(): { url(label: string): string } {
  const serverUrl = inject('databaseUrl');
  const names: string[] = [];
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: databaseUrlWithName(serverUrl, 'postgres') });
    await admin.connect();
    try {
      for (const name of names) await admin.query(`drop database if exists "${name}" with (force)`);
    } finally {
      await admin.end();
    }
  });
  return {
    url(label) {
      const name = `swas_test_${label}_${randomBytes(5).toString('hex')}`;
      names.push(name);
      return databaseUrlWithName(serverUrl, name);
    },
  };
}

/** A fully populated image state; every field can be overridden. */
export function imageState(imageId: string, overrides: Partial<ImageState> = {}): ImageState {
  return {
    imageId,
    regionId: 'cn-hangzhou',
    name: `image ${imageId}`,
    description: 'made from a snapshot',
    status: '1',
    inShare: false,
    inShareUser: false,
    instanceId: 'ace-0001',
    instanceName: 'web-1',
    systemSnapshotId: 's-0001',
    systemSnapshotName: 'system snapshot',
    dataSnapshotId: null,
    dataSnapshotName: null,
    resourceGroupId: 'rg-aek2',
    osType: 'Linux',
    requiredSystemDiskSize: 40,
    requiredDataDiskSize: null,
    sourceImageName: 'Alibaba Cloud Linux',
    sourceImageVersion: '3.2104 LTS 64 bit',
    userId: '1234567890123456',
    tags: [{ Key: 'env', Value: 'prod' }],
    createInstances: ['ace-0001'],
    creationTime: '2025-03-04T05:06:07.000Z',
    ...overrides,
  };
}

/** The API item for a state (field names as listed, plus an unknown field the `raw` column keeps). */
export function rawItem(state: ImageState): Record<string, unknown> {
  return {
    ImageId: state.imageId,
    RegionId: state.regionId,
    Name: state.name,
    Status: state.status,
    InShare: state.inShare,
    Tags: state.tags,
    CreationTime: state.creationTime,
    FutureField: { nested: true },
  };
}

/** The listing's view of a state: its API item and its canonical hash, as the listing side makes them. */
export function listedImage(state: ImageState): ListedImage {
  return { state, raw: rawItem(state), hash: stateHash(state) };
}

/** A row write of `state` as `version` (new when 1), with the hash the listing side computes. */
export function imageWrite(state: ImageState, version: number): ImageWrite {
  return { ...listedImage(state), version, isNew: version === 1 };
}

/** A plan that writes nothing (a no-op `succeeded`, not complete); override what a test needs. */
export function emptyPlan(overrides: Partial<SyncPlan> = {}): SyncPlan {
  return {
    writes: [],
    touches: [],
    rehashes: [],
    closeVersions: [],
    deletions: [],
    events: [],
    held: null,
    counts: { imagesSeen: 0, created: 0, updated: 0, deleted: 0, events: 0 },
    fenced: 0,
    unresolved: 0,
    status: 'succeeded',
    complete: false,
    reason: null,
    ...overrides,
  };
}

let eventCounter = 0;

/** A planned event with a fresh UUID-shaped id (version 7 layout, sequential). */
export function plannedEvent(
  scope: Scope,
  type: PlannedEvent['type'],
  imageId: string | null,
  occurredAt: number,
  data: Record<string, unknown> = {},
  baseline = false,
): PlannedEvent {
  eventCounter += 1;
  const hex = `${randomBytes(4).toString('hex')}${eventCounter.toString(16).padStart(24, '0')}`;
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return {
    id,
    type,
    imageId,
    occurredAt,
    baseline,
    data: { account: scope.account, regionId: scope.regionId, ...(imageId ? { imageId } : {}), ...data },
  };
}
