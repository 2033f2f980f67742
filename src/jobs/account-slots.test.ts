import { describe, expect, it } from 'vitest';
import { createAccountSlots } from './account-slots.ts';

describe('account slots', () => {
  it('lets an account hold at most its share of the slots, and frees one on release', () => {
    const slots = createAccountSlots({ maxPerAccount: 2 });
    const first = slots.take('a');
    const second = slots.take('a');
    expect(first).toBeDefined();
    expect(second).toBeDefined();
    // A third sync of the account would hold a slot another account could use.
    expect(slots.take('a')).toBeUndefined();
    expect(slots.take('b')).toBeDefined();
    first?.release();
    // Releasing twice frees one slot, not two.
    first?.release();
    expect(slots.take('a')).toBeDefined();
    expect(slots.take('a')).toBeUndefined();
  });
});
