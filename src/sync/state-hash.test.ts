import { hash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { otherValue, richImageState } from '../../test/support/image-states.ts';
import { decodeItem, isRejected } from '../swas/wire.ts';
import { IMAGE_ATTRIBUTES } from './event-payloads.ts';
import { IMAGE_STATUSES, type ImageState, type ImageStatus } from './model.ts';
import { compareText, sameState } from './state-changes.ts';
import { stateHash } from './state-hash.ts';

const base = richImageState;

// A small domain per attribute, so that generated pairs are often equal and often differ by one value.
const text = fc.constantFrom<string | null>(null, '', 'a', 'b', 'a"b', '[1]', '\u2400', 'é');
const tags = fc.array(
  fc.record({ Key: fc.constantFrom('env', 'team', 'a,b', ''), Value: fc.constantFrom('prod', 'dev', '') }),
  { maxLength: 3 },
);
const stateArb: fc.Arbitrary<ImageState> = fc.record({
  imageId: fc.constant('m-1'),
  regionId: fc.constantFrom('cn-hangzhou', 'cn-beijing'),
  name: text,
  description: text,
  status: fc.constantFrom(...(Object.keys(IMAGE_STATUSES) as ImageStatus[])),
  inShare: fc.boolean(),
  inShareUser: fc.boolean(),
  instanceId: text,
  instanceName: text,
  systemSnapshotId: text,
  systemSnapshotName: text,
  dataSnapshotId: text,
  dataSnapshotName: text,
  resourceGroupId: text,
  osType: text,
  requiredSystemDiskSize: fc.constantFrom(null, 0, 1, 40),
  requiredDataDiskSize: fc.constantFrom(null, 0, 1, 40),
  sourceImageName: text,
  sourceImageVersion: text,
  userId: fc.constantFrom(null, '0', '1234567890123456', '12345678901234567'),
  tags,
  createInstances: fc.array(fc.constantFrom('i-1', 'i-2', ''), { maxLength: 3 }),
  creationTime: fc.constantFrom(null, '2026-01-01T00:00:00.000Z', '1970-01-01T00:00:00.000Z'),
});

/** `state` with one attribute of `other`, so pairs that differ in exactly one place are common. */
const pairArb = fc
  .tuple(stateArb, stateArb, fc.constantFrom(...IMAGE_ATTRIBUTES), fc.boolean(), fc.boolean())
  .map(([a, b, attribute, mix, shuffle]) => {
    const second: ImageState = mix
      ? { ...structuredClone(a), [attribute]: structuredClone(b[attribute]) }
      : b;
    if (shuffle) {
      second.tags = second.tags.toReversed();
      second.createInstances = second.createInstances.toReversed();
    }
    return [a, second] as const;
  });

describe('stateHash', () => {
  it('is equal exactly when sameState holds, for any pair of states', () => {
    fc.assert(
      fc.property(pairArb, ([a, b]) => {
        expect(stateHash(a) === stateHash(b)).toBe(sameState(a, b));
      }),
      { numRuns: 2_000 },
    );
  });

  it('tells apart any two states that differ, whatever their text holds', () => {
    const anyText = fc.option(fc.string({ unit: 'binary', maxLength: 12 }));
    fc.assert(
      fc.property(anyText, anyText, anyText, anyText, (nameA, nameB, descA, descB) => {
        const a = { ...base, name: nameA, description: descA };
        const b = { ...base, name: nameB, description: descB };
        expect(stateHash(a) === stateHash(b)).toBe(nameA === nameB && descA === descB);
      }),
    );
  });

  it('changes with every versioned attribute, alone', () => {
    const hashes = new Set([stateHash(base)]);
    for (const attribute of IMAGE_ATTRIBUTES) {
      const changed = { ...base, [attribute]: otherValue[attribute] };
      expect(stateHash(changed), attribute).not.toBe(stateHash(base));
      hashes.add(stateHash(changed));
    }
    expect(hashes.size).toBe(IMAGE_ATTRIBUTES.length + 1);
  });

  it('tells null from empty text, 0 from null, and a tag list from its concatenation', () => {
    expect(stateHash({ ...base, name: null })).not.toBe(stateHash({ ...base, name: '' }));
    expect(stateHash({ ...base, requiredDataDiskSize: 0 })).not.toBe(
      stateHash({ ...base, requiredDataDiskSize: null }),
    );
    expect(
      stateHash({
        ...base,
        tags: [
          { Key: 'a', Value: 'b' },
          { Key: 'c', Value: 'd' },
        ],
      }),
    ).not.toBe(
      stateHash({
        ...base,
        tags: [
          { Key: 'a', Value: 'b","c' },
          { Key: '', Value: 'd' },
        ],
      }),
    );
    expect(stateHash({ ...base, createInstances: ['i-1', 'i-2'] })).not.toBe(
      stateHash({ ...base, createInstances: ['i-1,i-2'] }),
    );
    expect(stateHash({ ...base, createInstances: ['i-1', 'i-1'] })).not.toBe(
      stateHash({ ...base, createInstances: ['i-1'] }),
    );
  });

  it('ignores the order of tags, of created instances and of the object keys', () => {
    const reordered = {
      ...base,
      tags: base.tags.toReversed(),
      createInstances: base.createInstances.toReversed(),
    };
    const keysReversed = Object.fromEntries(Object.entries(base).reverse()) as unknown as ImageState;
    expect(stateHash(reordered)).toBe(stateHash(base));
    expect(stateHash(keysReversed)).toBe(stateHash(base));
  });

  it('does not depend on how the API spelled the item: number text, key order, time format, unknown fields', () => {
    const item = {
      ImageId: 'm-1',
      Status: '1',
      Name: 'web',
      RequiredSystemDiskSize: 40,
      UserId: '1234567890123456',
      CreationTime: '2026-01-01T00:00:00Z',
      Tags: [
        { Key: 'env', Value: 'prod' },
        { Key: 'team', Value: 'core' },
      ],
    };
    const spelled = {
      Tags: [
        { Value: 'core', Key: 'team' },
        { Key: 'env', Value: 'prod', Extra: 1 },
      ],
      CreationTime: '2026-01-01T08:00:00+08:00',
      UserId: '1234567890123456',
      RequiredSystemDiskSize: '40',
      Name: 'web',
      Status: '1',
      ImageId: 'm-1',
      FutureField: { Nested: [1, 2] },
      RegionId: 'cn-hangzhou',
    };
    const decode = (raw: unknown) => {
      const decoded = decodeItem(raw, 'cn-hangzhou', { page: 1, index: 0 });
      if (isRejected(decoded)) throw new Error(`rejected: ${decoded.field} ${decoded.reason}`);
      return decoded;
    };
    const a = decode(item);
    const b = decode(spelled);
    expect(b.raw).not.toEqual(a.raw);
    expect(b.hash).toBe(a.hash);
    expect(a.hash).toBe(stateHash(a.state));
  });

  it('never changes for a given state: the hashes are stored, so a new spelling would re-compare every image', () => {
    expect(stateHash(base)).toBe('zkjMguZlu9DL1qwnibzj-R2fhdM2u6KGFjn796PIPD8');
    const sparse: ImageState = {
      ...base,
      tags: [],
      createInstances: [],
      name: null,
      userId: null,
      creationTime: null,
      requiredDataDiskSize: null,
    };
    expect(stateHash(sparse)).toBe('ImfBZejKcRAwGvh5GvxoEP8FmilkzV5vGXnGxTSDuvI');
  });

  it('hashes the attributes in IMAGE_ATTRIBUTES order, lists sorted, as one JSON array', () => {
    const sortedPairs = (state: ImageState) =>
      state.tags
        .map((tag) => [tag.Key, tag.Value])
        .sort((a, b) => compareText(a[0] ?? '', b[0] ?? '') || compareText(a[1] ?? '', b[1] ?? ''));
    const reference = (state: ImageState) =>
      hash(
        'sha256',
        JSON.stringify(
          IMAGE_ATTRIBUTES.map((attribute) =>
            attribute === 'tags'
              ? sortedPairs(state)
              : attribute === 'createInstances'
                ? state.createInstances.toSorted(compareText)
                : state[attribute],
          ),
        ),
        'base64url',
      );
    fc.assert(
      fc.property(stateArb, (state) => {
        expect(stateHash(state)).toBe(reference(state));
      }),
    );
  });

  it('is text that fits a column: the same length for every state', () => {
    fc.assert(
      fc.property(stateArb, (state) => {
        expect(stateHash(state)).toMatch(/^[A-Za-z0-9_-]{43}$/);
      }),
    );
  });
});
