import { AppError } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';

export interface QuotaOptions {
  /** Calls admitted per key in any window of `intervalMs`. */
  limit: number;
  intervalMs: number;
  clock: Clock;
}

export type Admission = { admitted: true } | { admitted: false; retryAfterMs: number };

/**
 * The per-account flow control of SWAS (10 calls a minute per account), as a
 * sliding log: never more than `limit` admitted calls in any interval of `intervalMs`. Refused
 * calls are not counted, so a client that keeps retrying is admitted as soon as a slot frees.
 */
export interface Quota {
  /** Admits and counts a call for `key`, or says how long until the oldest counted call expires. */
  admit(key: string): Admission;
  reset(): void;
}

export function createQuota(options: QuotaOptions): Quota {
  if (!Number.isInteger(options.limit) || options.limit < 1 || !(options.intervalMs > 0)) {
    throw new AppError('simulator.invalid_quota', 'quota needs an integer limit ≥ 1 and an interval > 0 ms', {
      details: { limit: options.limit, intervalMs: options.intervalMs },
    });
  }
  const logs = new Map<string, number[]>();
  return {
    admit: (key) => {
      const now = options.clock.now();
      const log = logs.get(key) ?? [];
      // A call at t is inside every window [s, s + interval) with s ≤ t, so it stops counting at t + interval.
      while (log.length > 0 && (log[0] ?? 0) <= now - options.intervalMs) log.shift();
      if (log.length >= options.limit) {
        return { admitted: false, retryAfterMs: (log[0] ?? now) + options.intervalMs - now };
      }
      log.push(now);
      logs.set(key, log);
      return { admitted: true };
    },
    reset: () => logs.clear(),
  };
}
