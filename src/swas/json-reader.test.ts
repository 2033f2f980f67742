import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  MAX_DEPTH,
  NUL_SUBSTITUTE,
  readApiJson,
  readApiJsonBytes,
  SURROGATE_SUBSTITUTE,
  storableText,
  TOO_DEEP_TEXT,
} from './json-reader.ts';

/** What PostgreSQL text and jsonb cannot hold: NUL and a UTF-16 surrogate without its pair. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is looked for.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Every string and key of a parsed value. */
function texts(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (Array.isArray(value)) return value.flatMap(texts);
  if (value !== null && typeof value === 'object')
    return Object.entries(value).flatMap(([key, inner]) => [key, ...texts(inner)]);
  return [];
}

describe('readApiJson: big integers', () => {
  it('keeps every digit of a 16-digit UserId beyond 2^53 as decimal text', () => {
    const result = readApiJson('{"CustomImages":[{"ImageId":"m-1","UserId":9007199254740993}]}');
    expect(result).toEqual({
      ok: true,
      value: { CustomImages: [{ ImageId: 'm-1', UserId: '9007199254740993' }] },
    });
  });

  it('gives id keys as text whatever their size, so their type does not depend on the value', () => {
    expect(readApiJson('{"UserId":1801858287100000}')).toEqual({
      ok: true,
      value: { UserId: '1801858287100000' },
    });
    expect(readApiJson('{"UserId":42}')).toEqual({ ok: true, value: { UserId: '42' } });
    expect(readApiJson('{"UserId" : 0 }')).toEqual({ ok: true, value: { UserId: '0' } });
    expect(readApiJson('{"UserId":"42"}')).toEqual({ ok: true, value: { UserId: '42' } });
  });

  it('keeps ordinary numbers as numbers and any other unsafe integer as its digits', () => {
    const result = readApiJson(
      '{"TotalCount":250,"Size":1.5,"Neg":-3,"Huge":123456789012345678901,"NegHuge":-9007199254740993,"Safe16":1234567890123456,"Exp":1e21}',
    );
    expect(result).toEqual({
      ok: true,
      value: {
        TotalCount: 250,
        Size: 1.5,
        Neg: -3,
        Huge: '123456789012345678901',
        NegHuge: '-9007199254740993',
        Safe16: 1234567890123456,
        Exp: 1e21,
      },
    });
  });

  it('never touches the contents of a string, even one that reads like a member', () => {
    const body = String.raw`{"Description":"copy of \"UserId\":5, and \"Big\": 12345678901234567890}","UserId":5,"Name":"9007199254740993"}`;
    expect(readApiJson(body)).toEqual({
      ok: true,
      value: {
        Description: 'copy of "UserId":5, and "Big": 12345678901234567890}',
        UserId: '5',
        Name: '9007199254740993',
      },
    });
  });

  it('never changes a string, whatever member-like text it holds', () => {
    const piece = fc.constantFrom(
      '"',
      '\\',
      ':',
      ',',
      '}',
      ']',
      '{',
      ' ',
      'UserId',
      'Big',
      '9007199254740993',
      '5',
      '-',
    );
    const text = fc.array(piece, { maxLength: 16 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(text, text, (a, b) => {
        const result = readApiJson(JSON.stringify({ [a]: b, A: a, UserId: 7, List: [a, { B: b }] }));
        expect(result).toEqual({ ok: true, value: { [a]: b, A: a, UserId: '7', List: [a, { B: b }] } });
      }),
    );
  });

  it('keeps every digit of an unsafe integer inside an array too', () => {
    expect(readApiJson('{"Ids":[9007199254740993,1]}')).toEqual({
      ok: true,
      value: { Ids: ['9007199254740993', 1] },
    });
  });

  it('keeps every digit of any integer member of 16 or more digits, for any digits', () => {
    fc.assert(
      fc.property(
        fc.bigInt({ min: -(10n ** 40n), max: 10n ** 40n }),
        fc.constantFrom('', ' ', '\n\t'),
        (n, space) => {
          const digits = n.toString();
          const result = readApiJson(
            `{"Value":${space}${digits}${space},"UserId":${digits.replace('-', '')}}`,
          );
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          const value = result.value as { Value: unknown; UserId: unknown };
          expect(value.UserId).toBe(digits.replace('-', ''));
          if (Number.isSafeInteger(Number(digits))) expect(value.Value).toBe(Number(digits));
          else expect(value.Value).toBe(digits);
        },
      ),
    );
  });
});

describe('readApiJson: storable text', () => {
  it('substitutes NUL and lone surrogates in strings and keys, keeping valid pairs', () => {
    const body = String.raw`{"Name":"a\u0000b","Desc":"\ud800x\udc00","Emoji":"\ud83d\ude00","k\u0000ey":["\udbff"],"Plain":"\u2400"}`;
    expect(readApiJson(body)).toEqual({
      ok: true,
      value: {
        Name: `a${NUL_SUBSTITUTE}b`,
        Desc: `${SURROGATE_SUBSTITUTE}x${SURROGATE_SUBSTITUTE}`,
        Emoji: '😀',
        [`k${NUL_SUBSTITUTE}ey`]: [SURROGATE_SUBSTITUTE],
        Plain: '\u2400',
      },
    });
  });

  it('gives only storable text for any string a body can carry', () => {
    const unit = fc.oneof(
      fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff', '\u001b', '\u2400', '"', '\\'),
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    const text = fc.array(unit, { maxLength: 20 }).map((parts) => parts.join(''));
    fc.assert(
      fc.property(
        fc.dictionary(text, fc.oneof(text, fc.array(text, { maxLength: 3 })), { maxKeys: 4 }),
        (value) => {
          const result = readApiJson(JSON.stringify({ Item: value }));
          expect(result.ok).toBe(true);
          if (!result.ok) return;
          for (const found of texts(result.value))
            expect(UNSTORABLE.test(found), JSON.stringify(found)).toBe(false);
          // Lossless where possible: text that was storable is unchanged.
          for (const [key, inner] of Object.entries(value)) {
            const item = (result.value as { Item: Record<string, unknown> }).Item;
            if (!UNSTORABLE.test(key) && typeof inner === 'string' && !UNSTORABLE.test(inner))
              expect(item[key]).toBe(inner);
          }
        },
      ),
    );
  });

  it('storableText substitutes only what cannot be stored', () => {
    expect(storableText('plain ✓ 😀')).toBe('plain ✓ 😀');
    expect(storableText('\u0000\ud800\udc00\udc00')).toBe(
      `${NUL_SUBSTITUTE}\ud800\udc00${SURROGATE_SUBSTITUTE}`,
    );
  });
});

describe('readApiJson: nesting', () => {
  it('stores what is nested past the limit as a text, whatever the depth, and keeps the rest', () => {
    for (const depth of [MAX_DEPTH, 6_000]) {
      const deep = `${'['.repeat(depth)}1${']'.repeat(depth)}`;
      // An unsafe integer in an array and 16 digits in a text would send an uncut body through
      // the reviver, which recurses as deep as the body nests.
      const body = `{"CustomImages":[{"ImageId":"m-1","UserId":1234567890123456789,"Deep":${deep},"Text":"a\\u0000b","Extra":[12345678901234567890],"Build":"x1234567890123456789y"}]}`;
      const read = readApiJson(body);
      if (!read.ok) throw new Error(read.reason);
      const item = (read.value as { CustomImages: Record<string, unknown>[] }).CustomImages[0] ?? {};
      expect(item.UserId).toBe('1234567890123456789');
      expect(item.Text).toBe(`a${NUL_SUBSTITUTE}b`);
      // Root, CustomImages, the item, then the field's own levels: cut where the limit is passed.
      let value: unknown = item.Deep;
      let levels = 3;
      while (Array.isArray(value)) {
        value = value[0];
        levels++;
      }
      if (depth + 3 <= MAX_DEPTH + 1) expect(value).toBe(1);
      else expect([value, levels]).toEqual([TOO_DEEP_TEXT, MAX_DEPTH + 1]);
    }
  });
});

describe('readApiJson: malformed bodies', () => {
  it('reports malformed and empty bodies without throwing', () => {
    expect(readApiJson('{"TotalCount": ').ok).toBe(false);
    expect(readApiJson('<html>bad gateway</html>').ok).toBe(false);
    expect(readApiJson('  ')).toEqual({ ok: false, reason: 'empty body' });
    expect(readApiJson('{"Name":"raw \u0000 control"}').ok).toBe(false);
  });

  it('never echoes the body in its reason', () => {
    const secret = fc.stringMatching(/^[A-Za-z0-9+/]{8,40}$/);
    const broken = fc.constantFrom(
      (s: string) => `{"SecurityToken":"${s}", oops}`,
      (s: string) => `{"SecurityToken":"${s}"`,
      (s: string) => `${s}`,
      (s: string) => `{"a":1}${s}`,
      (s: string) => `{"${s}": }`,
      (s: string) => `<html>${s}</html>`,
      (s: string) => `{"x":"${s}\u0001"}`,
    );
    fc.assert(
      fc.property(secret, broken, (value, wrap) => {
        const result = readApiJson(wrap(value));
        if (result.ok) return;
        expect(result.reason.length).toBeLessThanOrEqual(120);
        // Eight characters: the reason's own words cannot match them by chance.
        expect(result.reason).not.toContain(value.slice(0, 8));
      }),
    );
  });
});

describe('readApiJsonBytes: UTF-8 bodies', () => {
  const utf8 = (text: string) => new Uint8Array(Buffer.from(text, 'utf8'));
  const decoded = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it('reads bad UTF-8 inside a string as a TextDecoder does: U+FFFD for each bad stretch', () => {
    // Any bytes but those that end a JSON string or need escaping in one.
    const stringBytes = fc
      .uint8Array({ maxLength: 40 })
      .map((bytes) => bytes.filter((byte) => byte >= 0x20 && byte !== 0x22 && byte !== 0x5c));
    fc.assert(
      fc.property(stringBytes, (inner) => {
        const bytes = new Uint8Array([0x22, ...utf8('abc'), ...inner, 0x22]);
        expect(readApiJsonBytes(bytes)).toEqual({ ok: true, value: `abc${decoded(inner)}` });
      }),
      { numRuns: 500 },
    );
    expect(readApiJsonBytes(new Uint8Array([0x22, ...utf8('abcdefghij'), 0xe4, 0xb8, 0x22]))).toEqual({
      ok: true,
      value: 'abcdefghij\ufffd',
    });
  });

  it('drops a leading byte order mark', () => {
    expect(
      readApiJsonBytes(new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('{"Name":"生产","Kind":"custom"}')])),
    ).toEqual({ ok: true, value: { Name: '生产', Kind: 'custom' } });
  });

  it('reads a body that is almost all non-ASCII', () => {
    const body = `{"Name":"${'é'.repeat(100_000)}中"}`;
    expect(readApiJsonBytes(utf8(body))).toEqual({ ok: true, value: { Name: `${'é'.repeat(100_000)}中` } });
  });

  it('makes the same text storable as the decoded body would be, whatever escapes it holds', () => {
    // JSON.stringify writes NUL and lone surrogates as escapes and every other character as is:
    // bodies with the escapes that must be substituted beside non-ASCII text that must not.
    fc.assert(
      fc.property(fc.jsonValue({ stringUnit: 'binary', maxDepth: 3 }), fc.boolean(), (value, wide) => {
        const text = JSON.stringify(wide ? { Name: '中文名称 🚀', Item: value } : value);
        expect(readApiJsonBytes(utf8(text))).toStrictEqual(readApiJson(text));
      }),
      { numRuns: 300 },
    );
    const body = '{"Name":"中文 🚀 a\\u0000b","Desc":"x\\udc00"}';
    expect(readApiJsonBytes(utf8(body))).toEqual({
      ok: true,
      value: { Name: `中文 🚀 a${NUL_SUBSTITUTE}b`, Desc: `x${SURROGATE_SUBSTITUTE}` },
    });
  });

  it('keeps astral characters and escapes the body already had', () => {
    const body =
      '{"Name":"🚀 \\u00e9 é 中 and some more text","Tags":[{"Key":"k","Value":"\\ud83d\\ude80"}]}';
    expect(readApiJsonBytes(utf8(body))).toEqual({
      ok: true,
      value: { Name: '🚀 é é 中 and some more text', Tags: [{ Key: 'k', Value: '🚀' }] },
    });
  });

  it('keeps every digit of a 16-digit-plus integer next to non-ASCII text', () => {
    expect(
      readApiJsonBytes(utf8('{"Name":"生产服务器","UserId":9007199254740993,"Big":12345678901234567890}')),
    ).toEqual({
      ok: true,
      value: { Name: '生产服务器', UserId: '9007199254740993', Big: '12345678901234567890' },
    });
  });

  it('rejects a body with a non-ASCII character outside a string, at its position in the body', () => {
    const body = '{"Name":"中文","Kind":"custom",\u00a0"Size":1}';
    const result = readApiJsonBytes(utf8(body));
    expect(result).toEqual(readApiJson(body));
    expect(result).toEqual({ ok: false, reason: `invalid JSON at position ${body.indexOf('\u00a0')}` });
  });
});
