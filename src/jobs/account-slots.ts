import type { Rate } from '../shared/duration.ts';

/**
 * Which account's full sync may take a worker slot now (docs/rate-budget.md, "Fairness"). A sync
 * starts only when its account's budget could grant a call now and the account holds fewer than
 * `maxPerAccount` of this process's slots; any other sync goes back to the delayed set until its
 * account's turn, so a slot never waits for one account's quota while another account could use it.
 *
 * Deferred syncs of one account come back the way the window frees calls: when the budget says a
 * call frees, but never more than `limit` of them within one interval, so they neither all come
 * back at once (to be deferred again, each of them) nor trickle in slower than the quota allows.
 * The times are a hint kept in the process: a replica that restarts starts with none, and every
 * deferred job comes back by itself at its time.
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

/** How soon a sync deferred only because its account holds its share of slots tries again, ms at most. */
const AT_CAPACITY_RETRY_MS = 250;

export function createAccountSlots(options: AccountSlotsOptions): AccountSlots {
  /** Per account: syncs in flight, and the times deferred syncs come back (ascending). */
  const accounts = new Map<string, { inFlight: number; returns: number[] }>();
  return {
    admit(account, rate, budgetWaitMs) {
      const now = options.now();
      const state = accounts.get(account) ?? { inFlight: 0, returns: [] };
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
      if (budgetWaitMs <= 0) return { retryAt: Math.ceil(now + Math.min(spacing, AT_CAPACITY_RETRY_MS)) };
      // No honest wait exceeds the interval: beyond it the budget counts a call still in flight as
      // ending late, and it usually ends within milliseconds. The grace lets a watch poll already
      // waiting for that call take it first.
      const grace = Math.min(100, spacing / 10);
      const earliest = Math.ceil(now + Math.min(budgetWaitMs, rate.intervalMs) + grace);
      // Returns already due have been judged by the budget itself; only those ahead still count.
      // Fewer than `limit` of them in the interval up to this one, so a full batch sends the next
      // sync to the following window, while a sync deferred again within this window (a call that
      // ended late) comes back in it, ahead of the next batch.
      const ahead = state.returns.filter((at) => at > now);
      const before = (at: number) => ahead.filter((other) => other <= at && other > at - rate.intervalMs);
      let retryAt = earliest;
      for (let close = before(retryAt); close.length >= rate.limit; close = before(retryAt)) {
        retryAt = Math.min(...close) + rate.intervalMs;
      }
      ahead.splice(ahead.findLastIndex((at) => at <= retryAt) + 1, 0, retryAt);
      state.returns = ahead;
      return { retryAt };
    },
  };
}
