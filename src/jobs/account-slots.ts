/**
 * How many of this process's worker slots one account's full syncs may hold at once
 * (docs/rate-budget.md, "Fairness"). A sync that is already paging waits for its account's budget
 * between pages inside its slot; the cap keeps such waits to a share of the slots, so another
 * account always has room.
 */
export interface AccountSlots {
  /** One of the account's slots, with its release (call it when the sync ends); undefined when the account holds its share. */
  take(account: string): { release(): void } | undefined;
}

export function createAccountSlots(options: { maxPerAccount: number }): AccountSlots {
  const inFlight = new Map<string, number>();
  return {
    take(account) {
      const held = inFlight.get(account) ?? 0;
      if (held >= options.maxPerAccount) return undefined;
      inFlight.set(account, held + 1);
      let released = false;
      return {
        release: () => {
          if (released) return;
          released = true;
          const left = (inFlight.get(account) ?? 1) - 1;
          if (left === 0) inFlight.delete(account);
          else inFlight.set(account, left);
        },
      };
    },
  };
}
