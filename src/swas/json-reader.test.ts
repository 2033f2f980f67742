import { describe, expect, it } from 'vitest';
import { readApiJson } from './json-reader.ts';

describe('readApiJson', () => {
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
  });

  it('keeps ordinary numbers as numbers and any other unsafe integer as its digits', () => {
    const result = readApiJson(
      '{"TotalCount":250,"Size":1.5,"Neg":-3,"Huge":123456789012345678901,"Exp":1e21}',
    );
    expect(result).toEqual({
      ok: true,
      value: { TotalCount: 250, Size: 1.5, Neg: -3, Huge: '123456789012345678901', Exp: 1e21 },
    });
  });

  it('reports malformed and empty bodies without throwing', () => {
    const truncated = readApiJson('{"TotalCount": ');
    expect(truncated.ok).toBe(false);
    expect(readApiJson('<html>bad gateway</html>').ok).toBe(false);
    expect(readApiJson('  ')).toEqual({ ok: false, reason: 'empty body' });
  });
});
