import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../shared/clock.ts';
import { createQuota } from './quota.ts';

describe('quota', () => {
  it('admits `limit` calls, refuses the next with the wait until the oldest expires, then admits again', () => {
    const clock = createManualClock();
    const quota = createQuota({ limit: 3, intervalMs: 60_000, clock });
    expect(quota.admit('k').admitted).toBe(true);
    clock.advance(10_000);
    expect(quota.admit('k').admitted).toBe(true);
    expect(quota.admit('k').admitted).toBe(true);
    expect(quota.admit('k')).toEqual({ admitted: false, retryAfterMs: 50_000 });
    expect(quota.admit('other').admitted).toBe(true);
    clock.advance(49_999);
    expect(quota.admit('k').admitted).toBe(false);
    clock.advance(1);
    expect(quota.admit('k').admitted).toBe(true);
    expect(quota.admit('k').admitted).toBe(false);
    quota.reset();
    expect(quota.admit('k').admitted).toBe(true);
  });

  it('rejects a limit below 1 and an empty interval', () => {
    expect(() => createQuota({ limit: 0, intervalMs: 1000, clock: createManualClock() })).toThrow(
      expect.objectContaining({ code: 'simulator.invalid_quota' }),
    );
    expect(() => createQuota({ limit: 1, intervalMs: 0, clock: createManualClock() })).toThrow(
      expect.objectContaining({ code: 'simulator.invalid_quota' }),
    );
  });

  it('never admits more than `limit` calls in any interval, and refuses only when the window is full', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.array(fc.integer({ min: 0, max: 400 }), { maxLength: 60 }),
        (limit, intervalMs, gaps) => {
          const clock = createManualClock(0);
          const quota = createQuota({ limit, intervalMs, clock });
          const admitted: number[] = [];
          for (const gap of gaps) {
            clock.advance(gap);
            const now = clock.now();
            const inWindow = admitted.filter((at) => at > now - intervalMs);
            const admission = quota.admit('k');
            if (admission.admitted) {
              admitted.push(now);
              expect(inWindow.length).toBeLessThan(limit);
            } else {
              expect(inWindow.length).toBe(limit);
              expect(admission.retryAfterMs).toBe((inWindow[0] ?? now) + intervalMs - now);
            }
          }
          for (let i = limit; i < admitted.length; i++) {
            expect((admitted[i] ?? 0) - (admitted[i - limit] ?? 0)).toBeGreaterThanOrEqual(intervalMs);
          }
        },
      ),
    );
  });
});
