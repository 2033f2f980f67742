import * as v from 'valibot';
import { nonEmptyText } from '../shared/schema-fields.ts';
import type { ImageState, ListedImage, RejectedItem } from '../sync/model.ts';
import { isImageStatus } from '../sync/model.ts';
import { stateHash } from '../sync/state-hash.ts';

/**
 * Wire shapes of the SWAS API and their validation. Objects are loose: unknown fields are kept
 * (they land in the `raw` column). Counts arrive as strings in the SDK
 * model (`TotalCount`, `PageSize`, `PageNumber`) and are accepted as strings or numbers.
 */

export const API_VERSION = '2020-06-01';

/** A non-negative integer given as a JSON number or as its decimal text. */
const countField = v.union([
  v.pipe(v.number(), v.safeInteger('expected an integer'), v.minValue(0, 'expected an integer ≥ 0')),
  v.pipe(v.string(), v.regex(/^\d+$/, 'expected an integer'), v.transform(Number)),
]);

/** PostgreSQL `integer`: what the disk-size columns hold. */
const MAX_INT4 = 2_147_483_647;

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

/**
 * One field of an item as the API may send it. Items are validated by hand rather than with a
 * schema library: a listing holds up to 100,000 of them, and a check that reads each field once
 * and copies nothing costs a fraction of a generic parser's time and garbage. `check` sees a
 * present value (neither `undefined` nor `null`, which mean absent unless `required`) and
 * returns why it is unusable, or null; the field's name, and the path inside arrays, come first.
 */
interface FieldRule {
  field: string;
  required?: true;
  check(value: unknown): { path: string; reason: string } | null;
}

const shown = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};
const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
const problem = (reason: string, path = '') => ({ path, reason });
const isText = (value: unknown): value is string => typeof value === 'string';

const text = (field: string): FieldRule => ({
  field,
  check: (value) => (isText(value) ? null : problem(`expected text, got ${kindOf(value)}`)),
});
const flag = (field: string): FieldRule => ({
  field,
  check: (value) =>
    typeof value === 'boolean' ? null : problem(`expected true or false, got ${shown(value)}`),
});
/** A disk size: an integer 0..2147483647, as a JSON number or as its digits. */
const diskSize = (field: string): FieldRule => ({
  field,
  check: (value) =>
    toDiskSize(value) === null ? problem(`expected an integer up to ${MAX_INT4}, got ${shown(value)}`) : null,
});

function toDiskSize(value: unknown): number | null {
  const n =
    typeof value === 'number'
      ? value
      : isText(value) && /^\d{1,10}$/.test(value)
        ? Number(value)
        : Number.NaN;
  return Number.isInteger(n) && n >= 0 && n <= MAX_INT4 ? n : null;
}

/** Status codes, ids, times and the nested arrays, in the order the API documents the fields. */
const ITEM_RULES: readonly FieldRule[] = [
  {
    field: 'ImageId',
    required: true,
    check: (value) =>
      !isText(value)
        ? problem(`expected text, got ${kindOf(value)}`)
        : IMAGE_ID_PATTERN.test(value)
          ? null
          : problem('expected printable ASCII, 1 to 128 characters'),
  },
  {
    field: 'Status',
    required: true,
    check: (value) =>
      isText(value) && isImageStatus(value) ? null : problem('expected a status code "0".."4"'),
  },
  text('RegionId'),
  text('Name'),
  text('Description'),
  flag('InShare'),
  flag('InShareUser'),
  text('InstanceId'),
  text('InstanceName'),
  text('SystemSnapshotId'),
  text('SystemSnapshotName'),
  text('DataSnapshotId'),
  text('DataSnapshotName'),
  text('ResourceGroupId'),
  text('OsType'),
  diskSize('RequiredSystemDiskSize'),
  diskSize('RequiredDataDiskSize'),
  text('SourceImageName'),
  text('SourceImageVersion'),
  {
    // Account ids have 16 digits: the client's JSON reader hands them over as decimal text. A
    // number past 2^53 came from a fraction or an exponent and has lost digits (or would be
    // stored as `1e+21`).
    field: 'UserId',
    check: (value) =>
      (isText(value) && /^\d{1,40}$/.test(value)) ||
      (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0)
        ? null
        : problem(`expected an account id of digits, got ${shown(value)}`),
  },
  {
    field: 'Tags',
    check: (value) => {
      if (!Array.isArray(value)) return problem(`expected a list of tags, got ${kindOf(value)}`);
      for (let i = 0; i < value.length; i++) {
        const tag: unknown = value[i];
        if (tag === null || typeof tag !== 'object' || Array.isArray(tag))
          return problem(`expected a tag object, got ${kindOf(tag)}`, `[${i}]`);
        const { Key, Value } = tag as Record<string, unknown>;
        if (Key === undefined) return problem('required', `[${i}].Key`);
        if (!isText(Key)) return problem(`expected text, got ${kindOf(Key)}`, `[${i}].Key`);
        if (Value !== undefined && Value !== null && !isText(Value))
          return problem(`expected text, got ${kindOf(Value)}`, `[${i}].Value`);
      }
      return null;
    },
  },
  {
    field: 'CreateInstances',
    check: (value) => {
      if (!Array.isArray(value)) return problem(`expected a list of instance ids, got ${kindOf(value)}`);
      for (let i = 0; i < value.length; i++) {
        if (!isText(value[i])) return problem(`expected text, got ${kindOf(value[i])}`, `[${i}]`);
      }
      return null;
    },
  },
  {
    field: 'CreationTime',
    check: (value) =>
      isText(value) && isoOfApiTime(value) !== null ? null : problem('expected an ISO 8601 time'),
  },
];

/** The first unusable field of an item, in the API's field order, as `field` and `reason`. */
function firstProblem(item: Record<string, unknown>): { field: string; reason: string } | null {
  for (const rule of ITEM_RULES) {
    const value = item[rule.field];
    if (value === undefined || value === null) {
      if (rule.required) return { field: rule.field, reason: 'required' };
      continue;
    }
    const found = rule.check(value);
    if (found !== null) return { field: `${rule.field}${found.path}`, reason: found.reason };
  }
  return null;
}

/** A listed item that passed {@link firstProblem}: what its fields may hold. */
export interface WireCustomImage {
  ImageId: string;
  Status: string;
  [field: string]: unknown;
}

/** True when every field of the item is usable (the simulator's seed data is checked with it). */
export const isUsableItem = (item: Record<string, unknown>): boolean => firstProblem(item) === null;

export const listCustomImagesResponseSchema = v.looseObject({
  RequestId: v.optional(v.string()),
  TotalCount: countField,
  PageSize: v.optional(countField),
  PageNumber: v.optional(countField),
  CustomImages: v.array(v.unknown()),
});

export const listRegionsResponseSchema = v.looseObject({
  RequestId: v.optional(v.string()),
  Regions: v.array(
    v.looseObject({
      RegionId: nonEmptyText,
      LocalName: v.nullish(v.string()),
      RegionEndpoint: v.nullish(v.string()),
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
  const iso = isoOfApiTime(text);
  if (iso === null) throw new Error(`not a usable API time: ${text}`);
  return iso;
}

/**
 * An API time as ISO 8601 UTC text, or null when it is not one or names an instant the column
 * cannot take: `9999-12-31T23:00:00-05:00` is in year 10000 in UTC, whose six-digit ISO form
 * PostgreSQL rejects (and with it the whole region's transaction).
 */
function isoOfApiTime(text: string): string | null {
  const exact = isoOfUtcSeconds(text);
  if (exact !== null) return exact;
  if (!API_TIME.test(text)) return null;
  const ms = Date.parse(hasZone(text) ? text : `${text}Z`);
  if (Number.isNaN(ms)) return null;
  const iso = new Date(ms).toISOString();
  return /^\d{4}-/.test(iso) ? iso : null;
}

/** The API's own spelling, `2022-10-09T02:28:06Z`. */
const UTC_SECONDS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/;

/**
 * The ISO text of a time in the API's own spelling whose every field is in range as written
 * (`Date` would roll `02-30` over into March, or `24:00` into the next day), else null. Such a
 * time needs only its milliseconds appended: no `Date` for each of 100,000 items.
 */
function isoOfUtcSeconds(text: string): string | null {
  if (text.length !== 20 || !UTC_SECONDS.test(text)) return null;
  const at = (index: number, digits: number) => {
    let n = 0;
    for (let i = index; i < index + digits; i++) n = n * 10 + text.charCodeAt(i) - 48;
    return n;
  };
  const year = at(0, 4);
  const month = at(5, 2);
  const day = at(8, 2);
  const inRange =
    year >= 1970 &&
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= daysInMonth(year, month) &&
    at(11, 2) <= 23 &&
    at(14, 2) <= 59 &&
    at(17, 2) <= 59;
  return inRange ? `${text.slice(0, 19)}.000Z` : null;
}

const daysInMonth = (year: number, month: number): number =>
  month === 2
    ? (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0
      ? 29
      : 28
    : month === 4 || month === 6 || month === 9 || month === 11
      ? 30
      : 31;

const hasZone = (text: string): boolean => /(Z|[+-]\d{2}:?\d{2})$/i.test(text);

/** The normalised state of a usable item; `regionId` falls back to the scope's region. */
export function toImageState(item: WireCustomImage, scopeRegionId: string): ImageState {
  const textOf = (field: string): string | null => (item[field] as string | null | undefined) ?? null;
  const userId = item.UserId as string | number | null | undefined;
  const tags = (item.Tags as { Key: string; Value?: string | null }[] | null | undefined) ?? [];
  const creationTime = item.CreationTime as string | null | undefined;
  return {
    imageId: item.ImageId,
    regionId: textOf('RegionId') ?? scopeRegionId,
    name: textOf('Name'),
    description: textOf('Description'),
    status: item.Status as ImageState['status'],
    inShare: (item.InShare as boolean | null | undefined) ?? false,
    inShareUser: (item.InShareUser as boolean | null | undefined) ?? false,
    instanceId: textOf('InstanceId'),
    instanceName: textOf('InstanceName'),
    systemSnapshotId: textOf('SystemSnapshotId'),
    systemSnapshotName: textOf('SystemSnapshotName'),
    dataSnapshotId: textOf('DataSnapshotId'),
    dataSnapshotName: textOf('DataSnapshotName'),
    resourceGroupId: textOf('ResourceGroupId'),
    osType: textOf('OsType'),
    requiredSystemDiskSize: toDiskSize(item.RequiredSystemDiskSize),
    requiredDataDiskSize: toDiskSize(item.RequiredDataDiskSize),
    sourceImageName: textOf('SourceImageName'),
    sourceImageVersion: textOf('SourceImageVersion'),
    userId: userId === null || userId === undefined ? null : String(userId),
    tags: tags.map((tag) => ({ Key: tag.Key, Value: tag.Value ?? '' })),
    createInstances: (item.CreateInstances as string[] | null | undefined) ?? [],
    creationTime: creationTime ? parseApiTime(creationTime) : null,
  };
}

/** A usable item as a listed image; `raw` is the item exactly as listed (unknown fields kept). */
export function toListedImage(item: WireCustomImage, scopeRegionId: string): ListedImage {
  const state = toImageState(item, scopeRegionId);
  return { state, raw: item, hash: stateHash(state) };
}

/** Where an item sits in its listing, for a rejection that names it. */
export interface ItemPosition {
  page: number;
  index: number;
}

/**
 * One item of a ListCustomImages page: the listed image, or why it is left out, naming
 * the first unusable field (`Tags[2].Key`). A rejection keeps the item's `ImageId` when that is
 * usable, so the item still counts as listed.
 */
export function decodeItem(
  item: unknown,
  scopeRegionId: string,
  position: ItemPosition,
): ListedImage | RejectedItem {
  if (item === null || typeof item !== 'object' || Array.isArray(item)) {
    return { imageId: null, ...position, field: 'item', reason: 'expected an object' };
  }
  const candidate = item as Record<string, unknown>;
  const id = candidate.ImageId;
  const imageId = typeof id === 'string' && IMAGE_ID_PATTERN.test(id) ? id : null;
  const found = firstProblem(candidate);
  if (found !== null) return { imageId, ...position, ...found };
  const regionId = candidate.RegionId;
  if (regionId !== null && regionId !== undefined && regionId !== scopeRegionId) {
    return {
      imageId,
      ...position,
      field: 'RegionId',
      reason: `listed in ${scopeRegionId} but says ${String(regionId)}`,
    };
  }
  return toListedImage(candidate as WireCustomImage, scopeRegionId);
}

export const isRejected = (value: ListedImage | RejectedItem): value is RejectedItem => !('state' in value);
