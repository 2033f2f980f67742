import { boolean, integer, jsonb, text, timestamp } from 'drizzle-orm/pg-core';
import type { ImageTag } from '../../sync/model.ts';

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
