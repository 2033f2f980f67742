import { describe, expect, it } from 'vitest';
import { otherValue, richImageState } from '../../test/support/image-states.ts';
import { IMAGE_ATTRIBUTES } from './event-payloads.ts';
import type { ImageState } from './model.ts';
import { changedAttributes, compareText, sameState, sameStrings, sameTags } from './state-changes.ts';

const base = richImageState;

describe('sameState', () => {
  it('holds for equal values in distinct objects', () => {
    expect(sameState(base, structuredClone(base))).toBe(true);
    expect(changedAttributes(base, structuredClone(base))).toEqual([]);
  });

  it('sees a change in every versioned attribute, alone', () => {
    for (const attribute of IMAGE_ATTRIBUTES) {
      const changed = { ...base, [attribute]: otherValue[attribute] };
      expect(sameState(base, changed), attribute).toBe(false);
      expect(changedAttributes(base, changed)).toEqual([attribute]);
    }
  });

  it('ignores the order of tags and of created instances', () => {
    const reordered: ImageState = {
      ...base,
      tags: base.tags.toReversed(),
      createInstances: base.createInstances.toReversed(),
    };
    expect(sameState(base, reordered)).toBe(true);
    expect(changedAttributes(base, reordered)).toEqual([]);
  });

  it('tells null from empty text and 0 from null', () => {
    expect(sameState({ ...base, name: null }, { ...base, name: '' })).toBe(false);
    expect(sameState({ ...base, requiredDataDiskSize: 0 }, { ...base, requiredDataDiskSize: null })).toBe(
      false,
    );
  });
});

describe('list comparisons', () => {
  it('compares tags as multisets of (Key, Value)', () => {
    const a = { Key: 'a', Value: '1' };
    const b = { Key: 'b', Value: '2' };
    expect(sameTags([a, b], [b, a])).toBe(true);
    expect(sameTags([a, b], [a])).toBe(false);
    expect(sameTags([a, a, b], [a, b, b])).toBe(false);
    expect(sameTags([a], [{ Key: 'a', Value: '2' }])).toBe(false);
    expect(
      sameTags(
        [
          { Key: 'a', Value: '1' },
          { Key: 'a', Value: '2' },
        ],
        [{ Key: 'a', Value: '2' }, a],
      ),
    ).toBe(true);
  });

  it('compares string lists as multisets', () => {
    expect(sameStrings(['x', 'y'], ['y', 'x'])).toBe(true);
    expect(sameStrings(['x', 'x', 'y'], ['x', 'y', 'y'])).toBe(false);
    expect(sameStrings([], [])).toBe(true);
    expect(sameStrings(['x'], [])).toBe(false);
  });

  it('does not reorder its arguments', () => {
    const tags = [
      { Key: 'b', Value: '1' },
      { Key: 'a', Value: '1' },
    ];
    const copy = structuredClone(tags);
    sameTags(tags, copy.toReversed());
    expect(tags).toEqual(copy);
  });

  it('orders text by code units, whatever the locale', () => {
    expect(['b', 'B', 'a', 'Z'].sort(compareText)).toEqual(['B', 'Z', 'a', 'b']);
  });
});
