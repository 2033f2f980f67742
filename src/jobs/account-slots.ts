import type { Rate } from '../shared/duration.ts';

/**
 * Which account's full sync may take a worker slot now (docs/rate-budget.md, "Fairness"). A sync
 * starts only when its account's budget could grant a call now and the account holds fewer than
 * `maxPerAccount` of this process's slots; any other sync goes back to the delayed set until its
 * account's turn, so a slot never waits for one account's quota while another account could use it.
 *
 * Turns of one account are spaced one average call spacing (interval / limit) apart, so that n
 * deferred syncs of a quota-bound account come back one by one at the pace the quota allows,
 * instead of all at once to be deferred again. This is a hint kept in the process: a replica that
 * restarts starts with none, and every deferred job comes back by itself at its time.
 */
export interface AccountSlots {
  /**
   * `budgetWaitMs`: how long until the account's budget could grant a call (0: now; possibly an
   * overestimate while a call is in flight). Returns a release to call when the sync ends, or the
   * epoch ms at which to try again.
   */
  admit(account: string, rate: Rate, budgetWaitMs: number): { release(): void } | { retryAt: number };
}

export interface AccountSlotsOptions {
  /** Full syncs of one account in flight in this process at most. */
  maxPerAccount: number;
  now(): number;
}

export function createAccountSlots(options: AccountSlotsOptions): AccountSlots {
  const accounts = new Map<string, { inFlight: number; lastTurn: number }>();
  return {
    admit(account, rate, budgetWaitMs) {
      const now = options.now();
      const state = accounts.get(account) ?? { inFlight: 0, lastTurn: Number.NEGATIVE_INFINITY };
      accounts.set(account, state);
      if (budgetWaitMs <= 0 && state.inFlight < options.maxPerAccount) {
        state.inFlight++;
        let released = false;
        return {
          release: () => {
            if (released) return;
            released = true;
            state.inFlight--;
          },
        };
      }
      const spacing = rate.intervalMs / rate.limit;
      // No honest wait exceeds the interval: beyond it the budget counts a call still in flight as
      // ending late, and it usually ends within milliseconds.
      const wait = Math.min(Math.max(budgetWaitMs, budgetWaitMs > 0 ? 0 : spacing), rate.intervalMs);
      const retryAt = Math.ceil(Math.max(now + wait, state.lastTurn + spacing));
      state.lastTurn = retryAt;
      return { retryAt };
    },
  };
}
