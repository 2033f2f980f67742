import type { Clock } from '../shared/clock.ts';
import type { Rate } from '../shared/duration.ts';

/**
 * What a call spends from: the configured account and the API action (the quota is per
 * account and action). Throttle holds apply to the whole account.
 */
export interface RateKey {
  readonly account: string;
  readonly action: string;
}

/** One granted call. */
export interface RatePermit {
  /**
   * Tells the budget the call is over (answered, failed or never sent). Until then the call counts
   * as possibly still on its way to the server; from then on it counts from this moment, an upper
   * bound of when the server counted it. Never throws; call it exactly once.
   */
  done(): void;
  /**
   * Tells the budget the call was never sent (a permit asked for ahead of a call that did not come):
   * it stops counting at once. Never throws; call it instead of `done`, at most once.
   */
  cancel(): void;
}

export type RateGrant = { granted: true; permit: RatePermit } | { granted: false; waitMs: number };

/**
 * The port every SWAS API attempt spends from: never more than
 * `rate.limit` calls in any window of `rate.intervalMs` per key, counted conservatively so that the
 * server, which counts calls when they arrive, sees no more either (docs/rate-budget.md).
 */
export interface RateBudget {
  /**
   * Resolves with a permit when one call may be made now (and counts it). Waits as long as needed;
   * rejects with the signal's reason when `signal` aborts first, without spending anything.
   */
  acquire(key: RateKey, signal?: AbortSignal): Promise<RatePermit>;
  /** Counts a call and grants it if one may be made now; otherwise says how long until it may (ms). */
  tryAcquire(key: RateKey): Promise<RateGrant>;
  /**
   * Milliseconds until a call for `key` could be granted (0: now), counting nothing; an upper
   * bound while the call that blocks it is still in flight. A scheduler asks this to leave a job
   * of a quota-bound account waiting without holding a slot.
   */
  availableIn(key: RateKey): Promise<number>;
  /**
   * 0 when a call for `key` could be granted now (counting nothing). Otherwise the milliseconds
   * until this caller's turn, which the budget reserves: the window frees its calls one by one, and
   * each caller told to come back gets the next freed call not already promised to an earlier one
   * ({@link nextTurn}). A scheduler defers a quota-bound job by this much instead of holding a slot.
   */
  turn(key: RateKey): Promise<number>;
  /**
   * The server answered `Throttling*` for `key`: the whole account holds until the server's window
   * frees (`retryAfterMs`, its TimeLeft, when given; otherwise a share of the interval that doubles
   * with each throttle in a row, up to the interval) plus a margin. Never throws.
   */
  throttled(key: RateKey, retryAfterMs?: number): Promise<void>;
}

export interface RateBudgetOptions {
  /**
   * How late after its grant an unfinished call may still reach the server, ms: it counts from
   * grant + this until its permit is done. Default min(interval, 30 000).
   */
  inFlightMs?: number;
  /** Added to every throttle hold, ms. Default max(100, 2% of the interval). */
  holdMarginMs?: number;
  /** Longest sleep while the call that blocks a waiter is still in flight (it may finish early), ms. Default 50. */
  recheckMs?: number;
}

export type ResolvedRateBudgetOptions = Required<RateBudgetOptions>;

/** Checks the rate and fills the defaults of {@link RateBudgetOptions}. */
export function resolveRateBudgetOptions(
  rate: Rate,
  options: RateBudgetOptions = {},
): ResolvedRateBudgetOptions {
  if (!Number.isInteger(rate.limit) || rate.limit < 1 || !(rate.intervalMs > 0)) {
    throw new RangeError(
      `rate budget needs limit ≥ 1 and intervalMs > 0, got ${rate.limit}/${rate.intervalMs}ms`,
    );
  }
  // Whole milliseconds: the Redis script passes them to PEXPIRE.
  return {
    inFlightMs: Math.ceil(options.inFlightMs ?? Math.min(rate.intervalMs, 30_000)),
    holdMarginMs: Math.ceil(options.holdMarginMs ?? Math.max(100, rate.intervalMs * 0.02)),
    recheckMs: Math.max(1, options.recheckMs ?? 50),
  };
}

/**
 * The hold after a throttle, ms (margin excluded): the server's TimeLeft when it gave one, else the
 * average spacing of the rate doubled for every throttle in a row (`strikes` ≥ 1), capped at the
 * interval. The Redis budget's script computes the same.
 */
export function throttleHoldMs(rate: Rate, retryAfterMs: number | undefined, strikes: number): number {
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0) return retryAfterMs;
  return Math.min(rate.intervalMs, (rate.intervalMs / rate.limit) * 2 ** Math.max(0, strikes - 1));
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
 * Serves the waiters of one key first come, first served within this process: `take` runs for one
 * waiter at a time. Shared by the local and the Redis budgets.
 */
export function createKeyedQueue() {
  const queues = new Map<string, Promise<void>>();
  return async function serve<T>(queueKey: string, signal: AbortSignal | undefined, take: () => Promise<T>) {
    signal?.throwIfAborted();
    const previous = queues.get(queueKey) ?? Promise.resolve();
    let leave!: () => void;
    const mine = new Promise<void>((resolve) => {
      leave = resolve;
    });
    // The next waiter goes when both the one before us and we are done (we may leave early on abort).
    const tail = Promise.all([previous, mine]).then(() => undefined);
    queues.set(queueKey, tail);
    try {
      await settledOrAborted(previous, signal);
      return await take();
    } finally {
      leave();
      void tail.then(() => {
        if (queues.get(queueKey) === tail) queues.delete(queueKey);
      });
    }
  };
}

/** What one look at the window says: grant, or wait `waitMs` (`inFlight`: the blocking call may finish early). */
export type WindowVerdict = { granted: true } | { granted: false; waitMs: number; inFlight: boolean };

/**
 * The window rule both budgets apply. `scores` are the counted calls' latest possible arrival times
 * (ascending): finished calls at their end, unfinished ones at grant + inFlightMs. A call granted at
 * `now` arrives no earlier than `now`, so if fewer than `limit` calls may have arrived after
 * `now - interval`, the server's window at its arrival holds fewer than `limit` too.
 */
export function judgeWindow(
  scores: readonly number[],
  now: number,
  rate: Rate,
  holdUntil: number,
): WindowVerdict {
  if (holdUntil > now) return { granted: false, waitMs: holdUntil - now, inFlight: false };
  const live = scores.filter((score) => score > now - rate.intervalMs);
  if (live.length < rate.limit) return { granted: true };
  const blocking = live[live.length - rate.limit] ?? now;
  return { granted: false, waitMs: blocking + rate.intervalMs - now, inFlight: blocking > now };
}

/**
 * When a caller that cannot have a call now should come back (epoch ms), given the window's counted
 * calls (`scores`, ascending, as for {@link judgeWindow}) and the turns already promised to earlier
 * callers (`turns`, ascending, all after `now`). Calls and turns form one queue: the caller at
 * position p of it (p = calls + turns − limit) gets the call that frees when entry p leaves the
 * window. A call still in flight counts as ending now (it usually ends within milliseconds; if not,
 * the caller is told again when it comes back). `graceMs` lets a watch poll already waiting take the
 * freed call first. Undefined: a call can be granted now. The Redis budget's script computes the same.
 */
export function nextTurn(
  scores: readonly number[],
  turns: readonly number[],
  now: number,
  rate: Rate,
  holdUntil: number,
  graceMs: number,
): number | undefined {
  const live = scores.filter((score) => score > now - rate.intervalMs);
  const held = holdUntil > now;
  if (!held && live.length < rate.limit) return undefined;
  const position = live.length + turns.length - rate.limit;
  const frees =
    position < 0
      ? now - rate.intervalMs
      : position < live.length
        ? Math.min(live[position] ?? now, now)
        : (turns[position - live.length] ?? now);
  return Math.ceil(Math.max(frees + rate.intervalMs, held ? holdUntil : 0) + graceMs);
}

/** How long after a freed call a deferred caller comes back, ms (see {@link nextTurn}). */
export function turnGraceMs(rate: Rate): number {
  return Math.min(100, rate.intervalMs / rate.limit / 10);
}

export interface LocalRateBudgetDeps {
  clock: Clock;
}

interface LocalEntry {
  score: number;
}

/**
 * The rate budget of one process (`sync --once` without Redis, tests): the rule of
 * {@link judgeWindow} over in-memory logs. Waiters of one key are served in arrival order and
 * wait with `clock.sleep`. The worker's Redis budget shares the same rule across processes.
 */
export function createLocalRateBudget(
  rate: Rate,
  deps: LocalRateBudgetDeps,
  options: RateBudgetOptions = {},
): RateBudget {
  const resolved = resolveRateBudgetOptions(rate, options);
  const logs = new Map<string, LocalEntry[]>();
  /** Per key: the turns promised to deferred callers (ascending). */
  const turns = new Map<string, number[]>();
  const holds = new Map<string, { until: number; strikes: number; forgetAt: number }>();
  const serve = createKeyedQueue();
  const logKey = (key: RateKey) => `${key.account}\n${key.action}`;

  const holdUntil = (account: string, now: number) => {
    const hold = holds.get(account);
    if (hold && hold.forgetAt <= now) holds.delete(account);
    return hold && hold.forgetAt > now ? hold.until : 0;
  };

  function look(key: RateKey, take: boolean): RateGrant & { inFlight?: boolean } {
    const now = deps.clock.now();
    const log = (logs.get(logKey(key)) ?? []).filter((entry) => entry.score > now - rate.intervalMs);
    log.sort((a, b) => a.score - b.score);
    logs.set(logKey(key), log);
    const verdict = judgeWindow(
      log.map((entry) => entry.score),
      now,
      rate,
      holdUntil(key.account, now),
    );
    if (!verdict.granted) return { granted: false, waitMs: verdict.waitMs, inFlight: verdict.inFlight };
    if (!take) return { granted: true, permit: { done: () => undefined, cancel: () => undefined } };
    const entry: LocalEntry = { score: now + resolved.inFlightMs };
    log.push(entry);
    let finished = false;
    return {
      granted: true,
      permit: {
        done: () => {
          if (finished) return;
          finished = true;
          entry.score = deps.clock.now();
        },
        cancel: () => {
          if (finished) return;
          finished = true;
          // Out of every window from now on; the next look drops it.
          entry.score = Number.NEGATIVE_INFINITY;
        },
      },
    };
  }

  return {
    acquire(key, signal) {
      return serve(logKey(key), signal, async () => {
        for (;;) {
          signal?.throwIfAborted();
          const grant = look(key, true);
          if (grant.granted) return grant.permit;
          await deps.clock.sleep(
            grant.inFlight ? Math.min(grant.waitMs, resolved.recheckMs) : grant.waitMs,
            signal,
          );
        }
      });
    },
    async tryAcquire(key) {
      const { inFlight: _inFlight, ...grant } = look(key, true);
      return grant;
    },
    async availableIn(key) {
      const grant = look(key, false);
      return grant.granted ? 0 : grant.waitMs;
    },
    async turn(key) {
      const now = deps.clock.now();
      const log = (logs.get(logKey(key)) ?? []).map((entry) => entry.score).sort((a, b) => a - b);
      const pending = (turns.get(logKey(key)) ?? []).filter((at) => at > now);
      const at = nextTurn(log, pending, now, rate, holdUntil(key.account, now), turnGraceMs(rate));
      if (at === undefined) return 0;
      pending.splice(pending.findLastIndex((other) => other <= at) + 1, 0, at);
      turns.set(logKey(key), pending);
      return at - now;
    },
    async throttled(key, retryAfterMs) {
      const now = deps.clock.now();
      const current = holdUntil(key.account, now) > 0 ? holds.get(key.account) : undefined;
      const strikes = (current?.strikes ?? 0) + 1;
      const until = Math.max(
        current?.until ?? 0,
        now + throttleHoldMs(rate, retryAfterMs, strikes) + resolved.holdMarginMs,
      );
      holds.set(key.account, { until, strikes, forgetAt: until + rate.intervalMs });
    },
  };
}
