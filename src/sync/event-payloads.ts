import type { EventType } from '../shared/event-types.ts';
import type { ImageAttribute, ImageState, ImageStatus, ImageStatusLabel } from './model.ts';

/**
 * The `data` of each event type and the rendering of an image with API field names.
 * The attribute → API field table lives here, in the domain, so both the diff and the adapters
 * (which may import `sync`) use this one rendering; `event-payloads.test.ts` pins every name.
 */

/** API field name of each versioned attribute, in column order. */
export const API_FIELD_NAMES = {
  regionId: 'RegionId',
  name: 'Name',
  description: 'Description',
  status: 'Status',
  inShare: 'InShare',
  inShareUser: 'InShareUser',
  instanceId: 'InstanceId',
  instanceName: 'InstanceName',
  systemSnapshotId: 'SystemSnapshotId',
  systemSnapshotName: 'SystemSnapshotName',
  dataSnapshotId: 'DataSnapshotId',
  dataSnapshotName: 'DataSnapshotName',
  resourceGroupId: 'ResourceGroupId',
  osType: 'OsType',
  requiredSystemDiskSize: 'RequiredSystemDiskSize',
  requiredDataDiskSize: 'RequiredDataDiskSize',
  sourceImageName: 'SourceImageName',
  sourceImageVersion: 'SourceImageVersion',
  userId: 'UserId',
  tags: 'Tags',
  createInstances: 'CreateInstances',
  creationTime: 'CreationTime',
} as const satisfies Record<ImageAttribute, string>;

export type ApiFieldName = (typeof API_FIELD_NAMES)[ImageAttribute];

/** Every versioned attribute, in column order (the keys of {@link API_FIELD_NAMES}). */
export const IMAGE_ATTRIBUTES = Object.keys(API_FIELD_NAMES) as readonly ImageAttribute[];

/**
 * An image's state with API field names, for events about an image that the listing did not
 * return (`image.deleted`), where there is no listed item to quote.
 */
export function toApiShape(state: ImageState): Record<string, unknown> {
  const shape: Record<string, unknown> = { ImageId: state.imageId };
  for (const attribute of IMAGE_ATTRIBUTES) shape[API_FIELD_NAMES[attribute]] = state[attribute];
  return shape;
}

// Object type aliases rather than interfaces: they are assignable to `PlannedEvent['data']`.

/** The part of `data` every image event carries. */
export type ImageEventCommon = {
  account: string;
  regionId: string;
  imageId: string;
  /** The image's history version after the change; for `image.deleted`, the version closed. */
  version: number;
  /** The item as listed, API field names (for `image.deleted`: the last stored state). */
  image: Record<string, unknown>;
};

export type ShareTarget = 'ecs' | 'account';

export type AttributeChange = {
  from: unknown;
  to: unknown;
};

export type ImageCreatedData = ImageEventCommon & {
  /** Present (true) only when the image had been found deleted and is listed again. */
  reappeared?: true;
};

export type ImageUpdatedData = ImageEventCommon & {
  /** Keyed by API field name; status and sharing have their own events and never appear here. */
  changes: Partial<Record<ApiFieldName, AttributeChange>>;
};

export type ImageStatusChangedData = ImageEventCommon & {
  from: ImageStatus;
  to: ImageStatus;
  fromLabel: ImageStatusLabel;
  toLabel: ImageStatusLabel;
};

export type ImageFailedData = ImageEventCommon & {
  /** The status before; null when the image was first seen (or seen again) already failed. */
  from: ImageStatus | null;
};

export type ImageSharedData = ImageEventCommon & {
  target: ShareTarget;
};

export type DeletionsHeldData = {
  account: string;
  regionId: string;
  /** Deletions held. */
  count: number;
  /** Live images of the scope this sync leaves besides them (before it, less deletions it confirmed). */
  total: number;
  /** The held ids, sorted: the next complete listing that still misses them deletes them. */
  imageIds: string[];
};

/** The `data` of each event type. */
export interface EventDataByType {
  'image.created': ImageCreatedData;
  'image.updated': ImageUpdatedData;
  'image.status_changed': ImageStatusChangedData;
  'image.failed': ImageFailedData;
  'image.shared': ImageSharedData;
  'image.unshared': ImageSharedData;
  'image.deleted': ImageEventCommon;
  'sync.deletions_held': DeletionsHeldData;
}

/** The `data` of an event of type `T`; fails to compile when the catalog gains a type not described above. */
export type EventData<T extends EventType> = EventDataByType[T];
