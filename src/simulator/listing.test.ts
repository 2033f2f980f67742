import { describe, expect, it } from 'vitest';
import { filtersAnything, matchesQuery, pageOf, pagingOf, parseListCustomImagesQuery } from './listing.ts';
import type { SimulatorImage } from './simulator-image.ts';

const parse = (params: Record<string, string>) =>
  parseListCustomImagesQuery({ RegionId: 'cn-hangzhou', ...params });

function failureOf(params: Record<string, string>) {
  const parsed = parseListCustomImagesQuery(params);
  if (parsed.ok) throw new Error('expected a failure');
  return parsed.failure;
}

function queryOf(params: Record<string, string>) {
  const parsed = parse(params);
  if (!parsed.ok) throw new Error(parsed.failure.message);
  return parsed.query;
}

const image = (fields: Partial<SimulatorImage>): SimulatorImage => ({
  ImageId: 'm-1',
  RegionId: 'cn-hangzhou',
  Status: '1',
  CreationTime: '2025-01-01T00:00:00Z',
  ...fields,
});

describe('ListCustomImages parameters', () => {
  it('default to page 1 of 10', () => {
    expect(queryOf({})).toMatchObject({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 10, tags: [] });
  });

  it('require RegionId', () => {
    const failure = failureOf({ PageSize: '10' });
    expect(failure).toMatchObject({ status: 400, code: 'MissingParameter' });
    expect(failure.message).toBe(
      'The input parameter "RegionId" that is mandatory for processing this request is not supplied.',
    );
  });

  it.each(['0', '101', 'abc', '1.5', '-1', ''])('reject PageSize %j, naming it', (value) => {
    const failure = failureOf({ RegionId: 'cn-hangzhou', PageSize: value });
    expect(failure).toMatchObject({ status: 400, code: 'InvalidParameter' });
    expect(failure.message).toBe('The specified value of parameter "PageSize" is not valid.');
  });

  it.each(['0', 'x', '-2'])('reject PageNumber %j', (value) => {
    expect(failureOf({ RegionId: 'cn-hangzhou', PageNumber: value }).message).toContain('"PageNumber"');
  });

  it('accept PageSize 1 and 100', () => {
    expect(queryOf({ PageSize: '1' }).pageSize).toBe(1);
    expect(queryOf({ PageSize: '100', PageNumber: '3' })).toMatchObject({ pageSize: 100, pageNumber: 3 });
  });

  it('read ImageIds and ImageNames as JSON arrays of at most 100 strings', () => {
    expect(queryOf({ ImageIds: '["m-1","m-2"]' }).imageIds).toEqual(new Set(['m-1', 'm-2']));
    expect(queryOf({ ImageNames: '["数据库备份镜像"]' }).imageNames).toEqual(new Set(['数据库备份镜像']));
    expect(queryOf({ ImageIds: '[]' }).imageIds).toBeUndefined();
    const hundredOne = JSON.stringify(Array.from({ length: 101 }, (_, i) => `m-${i}`));
    for (const bad of ['m-1', '{"a":1}', '[1,2]', hundredOne]) {
      expect(failureOf({ RegionId: 'r', ImageIds: bad }).message).toContain('"ImageIds"');
    }
    expect(failureOf({ RegionId: 'r', ImageNames: 'x' }).message).toContain('"ImageNames"');
  });

  it('read Share as true/false only', () => {
    expect(queryOf({ Share: 'true' }).share).toBe(true);
    expect(queryOf({ Share: 'False' }).share).toBe(false);
    expect(failureOf({ RegionId: 'r', Share: 'yes' }).message).toContain('"Share"');
  });

  it('read Tag.N.Key/Value for N = 1..20', () => {
    expect(queryOf({ 'Tag.2.Key': 'owner', 'Tag.1.Key': 'env', 'Tag.1.Value': 'prod' }).tags).toEqual([
      { key: 'env', value: 'prod' },
      { key: 'owner' },
    ]);
    expect(failureOf({ RegionId: 'r', 'Tag.21.Key': 'a' }).message).toContain('"Tag.21.Key"');
    expect(failureOf({ RegionId: 'r', 'Tag.1.Value': 'a' })).toMatchObject({ code: 'MissingParameter' });
  });

  it('are read leniently for the call log', () => {
    expect(pagingOf({ PageNumber: '2', PageSize: 'x' })).toEqual({ pageNumber: 2, pageSize: null });
  });
});

describe('ListCustomImages filters', () => {
  const shared = image({
    ImageId: 'm-a',
    Name: 'a',
    InShare: true,
    InstanceId: 'i-1',
    Tags: [{ Key: 'env', Value: 'prod' }],
  });
  const sharedToUser = image({ ImageId: 'm-b', Name: 'b', InShareUser: true, ResourceGroupId: 'rg-1' });
  const plain = image({
    ImageId: 'm-c',
    Name: 'c',
    InShare: false,
    InShareUser: false,
    SystemSnapshotId: 's-1',
    DataSnapshotId: 's-2',
    Tags: [{ Key: 'env', Value: 'test' }],
  });
  const all = [shared, sharedToUser, plain];
  // As the handler selects: a pass over the images only for a query that filters.
  const select = (params: Record<string, string>) => {
    const query = queryOf(params);
    const selected = filtersAnything(query) ? all.filter((candidate) => matchesQuery(candidate, query)) : all;
    return selected.map((candidate) => candidate.ImageId);
  };

  it('filter only when the query names a filter', () => {
    expect(filtersAnything(queryOf({}))).toBe(false);
    expect(filtersAnything(queryOf({ PageNumber: '2', PageSize: '50' }))).toBe(false);
    const filters: Record<string, string>[] = [
      { ImageIds: '["m-a"]' },
      { ImageNames: '["b"]' },
      { InstanceId: 'i-1' },
      { ResourceGroupId: 'rg-1' },
      { SystemSnapshotId: 's-1' },
      { DataSnapshotId: 's-2' },
      { Share: 'false' },
      { 'Tag.1.Key': 'env' },
    ];
    for (const params of filters) expect(filtersAnything(queryOf(params)), JSON.stringify(params)).toBe(true);
  });

  it('match ids, names and exact attributes', () => {
    expect(select({})).toEqual(['m-a', 'm-b', 'm-c']);
    expect(select({ ImageIds: '["m-c","m-a","m-x"]' })).toEqual(['m-a', 'm-c']);
    expect(select({ ImageNames: '["b"]' })).toEqual(['m-b']);
    expect(select({ InstanceId: 'i-1' })).toEqual(['m-a']);
    expect(select({ ResourceGroupId: 'rg-1' })).toEqual(['m-b']);
    expect(select({ SystemSnapshotId: 's-1', DataSnapshotId: 's-2' })).toEqual(['m-c']);
  });

  it('match sharing in either direction', () => {
    expect(select({ Share: 'true' })).toEqual(['m-a', 'm-b']);
    expect(select({ Share: 'false' })).toEqual(['m-c']);
  });

  it('match every tag, with or without a value', () => {
    expect(select({ 'Tag.1.Key': 'env' })).toEqual(['m-a', 'm-c']);
    expect(select({ 'Tag.1.Key': 'env', 'Tag.1.Value': 'test' })).toEqual(['m-c']);
    expect(select({ 'Tag.1.Key': 'env', 'Tag.2.Key': 'owner' })).toEqual([]);
  });

  it('page a listing, past the end empty', () => {
    const items = Array.from({ length: 25 }, (_, i) => i);
    expect(pageOf(items, 1, 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(pageOf(items, 3, 10)).toEqual([20, 21, 22, 23, 24]);
    expect(pageOf(items, 4, 10)).toEqual([]);
  });
});
