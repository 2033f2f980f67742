import { describe, expect, it } from 'vitest';
import { createAccountSlots } from './account-slots.ts';

const RATE = { limit: 2, intervalMs: 60_000 };

describe('account slots', () => {
  it('starts a sync when the budget has room and the account is under its share of slots', () => {
    const slots = createAccountSlots({ maxPerAccount: 2, now: () => 1_000 });
    const first = slots.admit('a', RATE, 0);
    const second = slots.admit('a', RATE, 0);
    expect('release' in first && 'release' in second).toBe(true);
    // A third sync of the account would hold a slot another account could use: it tries again soon.
    expect(slots.admit('a', RATE, 0)).toEqual({ retryAt: 1_250 });
    expect('release' in slots.admit('b', RATE, 0)).toBe(true);
    if ('release' in first) first.release();
    expect('release' in slots.admit('a', RATE, 0)).toBe(true);
  });

  it('sends quota-bound syncs back in batches the window can take, one interval apart', () => {
    let now = 0;
    const slots = createAccountSlots({ maxPerAccount: 4, now: () => now });
    const retries = Array.from({ length: 5 }, () => slots.admit('a', RATE, 2_500));
    expect(retries).toEqual([
      { retryAt: 2_600 },
      { retryAt: 2_600 },
      { retryAt: 62_600 },
      { retryAt: 62_600 },
      { retryAt: 122_600 },
    ]);
    // Deferred again within the first window (a call of the batch ended late): back in this window,
    // not behind the next batch.
    now = 2_700;
    expect(slots.admit('a', RATE, 300)).toEqual({ retryAt: 3_100 });
    // Another account has turns of its own.
    expect(slots.admit('b', RATE, 1_000)).toEqual({ retryAt: 3_800 });
    // A wait inflated by a call still in flight is capped at the interval.
    now = 100_000;
    expect(slots.admit('c', RATE, 85_000)).toEqual({ retryAt: 160_100 });
  });
});
