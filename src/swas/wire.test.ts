import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { IMAGE_STATUSES, type ListedImage, type RejectedItem } from '../sync/model.ts';
import { stateHash } from '../sync/state-hash.ts';
import { readApiJson } from './json-reader.ts';
import { decodeItem, IMAGE_ID_PATTERN, isRejected } from './wire.ts';

const REGION = 'cn-hangzhou';
const MAX_INT4 = 2_147_483_647;
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The item fields of a ListCustomImages item. */
const API_FIELDS = [
  'ImageId',
  'Status',
  'RegionId',
  'Name',
  'Description',
  'InShare',
  'InShareUser',
  'InstanceId',
  'InstanceName',
  'SystemSnapshotId',
  'SystemSnapshotName',
  'DataSnapshotId',
  'DataSnapshotName',
  'ResourceGroupId',
  'OsType',
  'RequiredSystemDiskSize',
  'RequiredDataDiskSize',
  'SourceImageName',
  'SourceImageVersion',
  'UserId',
  'Tags',
  'CreateInstances',
  'CreationTime',
] as const;

const decode = (item: unknown, index = 0) => decodeItem(item, REGION, { page: 2, index });

function listed(item: unknown): ListedImage {
  const result = decode(item);
  if (isRejected(result)) throw new Error(`rejected: ${result.field}: ${result.reason}`);
  return result;
}

function rejected(item: unknown): RejectedItem {
  const result = decode(item);
  if (!isRejected(result)) throw new Error('expected a rejection');
  return result;
}

const valid = { ImageId: 'm-1', Status: '1', RegionId: REGION };

describe('decodeItem', () => {
  it('decodes a valid item, keeping the raw item and hashing the state', () => {
    const item = {
      ...valid,
      Name: 'web',
      RequiredSystemDiskSize: '40',
      UserId: '1234567890123456',
      Future: [1],
    };
    const image = listed(item);
    expect(image.state).toMatchObject({
      imageId: 'm-1',
      regionId: REGION,
      name: 'web',
      requiredSystemDiskSize: 40,
    });
    expect(image.raw).toEqual(item);
    expect(image.hash).toBe(stateHash(image.state));
  });

  it('takes the scope region for an item without RegionId, and rejects another region, keeping the id', () => {
    expect(listed({ ImageId: 'm-1', Status: '1' }).state.regionId).toBe(REGION);
    expect(rejected({ ...valid, RegionId: 'cn-beijing' })).toEqual({
      imageId: 'm-1',
      page: 2,
      index: 0,
      field: 'RegionId',
      reason: 'listed in cn-hangzhou but says cn-beijing',
    });
  });

  it('takes an ImageId of printable ASCII up to 128 characters, else rejects the item without an id', () => {
    expect(listed({ ...valid, ImageId: 'm-'.padEnd(128, 'x') }).state.imageId).toHaveLength(128);
    for (const id of ['', 'm 1', 'm-é', 'm-\u0000', 'm-'.padEnd(129, 'x'), 'x'.repeat(300_000), 42, null]) {
      const item = rejected({ ...valid, ImageId: id });
      expect(item.imageId).toBeNull();
      expect(item.field).toBe('ImageId');
    }
    expect(rejected({ Status: '1' })).toMatchObject({ imageId: null, field: 'ImageId' });
  });

  it('rejects a non-object item without an id', () => {
    for (const item of [null, 5, 'm-1', [valid], true]) {
      expect(rejected(item)).toEqual({
        imageId: null,
        page: 2,
        index: 0,
        field: 'item',
        reason: 'expected an object',
      });
    }
  });

  it('keeps the id of an item rejected for another field, naming the field', () => {
    expect(rejected({ ...valid, Status: '9' })).toMatchObject({ imageId: 'm-1', field: 'Status' });
    expect(rejected({ ...valid, Tags: [{ Key: 5, Value: 'x' }] })).toMatchObject({
      imageId: 'm-1',
      field: 'Tags[0].Key',
    });
    expect(rejected({ ...valid, InShare: 'yes' })).toMatchObject({ imageId: 'm-1', field: 'InShare' });
  });

  it('names the first unusable field, in the API field order, and says why', () => {
    const reasonOf = (item: Record<string, unknown>) => {
      const { field, reason } = rejected(item);
      return `${field}: ${reason}`;
    };
    expect(reasonOf({ Status: '1' })).toBe('ImageId: required');
    expect(reasonOf({ ImageId: 'm-1' })).toBe('Status: required');
    expect(reasonOf({ ...valid, Status: 1 })).toBe('Status: expected a status code "0".."4"');
    expect(reasonOf({ ...valid, Name: 7, InShare: 'yes' })).toBe('Name: expected text, got number');
    expect(reasonOf({ ...valid, RequiredDataDiskSize: '-1' })).toBe(
      'RequiredDataDiskSize: expected an integer up to 2147483647, got "-1"',
    );
    expect(reasonOf({ ...valid, Tags: [{ Key: 'a', Value: 'b' }, { Value: 'c' }] })).toBe(
      'Tags[1].Key: required',
    );
    expect(reasonOf({ ...valid, Tags: [{ Key: 'a', Value: 5 }] })).toBe(
      'Tags[0].Value: expected text, got number',
    );
    expect(reasonOf({ ...valid, Tags: {} })).toBe('Tags: expected a list of tags, got object');
    expect(reasonOf({ ...valid, CreateInstances: ['i-1', null] })).toBe(
      'CreateInstances[1]: expected text, got null',
    );
    expect(reasonOf({ ...valid, UserId: 'x'.repeat(100) })).toMatch(
      /^UserId: expected an account id of digits, got "x{50,}\.\.\.$/,
    );
  });

  it('takes disk sizes as integers 0..2147483647, given as numbers or digits', () => {
    for (const [given, taken] of [
      [0, 0],
      ['40', 40],
      [MAX_INT4, MAX_INT4],
      [String(MAX_INT4), MAX_INT4],
      [null, null],
    ] as const) {
      expect(listed({ ...valid, RequiredDataDiskSize: given }).state.requiredDataDiskSize).toBe(taken);
    }
    for (const bad of [
      -1,
      '-1',
      40.5,
      '40.5',
      MAX_INT4 + 1,
      String(MAX_INT4 + 1),
      '99999999999',
      1e300,
      '',
      'forty',
      true,
    ]) {
      expect(rejected({ ...valid, RequiredSystemDiskSize: bad })).toMatchObject({
        imageId: 'm-1',
        field: 'RequiredSystemDiskSize',
      });
    }
  });

  it('takes ISO times from 1970 on as UTC, and rejects anything else', () => {
    expect(listed({ ...valid, CreationTime: '2024-05-01T08:00:00Z' }).state.creationTime).toBe(
      '2024-05-01T08:00:00.000Z',
    );
    expect(listed({ ...valid, CreationTime: '2024-05-01T08:00:00' }).state.creationTime).toBe(
      '2024-05-01T08:00:00.000Z',
    );
    expect(listed({ ...valid, CreationTime: '2024-05-01T08:00:00+08:00' }).state.creationTime).toBe(
      '2024-05-01T00:00:00.000Z',
    );
    expect(listed({ ...valid, CreationTime: '2024-05-01T08:00Z' }).state.creationTime).toBe(
      '2024-05-01T08:00:00.000Z',
    );
    for (const bad of [
      '0',
      '',
      '1969-12-31T23:59:59Z',
      '2024-13-45T99:99:99Z',
      '2024-05-01',
      // Beyond what the column holds once in UTC: year 10000, year 0.
      '9999-12-31T23:00:00-05:00',
      '0000-01-01T00:00:00Z',
      'yesterday',
      1714550400000,
    ]) {
      expect(rejected({ ...valid, CreationTime: bad })).toMatchObject({
        imageId: 'm-1',
        field: 'CreationTime',
      });
    }
  });

  it('reads a time in the API spelling as Date would, whatever its digits, rolled-over days included', () => {
    const two = fc.integer({ min: 0, max: 99 }).map((n) => String(n).padStart(2, '0'));
    const spelled = fc
      .tuple(fc.integer({ min: 1970, max: 9999 }), two, two, two, two, two)
      .map(([y, mo, d, h, mi, s]) => `${y}-${mo}-${d}T${h}:${mi}:${s}Z`);
    fc.assert(
      fc.property(spelled, (time) => {
        const outcome = decodeItem({ ...valid, CreationTime: time }, REGION, { page: 1, index: 0 });
        if (Number.isNaN(Date.parse(time))) expect(isRejected(outcome)).toBe(true);
        else
          expect(listed({ ...valid, CreationTime: time }).state.creationTime).toBe(
            new Date(time).toISOString(),
          );
      }),
      { numRuns: 2000 },
    );
    for (const time of [
      '2024-02-30T00:00:00Z',
      '2023-02-29T12:00:00Z',
      '2024-01-01T24:00:00Z',
      '2000-02-29T00:00:00Z',
    ])
      expect(listed({ ...valid, CreationTime: time }).state.creationTime).toBe(new Date(time).toISOString());
  });

  it('takes UserId as digits and rejects a negative or fractional one', () => {
    expect(listed({ ...valid, UserId: '9007199254740993' }).state.userId).toBe('9007199254740993');
    expect(listed({ ...valid, UserId: 42 }).state.userId).toBe('42');
    // Past 2^53 a number has lost digits already (a fraction or an exponent in the JSON: the
    // reader keeps the text of plain integers only): no account id can be told from it.
    for (const bad of [-1, 1.5, '-1', 'abc', Number('12345678901234567.5'), 1e21])
      expect(rejected({ ...valid, UserId: bad })).toMatchObject({ field: 'UserId' });
  });
});

// ---- the fuzz ---------------------------------------------------------------------------------

/** Text of every kind: NUL, lone surrogates, control characters, quotes, huge. */
const hostileText: fc.Arbitrary<string> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.constantFrom(
            '\u0000',
            '\ud800',
            '\udfff',
            '\u001b[31m',
            '\u0007',
            '\n',
            '"',
            '\\',
            '\u2400',
            '\ufffd',
            'é',
            '😀',
          ),
          fc.string({ unit: 'binary', maxLength: 4 }),
        ),
        { maxLength: 12 },
      )
      .map((parts) => parts.join('')),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'm-1',
      'm-2',
      REGION,
      'cn-beijing',
      '1',
      '3',
      '40',
      '2024-05-01T08:00:00Z',
      '0',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('m-'.padEnd(129, '9'), 'x'.repeat(2_000)) },
);

/** Number literals of every shape, as JSON text. */
const numberText: fc.Arbitrary<string> = fc.oneof(
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((n) => JSON.stringify(n)),
  fc.bigInt({ min: -(10n ** 30n), max: 10n ** 30n }).map(String),
  fc.constantFrom(
    '1e400',
    '-1e400',
    '2147483647',
    '2147483648',
    '9007199254740993',
    '40.0',
    '4E1',
    '-0',
    '0.5',
    '1e-7',
  ),
);

/** A value placeholder the serializer replaces with number text. */
interface RawNumber {
  numberText: string;
}

const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileText },
  { weight: 3, arbitrary: numberText.map((text): RawNumber => ({ numberText: text })) },
  { weight: 1, arbitrary: fc.constantFrom(null, true, false, [], {}) },
  {
    weight: 1,
    arbitrary: fc.array(
      fc.oneof(hostileText, fc.record({ Key: hostileText, Value: fc.oneof(hostileText, fc.constant(null)) })),
      { maxLength: 3 },
    ),
  },
);

const hostileItem: fc.Arbitrary<unknown> = fc.oneof(
  {
    weight: 10,
    arbitrary: fc
      .tuple(
        fc.record(Object.fromEntries(API_FIELDS.map((field) => [field, hostileValue])), { requiredKeys: [] }),
        fc.record({
          ImageId: fc.constantFrom('m-1', 'm-2'),
          Status: fc.constantFrom(...Object.keys(IMAGE_STATUSES)),
        }),
        fc.boolean(),
        fc.dictionary(hostileText, hostileValue, { maxKeys: 2 }),
        fc.oneof(
          { weight: 30, arbitrary: fc.constant(null) },
          {
            weight: 1,
            arbitrary: fc.record({
              field: fc.constantFrom(...API_FIELDS),
              size: fc.constantFrom(300_000, 1_000_000),
            }),
          },
        ),
      )
      // Half the items start valid, so that both outcomes are common; a few carry a huge text.
      .map(([fields, base, startValid, unknown, huge]) => ({
        ...unknown,
        ...(startValid ? base : {}),
        ...fields,
        ...(huge ? { [huge.field]: 'x'.repeat(huge.size) } : {}),
      })),
  },
  { weight: 1, arbitrary: hostileValue },
);

/** JSON text of a page, numbers spelled as generated. */
function pageText(items: unknown[]): string {
  const numbers: string[] = [];
  const text = JSON.stringify({ TotalCount: items.length, CustomImages: items }, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && 'numberText' in value) {
      numbers.push((value as RawNumber).numberText);
      return `@@number-${numbers.length - 1}@@`;
    }
    return value;
  });
  return text.replace(/"@@number-(\d+)@@"/g, (_match, index: string) => numbers[Number(index)] ?? '0');
}

function allTexts(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(allTexts);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, inner]) => [key, ...allTexts(inner)]);
  return [];
}

function expectStorable(image: ListedImage): void {
  const { state } = image;
  expect(state.imageId).toMatch(IMAGE_ID_PATTERN);
  expect(state.regionId).toBe(REGION);
  expect(Object.keys(IMAGE_STATUSES)).toContain(state.status);
  for (const size of [state.requiredSystemDiskSize, state.requiredDataDiskSize]) {
    if (size !== null) {
      expect(Number.isInteger(size)).toBe(true);
      expect(size).toBeGreaterThanOrEqual(0);
      expect(size).toBeLessThanOrEqual(MAX_INT4);
    }
  }
  if (state.userId !== null) expect(state.userId).toMatch(/^\d+$/);
  if (state.creationTime !== null) {
    expect(state.creationTime).toBe(new Date(state.creationTime).toISOString());
    expect(Date.parse(state.creationTime)).toBeGreaterThanOrEqual(0);
  }
  for (const text of [...allTexts(state), ...allTexts(image.raw)])
    expect(UNSTORABLE.test(text), JSON.stringify(text.slice(0, 40))).toBe(false);
  expect(() => JSON.stringify(image.raw)).not.toThrow();
  expect(image.hash).toBe(stateHash(state));
}

describe('decodeItem over hostile pages', () => {
  it('never throws: each item read through readApiJson is a storable image or a rejection naming a field', () => {
    fc.assert(
      fc.property(fc.array(hostileItem, { maxLength: 4 }), (items) => {
        const body = readApiJson(pageText(items));
        expect(body.ok).toBe(true);
        if (!body.ok) return;
        const page = body.value as { CustomImages: unknown[] };
        expect(page.CustomImages).toHaveLength(items.length);
        page.CustomImages.forEach((item, index) => {
          const result = decode(item, index);
          if (isRejected(result)) {
            expect(result.field.length).toBeGreaterThan(0);
            expect(result.reason.length).toBeGreaterThan(0);
            expect(result).toMatchObject({ page: 2, index });
            if (result.imageId !== null) {
              expect(result.imageId).toMatch(IMAGE_ID_PATTERN);
              expect(result.imageId).toBe((item as { ImageId?: unknown }).ImageId);
            }
            const first = result.field.split(/[.[]/)[0];
            expect(['item', ...API_FIELDS]).toContain(first);
          } else expectStorable(result);
        });
      }),
      { numRuns: 200 },
    );
  }, 60_000);

  it('never throws on any value at all, read or not', () => {
    fc.assert(
      fc.property(fc.oneof(fc.anything(), hostileItem), (item) => {
        const result = decode(item);
        if (isRejected(result)) expect(result.field.length).toBeGreaterThan(0);
        else expect(result.hash).toBe(stateHash(result.state));
      }),
    );
  });

  it('stores every valid item of a page whose other items are bad', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(hostileItem, fc.constant('valid')), { maxLength: 6 }), (items) => {
        const page = items.map((item, index) =>
          item === 'valid' ? { ImageId: `m-valid-${index}`, Status: '1', Name: 'web' } : item,
        );
        const body = readApiJson(pageText(page));
        if (!body.ok) throw new Error(body.reason);
        const decoded = (body.value as { CustomImages: unknown[] }).CustomImages.map((item, index) =>
          decode(item, index),
        );
        items.forEach((item, index) => {
          if (item !== 'valid') return;
          const result = decoded[index];
          expect(result && !isRejected(result) && result.state.imageId).toBe(`m-valid-${index}`);
        });
      }),
    );
  });
});
