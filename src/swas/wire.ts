import { z } from 'zod';
import type { ImageState, ListedImage, RejectedItem } from '../sync/model.ts';
import { isImageStatus } from '../sync/model.ts';
import { stateHash } from '../sync/state-hash.ts';

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
/** PostgreSQL `integer`: what the disk-size columns hold. */
const MAX_INT4 = 2_147_483_647;
const optionalNumber = z
  .union([
    z.number().int('expected an integer').nonnegative().max(MAX_INT4),
    z
      .string()
      .regex(/^\d{1,10}$/, 'expected an integer')
      .transform(Number)
      .refine((n) => n <= MAX_INT4, 'expected an integer up to 2147483647'),
  ])
  .nullish();

/**
 * Image ids as SWAS issues them (`m-…`): printable ASCII without spaces, at most 128 characters,
 * so that an id fits the primary key's index and reads back as listed.
 */
export const IMAGE_ID_PATTERN = /^[\x21-\x7e]{1,128}$/;

/**
 * ISO 8601 date-time as the API renders it (`2024-05-01T08:00:00Z`, seconds and fraction
 * optional, zone optional), years 1970..9999: a bare number such as `"0"` is not a time.
 */
const API_TIME =
  /^(19[7-9]\d|[2-9]\d{3})-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?$/i;

export const wireTagSchema = z.looseObject({ Key: z.string(), Value: z.string().nullish() });

export const wireCustomImageSchema = z.looseObject({
  ImageId: z.string().regex(IMAGE_ID_PATTERN, 'expected printable ASCII, 1 to 128 characters'),
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
  UserId: z.union([z.string().regex(/^\d{1,40}$/), z.number().int().nonnegative()]).nullish(),
  Tags: z.array(wireTagSchema).nullish(),
  CreateInstances: z.array(z.string()).nullish(),
  CreationTime: z
    .string()
    .refine(
      (text) => API_TIME.test(text) && !Number.isNaN(Date.parse(hasZone(text) ? text : `${text}Z`)),
      'expected an ISO 8601 time',
    )
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
  return new Date(hasZone(text) ? text : `${text}Z`).toISOString();
}

const hasZone = (text: string): boolean => /(Z|[+-]\d{2}:?\d{2})$/i.test(text);

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
  const state = toImageState(item, scopeRegionId);
  return { state, raw, hash: stateHash(state) };
}

/** Where an item sits in its listing, for a rejection that names it. */
export interface ItemPosition {
  page: number;
  index: number;
}

/**
 * One item of a ListCustomImages page: the listed image, or why it is left out (SPEC §5.3). A
 * rejection keeps the item's `ImageId` when that is usable, so the item still counts as listed.
 * `describe` renders a validation issue as `Field.path: problem`.
 */
export function decodeItem(
  item: unknown,
  scopeRegionId: string,
  position: ItemPosition,
  describe: (item: unknown, error: z.ZodError) => { field: string; reason: string },
): ListedImage | RejectedItem {
  const candidate =
    item !== null && typeof item === 'object' && !Array.isArray(item)
      ? (item as Record<string, unknown>)
      : null;
  const id = candidate?.ImageId;
  const imageId = typeof id === 'string' && IMAGE_ID_PATTERN.test(id) ? id : null;
  if (candidate === null) return { imageId: null, ...position, field: 'item', reason: 'expected an object' };
  const checked = wireCustomImageSchema.safeParse(candidate);
  if (!checked.success) return { imageId, ...position, ...describe(candidate, checked.error) };
  const regionId = checked.data.RegionId;
  if (regionId !== null && regionId !== undefined && regionId !== scopeRegionId) {
    return {
      imageId,
      ...position,
      field: 'RegionId',
      reason: `listed in ${scopeRegionId} but says ${regionId}`,
    };
  }
  return toListedImage(checked.data, scopeRegionId, candidate);
}

export const isRejected = (value: ListedImage | RejectedItem): value is RejectedItem => !('state' in value);
