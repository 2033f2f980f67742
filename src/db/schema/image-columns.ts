import type { ImageTag } from '../../sync/model.ts';
import { boolean, integer, jsonb, text, timestamp } from '../drizzle.ts';

/**
 * The versioned attributes of an image (`ImageState` without the key), shared by `custom_images`
 * and `custom_image_versions`. A function, because a column builder belongs to one table.
 * `user_id` is decimal text: 16-digit account ids exceed 2^53.
 */
export function imageAttributeColumns() {
  return {
    regionId: text('region_id').notNull(),
    name: text('name'),
    description: text('description'),
    status: text('status').notNull(),
    inShare: boolean('in_share').notNull().default(false),
    inShareUser: boolean('in_share_user').notNull().default(false),
    instanceId: text('instance_id'),
    instanceName: text('instance_name'),
    systemSnapshotId: text('system_snapshot_id'),
    systemSnapshotName: text('system_snapshot_name'),
    dataSnapshotId: text('data_snapshot_id'),
    dataSnapshotName: text('data_snapshot_name'),
    resourceGroupId: text('resource_group_id'),
    osType: text('os_type'),
    requiredSystemDiskSize: integer('required_system_disk_size'),
    requiredDataDiskSize: integer('required_data_disk_size'),
    sourceImageName: text('source_image_name'),
    sourceImageVersion: text('source_image_version'),
    userId: text('user_id'),
    tags: jsonb('tags').$type<ImageTag[]>().notNull().default([]),
    createInstances: jsonb('create_instances').$type<string[]>().notNull().default([]),
    creationTime: timestamp('creation_time', { withTimezone: true, precision: 3 }),
  };
}

/**
 * The SQL of `custom_images.state_hash`: md5 of one text that renders every attribute of
 * {@link imageAttributeColumns} unambiguously (text as `quote_nullable` literals, jsonb as its
 * canonical text, `creation_time` as epoch seconds), so that two different states never render
 * alike. Only IMMUTABLE functions, as a generated column requires: `creation_time::text` would
 * depend on the session's TimeZone and DateStyle, an interval's epoch does not.
 */
export const STATE_HASH_SQL = [
  'md5(',
  [
    ...['region_id', 'name', 'description', 'status'].map((c) => `quote_nullable(${c})`),
    'in_share::text',
    'in_share_user::text',
    ...[
      'instance_id',
      'instance_name',
      'system_snapshot_id',
      'system_snapshot_name',
      'data_snapshot_id',
      'data_snapshot_name',
      'resource_group_id',
      'os_type',
    ].map((c) => `quote_nullable(${c})`),
    "coalesce(required_system_disk_size::text, 'NULL')",
    "coalesce(required_data_disk_size::text, 'NULL')",
    ...['source_image_name', 'source_image_version', 'user_id'].map((c) => `quote_nullable(${c})`),
    'tags::text',
    'create_instances::text',
    "coalesce(extract(epoch from creation_time - '1970-01-01 00:00:00+00'::timestamptz)::text, 'NULL')",
  ].join(" || ',' || "),
  ')',
].join('');
