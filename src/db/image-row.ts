import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { ImageAttribute, ImageState, ImageStatus, ImageTag } from '../sync/model.ts';
import { customImages } from './schema/index.ts';

/**
 * How each versioned attribute travels from {@link ImageState} to its column: the element type of
 * its bound `unnest` array and the cast back in SQL. One table drives both the `custom_images`
 * upsert and the `custom_image_versions` insert, so neither can forget a column; the read side is
 * {@link rowToState}, whose return type names every attribute.
 */
export interface AttributeColumn {
  attribute: ImageAttribute;
  /** The column in `custom_images` (same name in `custom_image_versions`). */
  column: AnyPgColumn;
  /** Element type of the bound array (`text` for jsonb and timestamptz, cast in SQL). */
  arrayType: 'text' | 'boolean' | 'integer';
  /** SQL cast applied to the unnested value. */
  cast: 'text' | 'boolean' | 'integer' | 'jsonb' | 'timestamptz';
  toParam(state: ImageState): string | number | boolean | null;
}

const text = (attribute: ImageAttribute & keyof typeof customImages): AttributeColumn => ({
  attribute,
  column: customImages[attribute],
  arrayType: 'text',
  cast: 'text',
  toParam: (state) => state[attribute] as string | null,
});

export const ATTRIBUTE_COLUMNS: readonly AttributeColumn[] = [
  text('regionId'),
  text('name'),
  text('description'),
  text('status'),
  {
    attribute: 'inShare',
    column: customImages.inShare,
    arrayType: 'boolean',
    cast: 'boolean',
    toParam: (s) => s.inShare,
  },
  {
    attribute: 'inShareUser',
    column: customImages.inShareUser,
    arrayType: 'boolean',
    cast: 'boolean',
    toParam: (s) => s.inShareUser,
  },
  text('instanceId'),
  text('instanceName'),
  text('systemSnapshotId'),
  text('systemSnapshotName'),
  text('dataSnapshotId'),
  text('dataSnapshotName'),
  text('resourceGroupId'),
  text('osType'),
  {
    attribute: 'requiredSystemDiskSize',
    column: customImages.requiredSystemDiskSize,
    arrayType: 'integer',
    cast: 'integer',
    toParam: (s) => s.requiredSystemDiskSize,
  },
  {
    attribute: 'requiredDataDiskSize',
    column: customImages.requiredDataDiskSize,
    arrayType: 'integer',
    cast: 'integer',
    toParam: (s) => s.requiredDataDiskSize,
  },
  text('sourceImageName'),
  text('sourceImageVersion'),
  text('userId'),
  {
    attribute: 'tags',
    column: customImages.tags,
    arrayType: 'text',
    cast: 'jsonb',
    toParam: (s) => JSON.stringify(s.tags),
  },
  {
    attribute: 'createInstances',
    column: customImages.createInstances,
    arrayType: 'text',
    cast: 'jsonb',
    toParam: (s) => JSON.stringify(s.createInstances),
  },
  {
    attribute: 'creationTime',
    column: customImages.creationTime,
    arrayType: 'text',
    cast: 'timestamptz',
    toParam: (s) => s.creationTime,
  },
];

/** A `custom_images` row as the region read selects it (timestamps as epoch ms). */
export type ImageRow = {
  image_id: string;
  region_id: string;
  name: string | null;
  description: string | null;
  status: string;
  in_share: boolean;
  in_share_user: boolean;
  instance_id: string | null;
  instance_name: string | null;
  system_snapshot_id: string | null;
  system_snapshot_name: string | null;
  data_snapshot_id: string | null;
  data_snapshot_name: string | null;
  resource_group_id: string | null;
  os_type: string | null;
  required_system_disk_size: number | null;
  required_data_disk_size: number | null;
  source_image_name: string | null;
  source_image_version: string | null;
  user_id: string | null;
  tags: ImageTag[];
  create_instances: string[];
  creation_time_ms: number | null;
  version: number;
  deleted_at_ms: number | null;
};

export function rowToState(row: ImageRow): ImageState {
  return {
    imageId: row.image_id,
    regionId: row.region_id,
    name: row.name,
    description: row.description,
    status: row.status as ImageStatus,
    inShare: row.in_share,
    inShareUser: row.in_share_user,
    instanceId: row.instance_id,
    instanceName: row.instance_name,
    systemSnapshotId: row.system_snapshot_id,
    systemSnapshotName: row.system_snapshot_name,
    dataSnapshotId: row.data_snapshot_id,
    dataSnapshotName: row.data_snapshot_name,
    resourceGroupId: row.resource_group_id,
    osType: row.os_type,
    requiredSystemDiskSize: row.required_system_disk_size,
    requiredDataDiskSize: row.required_data_disk_size,
    sourceImageName: row.source_image_name,
    sourceImageVersion: row.source_image_version,
    userId: row.user_id,
    tags: row.tags,
    createInstances: row.create_instances,
    // The same rendering as the listing's normalisation (`parseApiTime`): ISO 8601, ms, `Z`.
    creationTime: row.creation_time_ms === null ? null : new Date(row.creation_time_ms).toISOString(),
  };
}
