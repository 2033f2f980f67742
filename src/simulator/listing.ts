import { type ApiFailure, apiFailure } from './api-errors.ts';
import type { SimulatorImage } from './simulator-image.ts';

/**
 * ListCustomImages parameters, filters and paging. Pure.
 *
 * Choices where the reference is silent:
 * - an unknown region lists nothing (`TotalCount` "0"), as the API does for a region where the
 *   account simply has no images; the simulator serves every region id from one host;
 * - an empty `ImageIds`/`ImageNames` array (`[]`) filters nothing, like leaving it out;
 * - `Share=true` lists the images shared in either way (`InShare` or `InShareUser`),
 *   `Share=false` the images shared in neither;
 * - every `Tag.N` must match (a `Tag.N.Key` without `Value` matches any value of that key).
 */

export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 100;
export const MAX_FILTER_ENTRIES = 100;
export const MAX_TAGS = 20;

export interface TagFilter {
  key: string;
  value?: string;
}

export interface ListCustomImagesQuery {
  regionId: string;
  pageNumber: number;
  pageSize: number;
  imageIds?: ReadonlySet<string>;
  imageNames?: ReadonlySet<string>;
  instanceId?: string;
  systemSnapshotId?: string;
  dataSnapshotId?: string;
  resourceGroupId?: string;
  share?: boolean;
  tags: readonly TagFilter[];
}

export type ParsedQuery = { ok: true; query: ListCustomImagesQuery } | { ok: false; failure: ApiFailure };

const invalid = (name: string): ParsedQuery => ({
  ok: false,
  failure: apiFailure('InvalidParameter', { name }),
});

const positiveInteger = (text: string): number | undefined => {
  if (!/^\d{1,15}$/.test(text)) return undefined;
  const value = Number(text);
  return value >= 1 ? value : undefined;
};

/** PageNumber/PageSize as sent, for the call log and fault matching, even when the call is refused. */
export function pagingOf(params: Readonly<Record<string, string>>): {
  pageNumber: number | null;
  pageSize: number | null;
} {
  const read = (name: string) => {
    const text = params[name];
    if (text === undefined) return null;
    return positiveInteger(text) ?? null;
  };
  return { pageNumber: read('PageNumber'), pageSize: read('PageSize') };
}

function jsonStringArray(text: string): string[] | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((entry) => typeof entry === 'string')) return value;
  } catch {
    // not JSON: reported as an invalid parameter by the caller
  }
  return undefined;
}

export function parseListCustomImagesQuery(params: Readonly<Record<string, string>>): ParsedQuery {
  const regionId = params.RegionId;
  if (!regionId) return { ok: false, failure: apiFailure('MissingParameter', { name: 'RegionId' }) };

  let pageSize = DEFAULT_PAGE_SIZE;
  if (params.PageSize !== undefined) {
    const value = positiveInteger(params.PageSize);
    if (value === undefined || value > MAX_PAGE_SIZE) return invalid('PageSize');
    pageSize = value;
  }
  let pageNumber = 1;
  if (params.PageNumber !== undefined) {
    const value = positiveInteger(params.PageNumber);
    if (value === undefined) return invalid('PageNumber');
    pageNumber = value;
  }

  const query: ListCustomImagesQuery = { regionId, pageNumber, pageSize, tags: [] };
  for (const [name, field] of [
    ['ImageIds', 'imageIds'],
    ['ImageNames', 'imageNames'],
  ] as const) {
    const text = params[name];
    if (text === undefined) continue;
    const entries = jsonStringArray(text);
    if (entries === undefined || entries.length > MAX_FILTER_ENTRIES) return invalid(name);
    if (entries.length > 0) query[field] = new Set(entries);
  }
  for (const [name, field] of [
    ['InstanceId', 'instanceId'],
    ['SystemSnapshotId', 'systemSnapshotId'],
    ['DataSnapshotId', 'dataSnapshotId'],
    ['ResourceGroupId', 'resourceGroupId'],
  ] as const) {
    const value = params[name];
    if (value) query[field] = value;
  }
  if (params.Share !== undefined) {
    const share = params.Share.toLowerCase();
    if (share !== 'true' && share !== 'false') return invalid('Share');
    query.share = share === 'true';
  }

  const tags = new Map<number, { key?: string; value?: string }>();
  for (const [name, value] of Object.entries(params)) {
    const match = /^Tag\.(\d+)\.(Key|Value)$/.exec(name);
    if (match === null) continue;
    const n = Number(match[1]);
    if (n < 1 || n > MAX_TAGS) return invalid(name);
    const tag = tags.get(n) ?? {};
    if (match[2] === 'Key') tag.key = value;
    else tag.value = value;
    tags.set(n, tag);
  }
  const tagFilters: TagFilter[] = [];
  for (const [n, tag] of [...tags].sort(([a], [b]) => a - b)) {
    if (tag.key === undefined)
      return { ok: false, failure: apiFailure('MissingParameter', { name: `Tag.${n}.Key` }) };
    if (tag.key === '' || tag.key.length > 64) return invalid(`Tag.${n}.Key`);
    if (tag.value !== undefined && tag.value.length > 64) return invalid(`Tag.${n}.Value`);
    tagFilters.push(tag.value === undefined ? { key: tag.key } : { key: tag.key, value: tag.value });
  }
  query.tags = tagFilters;
  return { ok: true, query };
}

/** Whether the query filters at all: a plain listing pages the region as it is, with no pass over it. */
export function filtersAnything(query: ListCustomImagesQuery): boolean {
  return (
    query.imageIds !== undefined ||
    query.imageNames !== undefined ||
    query.instanceId !== undefined ||
    query.systemSnapshotId !== undefined ||
    query.dataSnapshotId !== undefined ||
    query.resourceGroupId !== undefined ||
    query.share !== undefined ||
    query.tags.length > 0
  );
}

export function matchesQuery(image: SimulatorImage, query: ListCustomImagesQuery): boolean {
  if (query.imageIds !== undefined && !query.imageIds.has(image.ImageId)) return false;
  if (query.imageNames !== undefined && !query.imageNames.has(image.Name ?? '')) return false;
  if (query.instanceId !== undefined && image.InstanceId !== query.instanceId) return false;
  if (query.systemSnapshotId !== undefined && image.SystemSnapshotId !== query.systemSnapshotId) return false;
  if (query.dataSnapshotId !== undefined && image.DataSnapshotId !== query.dataSnapshotId) return false;
  if (query.resourceGroupId !== undefined && image.ResourceGroupId !== query.resourceGroupId) return false;
  if (query.share !== undefined && (image.InShare === true || image.InShareUser === true) !== query.share) {
    return false;
  }
  return query.tags.every((filter) =>
    (image.Tags ?? []).some(
      (tag) => tag.Key === filter.key && (filter.value === undefined || tag.Value === filter.value),
    ),
  );
}

/** Page `pageNumber` (1-based) of an ordered listing; past the end is an empty page. */
export function pageOf<T>(items: readonly T[], pageNumber: number, pageSize: number): T[] {
  return items.slice((pageNumber - 1) * pageSize, pageNumber * pageSize);
}
