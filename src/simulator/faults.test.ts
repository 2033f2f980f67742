import { describe, expect, it } from 'vitest';
import { createFaultRegistry, type FaultContext } from './faults.ts';

const listing = (pageNumber: number, regionId = 'cn-hangzhou'): FaultContext => ({
  action: 'ListCustomImages',
  regionId,
  pageNumber,
  accessKeyId: 'testid',
});
const regions: FaultContext = {
  action: 'ListRegions',
  regionId: null,
  pageNumber: null,
  accessKeyId: 'testid',
};

describe('fault registry', () => {
  it('matches by action, region, page and key; unset scope fields match anything', () => {
    const faults = createFaultRegistry();
    const any = faults.inject({ kind: 'latency', ms: 5 });
    const page2 = faults.inject({ kind: 'error', status: 503, code: 'ServiceUnavailable', pageNumber: 2 });
    const shanghai = faults.inject({ kind: 'reset', regionId: 'cn-shanghai', action: 'ListCustomImages' });
    const otherKey = faults.inject({ kind: 'hang', accessKeyId: 'someone-else' });
    const ids = (context: FaultContext) => faults.matching(context).map((fault) => fault.id);
    expect(ids(listing(1))).toEqual([any]);
    expect(ids(listing(2))).toEqual([any, page2]);
    expect(ids(listing(1, 'cn-shanghai'))).toEqual([any, shanghai]);
    expect(ids(regions)).toEqual([any]);
    expect(faults.list().map((fault) => fault.id)).toContain(otherKey);
  });

  it('keeps ListCustomImages-only kinds away from ListRegions', () => {
    const faults = createFaultRegistry();
    faults.inject({ kind: 'drift', remove: 1 });
    faults.inject({ kind: 'numeric-counts', times: Infinity });
    expect(faults.matching(regions)).toEqual([]);
    expect(faults.matching(listing(1))).toHaveLength(2);
    expect(() => faults.inject({ kind: 'drift', action: 'ListRegions' })).toThrow(/ListCustomImages only/);
  });

  it('uses a fault up after `times` takes; Infinity (or "Infinity") until removed', () => {
    const faults = createFaultRegistry();
    const twice = faults.inject({ kind: 'throttle', times: 2 });
    const forever = faults.inject({ kind: 'malformed-json', times: 'Infinity' });
    expect(faults.take(twice)).toBe(true);
    expect(faults.list().find((fault) => fault.id === twice)).toMatchObject({ remaining: 1, applied: 1 });
    expect(faults.take(twice)).toBe(true);
    expect(faults.take(twice)).toBe(false);
    for (let i = 0; i < 50; i++) expect(faults.take(forever)).toBe(true);
    expect(faults.list()).toEqual([
      expect.objectContaining({ id: forever, kind: 'malformed-json', remaining: Infinity, applied: 50 }),
    ]);
    expect(faults.remove(forever)).toBe(true);
    expect(faults.take(forever)).toBe(false);
  });

  it('rejects malformed faults with every problem named', () => {
    const faults = createFaultRegistry();
    const invalid = (input: unknown) =>
      expect(() => faults.inject(input)).toThrow(
        expect.objectContaining({ code: 'simulator.invalid_fault' }),
      );
    invalid({ kind: 'explode' });
    invalid({ kind: 'error', status: 200, code: 'X' });
    invalid({ kind: 'latency' });
    invalid({ kind: 'throttle', page: 2 }); // a typo of pageNumber must not silently match every page
    invalid({ kind: 'throttle', times: 0 });
    invalid({ kind: 'throttle', times: 1.5 });
    invalid('throttle');
    expect(() => faults.inject({ kind: 'missing-field', times: -1 })).toThrow(/times.*field|field.*times/s);
    expect(faults.list()).toEqual([]);
  });

  it('clears everything', () => {
    const faults = createFaultRegistry();
    faults.inject({ kind: 'hang' });
    faults.inject({ kind: 'reset' });
    faults.clear();
    expect(faults.list()).toEqual([]);
    expect(faults.matching(listing(1))).toEqual([]);
  });
});
