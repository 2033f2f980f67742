import type { AnyPgColumn } from 'drizzle-orm/pg-core';
import type { ImageAttribute, ImageState, ImageStatus, ImageTag } from '../sync/model.ts';
import { customImages } from './schema/index.ts';

/**
 * How each versioned attribute travels between {@link ImageState} and its column. One table
 * drives the `custom_images` upsert, the `custom_image_versions` insert and the region read, so
 * none of them can forget a column.
 */
export interface AttributeColumn {
  attribute: ImageAttribute;
  /** The column in `custom_images` (same name in `custom_image_versions`). */
  column: AnyPgColumn;
  /** The column's SQL type: how a value written as JSON is turned back into it. */
  type: 'text' | 'boolean' | 'integer' | 'jsonb' | 'timestamptz';
}

const attribute = (name: ImageAttribute & keyof typeof customImages, type: AttributeColumn['type']) => ({
  attribute: name,
  column: customImages[name],
  type,
});

/** Every attribute of {@link ImageState} but the key, in column order. */
export const ATTRIBUTE_COLUMNS: readonly AttributeColumn[] = [
  attribute('regionId', 'text'),
  attribute('name', 'text'),
  attribute('description', 'text'),
  attribute('status', 'text'),
  attribute('inShare', 'boolean'),
  attribute('inShareUser', 'boolean'),
  attribute('instanceId', 'text'),
  attribute('instanceName', 'text'),
  attribute('systemSnapshotId', 'text'),
  attribute('systemSnapshotName', 'text'),
  attribute('dataSnapshotId', 'text'),
  attribute('dataSnapshotName', 'text'),
  attribute('resourceGroupId', 'text'),
  attribute('osType', 'text'),
  attribute('requiredSystemDiskSize', 'integer'),
  attribute('requiredDataDiskSize', 'integer'),
  attribute('sourceImageName', 'text'),
  attribute('sourceImageVersion', 'text'),
  attribute('userId', 'text'),
  attribute('tags', 'jsonb'),
  attribute('createInstances', 'jsonb'),
  attribute('creationTime', 'timestamptz'),
];

/**
 * A write's row as one JSON array, `[imageId, version, hash, raw, ...attributes in
 * ATTRIBUTE_COLUMNS order]`: a plan's rows travel as ONE `jsonb` parameter (see
 * {@link jsonRowColumns}). `creationTime` is already ISO 8601 text, which casts to timestamptz.
 */
export function jsonRow(
  imageId: string,
  version: number,
  hash: string,
  raw: unknown,
  state: ImageState,
): unknown[] {
  const row: unknown[] = [imageId, version, hash, raw];
  for (const a of ATTRIBUTE_COLUMNS) row.push(state[a.attribute]);
  return row;
}

/**
 * SQL over an element `e` of a {@link jsonRow} array: `image_id`, `version`, `raw` and every
 * attribute column, cast back to its type (`->>` gives the text of a JSON string unescaped).
 */
export function jsonRowColumns(e: string): string {
  const attributes = ATTRIBUTE_COLUMNS.map((a, index) => {
    const position = index + 4;
    const value = a.type === 'jsonb' ? `${e} -> ${position}` : `(${e} ->> ${position})::${a.type}`;
    return `${value} as "${a.column.name}"`;
  });
  return [
    `${e} ->> 0 as image_id`,
    `(${e} ->> 1)::integer as version`,
    `${e} ->> 2 as state_hash`,
    `${e} -> 3 as raw`,
    ...attributes,
  ].join(', ');
}

/** A timestamp column as epoch milliseconds (float8): how the sync's reads return instants. */
export const epochMs = (column: string): string => `(extract(epoch from ${column}) * 1000)::float8`;

/**
 * The select list of a state read, in the order of {@link StoredRow}. `creation_time` comes as
 * epoch ms (float8): cheaper to decode than timestamptz text. `region_id` is not read: the read
 * filters on it, so it is the scope's.
 */
export const STORED_COLUMNS = `image_id, name, description, status, in_share, in_share_user,
  instance_id, instance_name, system_snapshot_id, system_snapshot_name, data_snapshot_id, data_snapshot_name,
  resource_group_id, os_type, required_system_disk_size, required_data_disk_size,
  source_image_name, source_image_version, user_id, tags, create_instances,
  ${epochMs('creation_time')}`;

/** One row of {@link STORED_COLUMNS} as node-postgres decodes it in array mode. */
export type StoredRow = [
  imageId: string,
  name: string | null,
  description: string | null,
  status: string,
  inShare: boolean,
  inShareUser: boolean,
  instanceId: string | null,
  instanceName: string | null,
  systemSnapshotId: string | null,
  systemSnapshotName: string | null,
  dataSnapshotId: string | null,
  dataSnapshotName: string | null,
  resourceGroupId: string | null,
  osType: string | null,
  requiredSystemDiskSize: number | null,
  requiredDataDiskSize: number | null,
  sourceImageName: string | null,
  sourceImageVersion: string | null,
  userId: string | null,
  tags: ImageTag[],
  createInstances: string[],
  creationTimeMs: number | null,
];

/** The image state of a {@link StoredRow}. */
export function stateFromRow(row: StoredRow, regionId: string): ImageState {
  const creationTimeMs = row[21];
  return {
    imageId: row[0],
    regionId,
    name: row[1],
    description: row[2],
    status: row[3] as ImageStatus,
    inShare: row[4],
    inShareUser: row[5],
    instanceId: row[6],
    instanceName: row[7],
    systemSnapshotId: row[8],
    systemSnapshotName: row[9],
    dataSnapshotId: row[10],
    dataSnapshotName: row[11],
    resourceGroupId: row[12],
    osType: row[13],
    requiredSystemDiskSize: row[14],
    requiredDataDiskSize: row[15],
    sourceImageName: row[16],
    sourceImageVersion: row[17],
    userId: row[18],
    tags: row[19],
    createInstances: row[20],
    // The same rendering as the listing's normalisation (`parseApiTime`): ISO 8601, ms, `Z`.
    creationTime: creationTimeMs === null ? null : new Date(creationTimeMs).toISOString(),
  };
}
