import type { ImageState } from './model.ts';

/**
 * Test fixture (imported only by `*.test.ts`): a plausible image state, `overrides` applied. One
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
