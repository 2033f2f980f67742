import { describe, expect, it } from 'vitest';
import { imageState } from '../../test/support/image-states.ts';
import { API_FIELD_NAMES, IMAGE_ATTRIBUTES, toApiShape } from './event-payloads.ts';
import type { ImageState } from './model.ts';

const state: ImageState = imageState('m-1', {
  name: 'web',
  status: '4',
  inShare: true,
  systemSnapshotName: 'sys',
  tags: [{ Key: 'env', Value: 'prod' }],
  createInstances: ['i-2'],
});

describe('toApiShape', () => {
  it('renders every attribute under its API field name', () => {
    expect(toApiShape(state)).toStrictEqual({
      ImageId: 'm-1',
      RegionId: 'cn-hangzhou',
      Name: 'web',
      Description: null,
      Status: '4',
      InShare: true,
      InShareUser: false,
      InstanceId: 'i-1',
      InstanceName: 'web-1',
      SystemSnapshotId: 's-1',
      SystemSnapshotName: 'sys',
      DataSnapshotId: null,
      DataSnapshotName: null,
      ResourceGroupId: 'rg-1',
      OsType: 'Linux',
      RequiredSystemDiskSize: 40,
      RequiredDataDiskSize: 0,
      SourceImageName: 'Ubuntu',
      SourceImageVersion: '22.04',
      UserId: '1234567890123456',
      Tags: [{ Key: 'env', Value: 'prod' }],
      CreateInstances: ['i-2'],
      CreationTime: '2026-01-01T00:00:00.000Z',
    });
  });

  it('lists each attribute once, with a distinct field name', () => {
    expect(new Set(IMAGE_ATTRIBUTES).size).toBe(IMAGE_ATTRIBUTES.length);
    expect(new Set(Object.values(API_FIELD_NAMES)).size).toBe(IMAGE_ATTRIBUTES.length);
    expect(Object.keys(state).filter((key) => key !== 'imageId')).toEqual(IMAGE_ATTRIBUTES);
  });
});
