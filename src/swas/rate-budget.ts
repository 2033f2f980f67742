import type { Clock } from '../shared/clock.ts';
import type { Rate } from '../shared/duration.ts';

/**
 * The port every SWAS API attempt spends from (SPEC §4 `SWAS_RATE_LIMIT`): never more than
 * `rate.limit` calls in any window of `rate.intervalMs`, per key. The client uses the key
 * `${account}:${action}` and acquires before every attempt, retries included.
 */
export interface RateBudget {
  /**
   * Resolves when one call may be made now (and counts it). Waits as long as needed; rejects with
   * the signal's reason when `signal` aborts first, without spending anything.
   */
  acquire(key: string, signal?: AbortSignal): Promise<void>;
}

export interface LocalRateBudgetDeps {
  clock: Clock;
}

/** Resolves when `promise` settles (either way), or rejects with the reason when `signal` aborts first. */
function settledOrAborted(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  const settled = promise.then(
    () => undefined,
    () => undefined,
  );
  if (!signal) return settled;
  return new Promise<void>((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    void settled.then(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    });
  });
}

/**
 * An in-process sliding-window log: per key, the start times of the calls of the last window.
 * A call is allowed at `t` when fewer than `limit` calls started in `(t - intervalMs, t]`, so no
 * window of that length ever holds more than `limit` calls. Waiters of one key are served first
 * come, first served (a queue per key), and wait with `clock.sleep`. One process only: the
 * worker's Redis-backed budget shares the same port across processes.
 */
export function createLocalRateBudget(rate: Rate, deps: LocalRateBudgetDeps): RateBudget {
  if (!Number.isInteger(rate.limit) || rate.limit < 1 || !(rate.intervalMs > 0)) {
    throw new RangeError(
      `rate budget needs limit ≥ 1 and intervalMs > 0, got ${rate.limit}/${rate.intervalMs}ms`,
    );
  }
  const logs = new Map<string, number[]>();
  const queues = new Map<string, Promise<void>>();

  async function take(key: string, signal: AbortSignal | undefined): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = deps.clock.now();
      const log = (logs.get(key) ?? []).filter((startedAt) => startedAt + rate.intervalMs > now);
      if (log.length < rate.limit) {
        log.push(now);
        logs.set(key, log);
        return;
      }
      logs.set(key, log);
      // The oldest call leaves the window at its start + interval; sleep exactly until then.
      await deps.clock.sleep((log[0] ?? now) + rate.intervalMs - now, signal);
    }
  }

  return {
    async acquire(key, signal) {
      signal?.throwIfAborted();
      const previous = queues.get(key) ?? Promise.resolve();
      let leave!: () => void;
      const mine = new Promise<void>((resolve) => {
        leave = resolve;
      });
      // The next waiter goes when both the one before us and we are done (we may leave early on abort).
      const tail = Promise.all([previous, mine]).then(() => undefined);
      queues.set(key, tail);
      try {
        await settledOrAborted(previous, signal);
        await take(key, signal);
      } finally {
        leave();
        void tail.then(() => {
          if (queues.get(key) === tail) queues.delete(key);
        });
      }
    },
  };
}
