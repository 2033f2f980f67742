import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Clock, createManualClock } from '../shared/clock.ts';
import { createLocalRateBudget } from './rate-budget.ts';

const START = Date.UTC(2026, 0, 1);

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
    await budget.acquire('prod:ListCustomImages');
    await budget.acquire('prod:ListCustomImages');
    expect(clock.now()).toBe(START);
    await budget.acquire('prod:ListCustomImages');
    expect(clock.now()).toBe(START + 1_000);
  });

  it('keeps keys independent', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    await budget.acquire('prod:ListCustomImages');
    await budget.acquire('prod:ListCustomImages');
    await budget.acquire('prod:ListRegions');
    await budget.acquire('staging:ListCustomImages');
    await budget.acquire('staging:ListCustomImages');
    expect(clock.now()).toBe(START);
  });

  it('slides: each call waits exactly until the oldest call of its window leaves it', async () => {
    const clock = createManualClock(START);
    const budget = createLocalRateBudget({ limit: 2, intervalMs: 1_000 }, { clock });
    await budget.acquire('k');
    clock.advance(600);
    await budget.acquire('k');
    await budget.acquire('k');
    expect(clock.now()).toBe(START + 1_000);
    await budget.acquire('k');
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
            await budget.acquire('k');
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
    await budget.acquire('k');
    const firstSleep = held.nextSleep();
    const a = budget.acquire('k').then(() => order.push('a'));
    const b = budget.acquire('k').then(() => order.push('b'));
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
    await budget.acquire('k');
    const controller = new AbortController();
    const sleeping = held.nextSleep();
    const waiting = budget.acquire('k', controller.signal);
    await sleeping;
    const reason = new Error('shutting down');
    controller.abort(reason);
    await expect(waiting).rejects.toBe(reason);
    // The aborted waiter took no slot: after the window, the next caller goes without a second wait.
    held.advance(1_000);
    await budget.acquire('k');
    expect(held.clock.now()).toBe(START + 1_000);
    await expect(budget.acquire('k', AbortSignal.abort(reason))).rejects.toBe(reason);
  });

  it('refuses a rate that allows nothing', () => {
    expect(() =>
      createLocalRateBudget({ limit: 0, intervalMs: 1_000 }, { clock: createManualClock() }),
    ).toThrow(RangeError);
  });
});
