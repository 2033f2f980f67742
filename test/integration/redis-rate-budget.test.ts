import { Redis } from 'ioredis';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { createFallbackRateBudget, createRedisRateBudget } from '../../src/jobs/redis-rate-budget.ts';
import { createManualClock, systemClock } from '../../src/shared/clock.ts';
import type { Rate } from '../../src/shared/duration.ts';
import { createLocalRateBudget, type RateBudget, type RateKey } from '../../src/swas/rate-budget.ts';
import { rejection } from '../support/rejection.ts';
import { uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

// The shared budget over real Redis: each budget has its own connection, as separate processes would.

const connections: Redis[] = [];
afterAll(async () => {
  for (const redis of connections) await redis.quit();
});

function connect(): Redis {
  const redis = new Redis(inject('redisUrl'), { maxRetriesPerRequest: 1 });
  connections.push(redis);
  return redis;
}

/** `count` budgets ("processes") over one unique prefix. */
function processes(rate: Rate, count: number, options: { inFlightMs?: number } = {}): RateBudget[] {
  const prefix = uniquePrefix('budget');
  return Array.from({ length: count }, () =>
    createRedisRateBudget(rate, { redis: connect(), clock: systemClock }, { prefix, ...options }),
  );
}

const LIST: RateKey = { account: 'prod', action: 'ListCustomImages' };
const REGIONS: RateKey = { account: 'prod', action: 'ListRegions' };

describe('Redis rate budget', () => {
  it('never grants more than N calls in any window, across two processes with several callers each', async () => {
    const rate = { limit: 3, intervalMs: 400 };
    const [a, b] = processes(rate, 2) as [RateBudget, RateBudget];
    const grants: number[] = [];
    // Each caller makes 3 calls that take 0–15 ms; a call's grant is seen before its end is recorded.
    const caller = async (budget: RateBudget) => {
      for (let i = 0; i < 3; i++) {
        const permit = await budget.acquire(LIST);
        grants.push(Date.now());
        await systemClock.sleep(Math.floor(Math.random() * 15));
        permit.done();
      }
    };
    await Promise.all([caller(a), caller(a), caller(b), caller(b)]);

    expect(grants).toHaveLength(12);
    grants.sort((x, y) => x - y);
    const overfull = grants.filter(
      (start) => grants.filter((t) => t >= start && t < start + rate.intervalMs).length > rate.limit,
    );
    expect(overfull).toEqual([]);
  });

  it('keeps keys apart: another action and another account have their own windows', async () => {
    const [a, b] = processes({ limit: 1, intervalMs: 60_000 }, 2) as [RateBudget, RateBudget];
    (await a.acquire(LIST)).done();
    expect(await b.availableIn(LIST)).toBeGreaterThan(59_000);
    expect(await b.availableIn(REGIONS)).toBe(0);
    expect(await b.availableIn({ account: 'staging', action: 'ListCustomImages' })).toBe(0);
    expect(await b.tryAcquire(LIST)).toMatchObject({ granted: false });
    expect(await b.tryAcquire(REGIONS)).toMatchObject({ granted: true });
  });

  it('records a call’s end with the next decision about its key, as of that decision', async () => {
    const [a, b] = processes({ limit: 1, intervalMs: 2_000 }, 2, { inFlightMs: 30_000 }) as [
      RateBudget,
      RateBudget,
    ];
    (await a.acquire(LIST)).done();
    // The next look at the key carries the end: the window frees an interval after it, not after
    // grant + inFlightMs, for this process and every other.
    expect(await a.availableIn(LIST)).toBeLessThanOrEqual(2_000);
    expect(await b.availableIn(LIST)).toBeLessThanOrEqual(2_000);
    expect(await b.availableIn(LIST)).toBeGreaterThan(1_000);
  });

  it('stops counting a cancelled permit for every process at once', async () => {
    const [a, b] = processes({ limit: 1, intervalMs: 60_000 }, 2) as [RateBudget, RateBudget];
    const permit = await a.acquire(LIST);
    expect(await b.availableIn(LIST)).toBeGreaterThan(59_000);
    permit.cancel();
    await expect.poll(() => b.availableIn(LIST)).toBe(0);
    expect(await b.tryAcquire(LIST)).toMatchObject({ granted: true });
  });

  it('counts an unfinished call until it ends, at most grant + inFlightMs', async () => {
    const [a, b] = processes({ limit: 1, intervalMs: 60_000 }, 2, { inFlightMs: 30_000 }) as [
      RateBudget,
      RateBudget,
    ];
    const permit = await a.acquire(LIST);
    const whileInFlight = await b.availableIn(LIST);
    expect(whileInFlight).toBeGreaterThan(60_000);
    expect(whileInFlight).toBeLessThanOrEqual(90_000);
    permit.done();
    await expect.poll(() => b.availableIn(LIST)).toBeLessThanOrEqual(60_000);
  });

  it('shares a throttle hold: every process holds every action of the account, no other account', async () => {
    // 10 calls per 10 minutes: a 12 s margin, far above any test latency.
    const rate = { limit: 10, intervalMs: 600_000 };
    const [a, b] = processes(rate, 2) as [RateBudget, RateBudget];
    await a.throttled(LIST, 20_000);
    const held = await b.availableIn(REGIONS);
    expect(held).toBeGreaterThan(20_000);
    expect(held).toBeLessThanOrEqual(32_000);
    expect(await b.tryAcquire(LIST)).toMatchObject({ granted: false });
    expect(await b.availableIn({ account: 'staging', action: 'ListCustomImages' })).toBe(0);
    // Without a TimeLeft: one average spacing (60 s), doubled by the next throttle in a row.
    const [c, d] = processes(rate, 2) as [RateBudget, RateBudget];
    await c.throttled(LIST);
    const first = await d.availableIn(LIST);
    expect(first).toBeGreaterThan(60_000);
    expect(first).toBeLessThanOrEqual(72_000);
    await d.throttled(LIST);
    const second = await c.availableIn(LIST);
    expect(second).toBeGreaterThan(120_000);
    expect(second).toBeLessThanOrEqual(132_000);
  });

  it('queues the deferred callers of every process in one line of turns, one per freed call', async () => {
    const rate = { limit: 2, intervalMs: 60_000 };
    const [a, b] = processes(rate, 2) as [RateBudget, RateBudget];
    expect(await a.turn(LIST)).toBe(0);
    const first = Date.now();
    (await a.acquire(LIST)).done();
    (await b.acquire(LIST)).done();
    const second = Date.now();
    // Turns as absolute times, from alternating processes: the calls made leave the window one
    // interval (+100 ms grace) after they ended, the turns' own calls another interval later.
    const turns: number[] = [];
    for (const budget of [a, b, a, b, a]) turns.push(Date.now() + (await budget.turn(LIST)));
    const [t1, t2, t3, t4, t5] = turns as [number, number, number, number, number];
    expect(t1).toBeGreaterThanOrEqual(first + 60_100 - 50);
    expect(t2).toBeLessThanOrEqual(second + 60_100 + 50);
    expect(t1).toBeLessThanOrEqual(t2 + 10);
    // Each turn comes back as a delay from Redis' clock, read here a round trip later: a few ms of slack.
    const apart = (later: number, earlier: number) => Math.abs(later - earlier - 60_100);
    expect(apart(t3, t1)).toBeLessThanOrEqual(10);
    expect(apart(t4, t2)).toBeLessThanOrEqual(10);
    expect(apart(t5, t3)).toBeLessThanOrEqual(10);
    expect(await b.turn({ account: 'staging', action: 'ListCustomImages' })).toBe(0);
    // A throttle hold with room in the window: the turn is the hold's end (+ margin + grace).
    await a.throttled({ account: 'staging', action: 'ListCustomImages' }, 7_000);
    const held = await b.turn({ account: 'staging', action: 'ListCustomImages' });
    expect(held).toBeGreaterThan(7_000 + 1_000);
    expect(held).toBeLessThanOrEqual(7_000 + 1_200 + 100);
  });

  it('rejects a waiting acquire with the abort reason, spending nothing', async () => {
    const rate = { limit: 1, intervalMs: 60_000 };
    const prefix = uniquePrefix('budget');
    const a = createRedisRateBudget(rate, { redis: connect(), clock: systemClock }, { prefix });
    // b's clock tells when the acquire has started waiting for its turn.
    let sleeping = 0;
    const b = createRedisRateBudget(
      rate,
      {
        redis: connect(),
        clock: {
          now: systemClock.now,
          sleep: (ms, signal) => {
            sleeping++;
            return systemClock.sleep(ms, signal);
          },
        },
      },
      { prefix },
    );
    (await a.acquire(LIST)).done();
    const before = await b.availableIn(LIST);
    const controller = new AbortController();
    const waiting = b.acquire(LIST, controller.signal);
    await waitFor('the acquire to wait for its turn', () => sleeping > 0);
    const reason = new Error('shutting down');
    controller.abort(reason);
    expect(await rejection(waiting)).toBe(reason);
    expect(await b.availableIn(LIST)).toBeLessThanOrEqual(before);
    expect(await rejection(b.acquire(LIST, AbortSignal.abort(reason)))).toBe(reason);
  });

  it('reports an unreachable Redis as redis.unavailable; the fallback turns local once and keeps going', async () => {
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    down.on('error', () => undefined);
    const rate = { limit: 5, intervalMs: 1_000 };
    const shared = createRedisRateBudget(
      rate,
      { redis: down, clock: systemClock },
      { prefix: uniquePrefix('down') },
    );
    expect(await rejection(shared.availableIn(LIST))).toMatchObject({
      code: 'redis.unavailable',
      retryable: true,
    });

    const fallbacks: unknown[] = [];
    const budget = createFallbackRateBudget({
      shared: async () => shared,
      local: createLocalRateBudget(rate, { clock: systemClock }),
      onFallback: (reason) => fallbacks.push(reason),
      clock: systemClock,
    });
    for (let i = 0; i < 5; i++) (await budget.acquire(LIST)).done();
    expect(await budget.tryAcquire(LIST)).toMatchObject({ granted: false });
    expect(fallbacks).toHaveLength(1);
    expect(fallbacks[0]).toMatchObject({ code: 'redis.unavailable' });
    down.disconnect();
  });

  it('goes back to the shared budget once Redis answers again, so replicas share the quota again', async () => {
    const rate = { limit: 3, intervalMs: 60_000 };
    const prefix = uniquePrefix('back');
    const down = new Redis('redis://127.0.0.1:1', {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
    });
    down.on('error', () => undefined);
    const budgetOn = (redis: Redis) => createRedisRateBudget(rate, { redis, clock: systemClock }, { prefix });
    // This process met Redis down; the shared budget it gets on its next try is the real one.
    const tries: Redis[] = [down, connect()];
    const clock = createManualClock();
    const events: string[] = [];
    const recovering = createFallbackRateBudget({
      shared: async () => budgetOn(tries.shift() ?? connect()),
      local: createLocalRateBudget(rate, { clock }),
      onFallback: () => events.push('local'),
      onShared: () => events.push('shared'),
      clock,
      retryMs: 10_000,
    });
    (await recovering.acquire(LIST)).done();
    expect(events).toEqual(['local']);
    clock.advance(10_000);
    // Another process on the shared budget, and this one back on it: 3 calls between them, not 3 each.
    const other = budgetOn(connect());
    let granted = 0;
    for (let i = 0; i < 4; i++) {
      for (const budget of [recovering, other]) {
        const attempt = await budget.tryAcquire(LIST);
        if (attempt.granted) {
          granted++;
          attempt.permit.done();
        }
      }
    }
    expect(granted).toBe(3);
    expect(events).toEqual(['local', 'shared']);
    down.disconnect();
  });
});
