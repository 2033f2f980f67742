import { describe, expect, it } from 'vitest';
import { parseStoredKeys } from './stored-keys.ts';

describe('parseStoredKeys', () => {
  it('reads a line per row, empty nullable fields as null', () => {
    const text = [
      'm-a 3  1796212871853.123 hashA',
      'm-b 1 1796212871000 1796212871000 ',
      'm-c 12  1.7e+12 hashC',
    ].join('\n');
    expect(parseStoredKeys(text)).toEqual([
      { imageId: 'm-a', version: 3, deletedAt: null, observedAt: 1796212871853.123, hash: 'hashA' },
      { imageId: 'm-b', version: 1, deletedAt: 1796212871000, observedAt: 1796212871000, hash: null },
      { imageId: 'm-c', version: 12, deletedAt: null, observedAt: 1.7e12, hash: 'hashC' },
    ]);
  });

  it('reads no rows from a scope without any (the aggregate is NULL)', () => {
    expect(parseStoredKeys(null)).toEqual([]);
    expect(parseStoredKeys('')).toEqual([]);
  });

  it('takes the fields from the end of a line, so an id with a space still reads whole', () => {
    expect(parseStoredKeys('odd id\\"\' 2  5 h')).toEqual([
      { imageId: 'odd id\\"\'', version: 2, deletedAt: null, observedAt: 5, hash: 'h' },
    ]);
  });

  it('reads text that is not ASCII as it is', () => {
    expect(parseStoredKeys('m-é 1  5 hé\nm-b 2 7 8 ')).toEqual([
      { imageId: 'm-é', version: 1, deletedAt: null, observedAt: 5, hash: 'hé' },
      { imageId: 'm-b', version: 2, deletedAt: 7, observedAt: 8, hash: null },
    ]);
  });

  it('names a line without its five fields instead of reading it wrongly', () => {
    expect(() => parseStoredKeys('m-a 1 2 h\nm-b 1')).toThrow(/unreadable stored key line: m-a 1 2 h/);
    expect(() => parseStoredKeys('m-a 1  5 h\nm-b 1')).toThrow(/unreadable stored key line: m-b 1$/);
  });
});
