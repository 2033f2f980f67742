import { z } from 'zod';
import type { ImageState, ListedImage } from '../sync/model.ts';
import { isImageStatus } from '../sync/model.ts';

/**
 * Wire shapes of the SWAS API (swas-api.md §2.3, §3) and their validation. Objects are loose:
 * unknown fields are kept (they land in the `raw` column). Counts arrive as strings in the SDK
 * model (`TotalCount`, `PageSize`, `PageNumber`) and are accepted as strings or numbers.
 */

export const API_VERSION = '2020-06-01';

/** A non-negative integer given as a JSON number or as its decimal text. */
const countField = z.union([
  z.number().int().nonnegative(),
  z
    .string()
    .regex(/^\d+$/, 'expected an integer')
    .transform((text) => Number(text)),
]);

const optionalText = z.string().nullish();
const optionalNumber = z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).nullish();

export const wireTagSchema = z.looseObject({ Key: z.string(), Value: z.string().nullish() });

export const wireCustomImageSchema = z.looseObject({
  ImageId: z.string().min(1),
  Status: z.string().refine(isImageStatus, 'expected a status code "0".."4"'),
  RegionId: optionalText,
  Name: optionalText,
  Description: optionalText,
  InShare: z.boolean().nullish(),
  InShareUser: z.boolean().nullish(),
  InstanceId: optionalText,
  InstanceName: optionalText,
  SystemSnapshotId: optionalText,
  SystemSnapshotName: optionalText,
  DataSnapshotId: optionalText,
  DataSnapshotName: optionalText,
  ResourceGroupId: optionalText,
  OsType: optionalText,
  RequiredSystemDiskSize: optionalNumber,
  RequiredDataDiskSize: optionalNumber,
  SourceImageName: optionalText,
  SourceImageVersion: optionalText,
  // Account ids have 16 digits: the client's JSON reader hands them over as decimal text.
  UserId: z.union([z.string().regex(/^\d+$/), z.number().int()]).nullish(),
  Tags: z.array(wireTagSchema).nullish(),
  CreateInstances: z.array(z.string()).nullish(),
  CreationTime: z
    .string()
    .refine((text) => !Number.isNaN(Date.parse(text)), 'expected an ISO 8601 time')
    .nullish(),
});

export type WireCustomImage = z.infer<typeof wireCustomImageSchema>;

export const listCustomImagesResponseSchema = z.looseObject({
  RequestId: z.string().optional(),
  TotalCount: countField,
  PageSize: countField.optional(),
  PageNumber: countField.optional(),
  CustomImages: z.array(z.unknown()),
});

export const listRegionsResponseSchema = z.looseObject({
  RequestId: z.string().optional(),
  Regions: z.array(
    z.looseObject({
      RegionId: z.string().min(1),
      LocalName: z.string().nullish(),
      RegionEndpoint: z.string().nullish(),
    }),
  ),
});

export interface Region {
  regionId: string;
  localName: string | null;
  endpoint: string | null;
}

/** Parses API times as UTC: a time without zone designator is taken as UTC, as the API means it. */
export function parseApiTime(text: string): string {
  const hasZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(text);
  return new Date(hasZone ? text : `${text}Z`).toISOString();
}

/** The normalised state of a validated item; `regionId` falls back to the scope's region. */
export function toImageState(item: WireCustomImage, scopeRegionId: string): ImageState {
  return {
    imageId: item.ImageId,
    regionId: item.RegionId ?? scopeRegionId,
    name: item.Name ?? null,
    description: item.Description ?? null,
    status: item.Status as ImageState['status'],
    inShare: item.InShare ?? false,
    inShareUser: item.InShareUser ?? false,
    instanceId: item.InstanceId ?? null,
    instanceName: item.InstanceName ?? null,
    systemSnapshotId: item.SystemSnapshotId ?? null,
    systemSnapshotName: item.SystemSnapshotName ?? null,
    dataSnapshotId: item.DataSnapshotId ?? null,
    dataSnapshotName: item.DataSnapshotName ?? null,
    resourceGroupId: item.ResourceGroupId ?? null,
    osType: item.OsType ?? null,
    requiredSystemDiskSize: item.RequiredSystemDiskSize ?? null,
    requiredDataDiskSize: item.RequiredDataDiskSize ?? null,
    sourceImageName: item.SourceImageName ?? null,
    sourceImageVersion: item.SourceImageVersion ?? null,
    userId: item.UserId === null || item.UserId === undefined ? null : String(item.UserId),
    tags: (item.Tags ?? []).map((tag) => ({ Key: tag.Key, Value: tag.Value ?? '' })),
    createInstances: item.CreateInstances ?? [],
    creationTime: item.CreationTime ? parseApiTime(item.CreationTime) : null,
  };
}

/**
 * A validated item as a listed image. `raw` is the item exactly as listed (unknown fields and
 * string numbers kept), which may differ from the validated copy.
 */
export function toListedImage(
  item: WireCustomImage,
  scopeRegionId: string,
  raw: Record<string, unknown> = item,
): ListedImage {
  return { state: toImageState(item, scopeRegionId), raw };
}
