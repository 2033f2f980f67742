import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Clock, createManualClock } from '../shared/clock.ts';
import {
  createLocalRateBudget,
  nextTurn,
  type RateBudget,
  type RateKey,
  throttleHoldMs,
} from './rate-budget.ts';

const START = Date.UTC(2026, 0, 1);
const LIST: RateKey = { account: 'prod', action: 'ListCustomImages' };
const key = (action: string, account = 'prod'): RateKey => ({ account, action });

/** Acquires and finishes a call at once (the call took no time). */
const call = async (budget: RateBudget, rateKey: RateKey = LIST, signal?: AbortSignal) =>
  (await budget.acquire(rateKey, signal)).done();

/** A clock whose sleeps wait until the test releases or aborts them. */
function createHeldClock() {
  const manual = createManualClock(START);
  const sleeping: { ms: number; release: () => void }[] = [];
  let notify: (() => void) | undefined;
  const clock: Clock = {
    now: manual.now,
    sleep: (ms, signal) =>
      new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason);
          return;
        }
        signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
        sleeping.push({
          ms,
          release: () => {
            manual.advance(ms);
            resolve();
          },
        });
        notify?.();
      }),
  };
  const nextSleep = () =>
    new Promise<void>((resolve) => {
      notify = resolve;
    });
  return { clock, sleeping, nextSleep, advance: manual.advance };
}

describe('createLocalRateBudget', () => {
  it('lets the 3rd call of a 2-per-second budget wait until the window frees', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    await call(budget);
    await call(budget);
    expect(clock.now()).toBe(START);
    await call(budget);
    expect(clock.now()).toBe(START + 1_000);
  });

  it('keeps keys independent', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    await call(budget);
    await call(budget);
    await call(budget, key('ListRegions'));
    await call(budget, key('ListCustomImages', 'staging'));
    await call(budget, key('ListCustomImages', 'staging'));
    expect(clock.now()).toBe(START);
  });

  it('slides: each call waits exactly until the oldest call of its window leaves it', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    await call(budget);
    clock.advance(600);
    await call(budget);
    await call(budget);
    expect(clock.now()).toBe(START + 1_000);
    await call(budget);
    expect(clock.now()).toBe(START + 1_600);
  });

  it('never grants more than the limit in any window, for any arrival pattern', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 2_000 }),
        fc.array(fc.integer({ min: 0, max: 1_500 }), { minLength: 1, maxLength: 30 }),
        async (limit, intervalMs, gaps) => {
          const clock = createManualClock(START);
          const budget = createLocalRateBudget({ limit, intervalMs }, { clock });
          const grants: number[] = [];
          for (const gap of gaps) {
            clock.advance(gap);
            await call(budget);
            grants.push(clock.now());
          }
          for (const [i, start] of grants.entries()) {
            const inWindow = grants.slice(i).filter((t) => t < start + intervalMs).length;
            expect(inWindow).toBeLessThanOrEqual(limit);
          }
        },
      ),
    );
  });

  it('serves waiters of one key in arrival order', async () => {
    const held = createHeldClock();
    const budget = createLocalRateBudget({ limit: 1, intervalMs: 1_000 }, { clock: held.clock });
    const order: string[] = [];
    await call(budget);
    const firstSleep = held.nextSleep();
    const a = call(budget).then(() => order.push('a'));
    const b = call(budget).then(() => order.push('b'));
    await firstSleep;
    expect(held.sleeping).toHaveLength(1); // b queues behind a instead of sleeping on its own
    const secondSleep = held.nextSleep();
    held.sleeping[0]?.release();
    await secondSleep;
    held.sleeping[1]?.release();
    await Promise.all([a, b]);
    expect(order).toEqual(['a', 'b']);
    expect(held.clock.now()).toBe(START + 2_000);
  });

  it('rejects a waiting acquire with the abort reason at once, spending nothing, and keeps serving others', async () => {
    const held = createHeldClock();
    const budget = createLocalRateBudget({ limit: 1, intervalMs: 1_000 }, { clock: held.clock });
    await call(budget);
    const controller = new AbortController();
    const sleeping = held.nextSleep();
    const waiting = call(budget, LIST, controller.signal);
    await sleeping;
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // The aborted waiter took no slot: after the window, the next caller goes without a second wait.
    held.advance(1_000);
    await call(budget);
    expect(held.clock.now()).toBe(START + 1_000);
    await expect(call(budget, LIST, AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('counts an unfinished call from its end: the next window opens one interval after the call finished', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 1, intervalMs: 1_000 }, { clock });
    const permit = await budget.acquire(LIST);
    clock.advance(300); // the call took 300 ms: the server counted it at most then
    permit.done();
    await call(budget);
    expect(clock.now()).toBe(START + 1_300);
  });

  it('stops counting a cancelled permit at once: a call never sent leaves the window free', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 1, intervalMs: 1_000 }, { clock });
    const permit = await budget.acquire(LIST);
    expect(await budget.availableIn(LIST)).toBeGreaterThan(0);
    permit.cancel();
    permit.done(); // a second word on the same permit changes nothing
    expect(await budget.availableIn(LIST)).toBe(0);
    await call(budget);
    expect(clock.now()).toBe(START);
  });

  it('rechecks often while the blocking call is still in flight, and counts it until grant + inFlightMs at most', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget(
      { limit: 1, intervalMs: 1_000 },
      { clock },
      { inFlightMs: 400, recheckMs: 50 },
    );
    await budget.acquire(LIST); // never finished (a crashed caller)
    expect(await budget.availableIn(LIST)).toBe(1_400);
    await call(budget);
    expect(clock.now()).toBe(START + 1_400);
  });

  it('grants or refuses without waiting, and peeks without counting', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    expect(await budget.availableIn(LIST)).toBe(0);
    expect(await budget.availableIn(LIST)).toBe(0);
    const first = await budget.tryAcquire(LIST);
    expect(first.granted).toBe(true);
    if (first.granted) first.permit.done();
    clock.advance(100);
    await call(budget);
    expect(await budget.tryAcquire(LIST)).toEqual({ granted: false, waitMs: 900 });
    expect(await budget.availableIn(LIST)).toBe(900);
    expect(await budget.availableIn(key('ListRegions'))).toBe(0);
  });

  it('holds the whole account after a throttle for the TimeLeft plus a margin, other accounts not', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 10, intervalMs: 60_000 }, { clock }, { holdMarginMs: 250 });
    await budget.throttled(LIST, 7_000);
    expect(await budget.availableIn(key('ListRegions'))).toBe(7_250);
    expect(await budget.availableIn(key('ListCustomImages', 'staging'))).toBe(0);
    await call(budget);
    expect(clock.now()).toBe(START + 7_250);
  });

  it('without a TimeLeft, holds one average spacing, doubling for throttles in a row up to the interval', async () => {
    const rate = { limit: 10, intervalMs: 60_000 };
    expect([1, 2, 3, 4, 5].map((strikes) => throttleHoldMs(rate, undefined, strikes))).toEqual([
      6_000, 12_000, 24_000, 48_000, 60_000,
    ]);
    expect(throttleHoldMs(rate, 1_500, 3)).toBe(1_500);
    const clock = createManualClock(START);
    const budget = createLocalRateBudget(rate, { clock }, { holdMarginMs: 0 });
    await budget.throttled(LIST);
    expect(await budget.availableIn(LIST)).toBe(6_000);
    await budget.throttled(LIST);
    expect(await budget.availableIn(LIST)).toBe(12_000);
    // Calm for an interval after the hold: the next throttle starts from one spacing again.
    clock.advance(12_000 + 60_000);
    await budget.throttled(LIST);
    expect(await budget.availableIn(LIST)).toBe(6_000);
  });

  it('gives deferred callers one turn per freed call, in line behind the turns already promised', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 60_000 }, { clock });
    // Room in the window: no turn is needed, and none is reserved.
    expect(await budget.turn(LIST)).toBe(0);
    await call(budget);
    clock.advance(1_000);
    await call(budget);
    clock.advance(1_000);
    // Each caller gets the next call the window frees (plus 100 ms of grace): the two calls made
    // leave the window at +60 s and +61 s, and the calls made at those turns at +120 s and +121 s.
    const turns = [];
    for (let i = 0; i < 5; i++) turns.push(await budget.turn(LIST));
    expect(turns.map((ms) => clock.now() + ms - START)).toEqual([60_100, 61_100, 120_200, 121_200, 180_300]);
    expect(await budget.turn(key('ListCustomImages', 'staging'))).toBe(0);
    // A turn that has come is no longer in line: at +60.1 s the first caller is back and calls.
    clock.advance(START + 60_100 - clock.now());
    expect(await budget.turn(LIST)).toBe(0);
    await call(budget);
    // Four turns are still ahead; a late caller queues behind them.
    expect(clock.now() + (await budget.turn(LIST)) - START).toBe(181_300);
  });

  it('counts a call in flight as ending now, and holds every turn until a throttle hold ends', async () => {
    const rate = { limit: 1, intervalMs: 10_000 };
    // Grace: a tenth of the call spacing, at most 100 ms.
    expect(nextTurn([START + 30_000], [], START, rate, 0, 100)).toBe(START + 10_100);
    expect(nextTurn([START - 9_000], [], START, rate, 0, 100)).toBe(START + 1_100);
    expect(nextTurn([START - 10_000], [], START, rate, 0, 100)).toBeUndefined();
    // Held for 5 s with room in the window: the turn is the hold's end.
    expect(nextTurn([], [], START, rate, START + 5_000, 100)).toBe(START + 5_100);
    // Held for 5 s behind a call that frees in 8 s: the later of the two.
    expect(nextTurn([START - 2_000], [], START, rate, START + 5_000, 100)).toBe(START + 8_100);
    const clock = createManualClock(START);
    const budget = createLocalRateBudget(rate, { clock }, { holdMarginMs: 250 });
    await budget.throttled(LIST, 7_000);
    expect(await budget.turn(LIST)).toBe(7_250 + 100);
  });

  it('refuses a rate that allows nothing', () => {
    expect(() =>
      createLocalRateBudget({ limit: 0, intervalMs: 1_000 }, { clock: createManualClock() }),
    ).toThrow(RangeError);
  });
});
