import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import type { Rate } from '../shared/duration.ts';
import {
  createKeyedQueue,
  type RateBudget,
  type RateBudgetOptions,
  type RateGrant,
  type RateKey,
  type RatePermit,
  resolveRateBudgetOptions,
  turnGraceMs,
} from '../swas/rate-budget.ts';

/**
 * The rate budget shared by every process: the rule of `judgeWindow` (swas/rate-budget.ts)
 * kept in Redis, one Lua script per decision so that check and count are atomic, on Redis' own
 * clock (TIME) so that processes with skewed clocks agree. Keys, all under `prefix`:
 *
 * - `{prefix}:rate:{<account>}:log:<action>` — sorted set of counted calls, score = the latest
 *   time the server may have counted the call (grant + inFlightMs while unfinished, its end after);
 * - `{prefix}:rate:{<account>}:hold` — hash `until`, `strikes`: the account-wide hold after a throttle;
 * - `{prefix}:rate:{<account>}:turns:<action>` — sorted set of the turns promised to deferred
 *   callers (`turn`), score = the turn, so that every process's deferred jobs queue in one line.
 *
 * The `{<account>}` hash tag keeps an account's keys in one Cluster slot. Every key expires on its own.
 */

export interface RedisRateBudgetDeps {
  /** A connected client; the budget never closes it. Prefer `enableOfflineQueue: false` so an outage fails fast. */
  redis: Pick<Redis, 'evalsha' | 'eval'>;
  /** For sleeping only; the window runs on Redis time. */
  clock: Clock;
  logger?: Pick<Logger, 'warn' | 'debug'> | undefined;
}

export interface RedisRateBudgetOptions extends RateBudgetOptions {
  /** Key prefix, without a trailing colon. Default `swas-inventory`. */
  prefix?: string;
}

export const DEFAULT_REDIS_PREFIX = 'swas-inventory';

// Returns {granted (1|0), waitMs, inFlight (1|0)}. Mirrors judgeWindow; ARGV[1] 'take' counts the call.
// ARGV[6..]: calls of this key that have ended since the last command about it, re-scored at now.
const LOOK_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 6, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now, ARGV[i]) end
local limit = tonumber(ARGV[2])
local interval = tonumber(ARGV[3])
local inFlight = tonumber(ARGV[4])
local holdUntil = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
if holdUntil > now then return {0, holdUntil - now, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  if ARGV[1] == 'take' then
    redis.call('ZADD', KEYS[1], now + inFlight, ARGV[5])
    local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
    redis.call('PEXPIRE', KEYS[1], math.max(tonumber(top[2]), now + inFlight) - now + interval + 1000)
  end
  return {1, 0, 0}
end
local blocking = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local score = tonumber(blocking[2])
local inFlightFlag = 0
if score > now then inFlightFlag = 1 end
return {0, score + interval - now, inFlightFlag}
`;

// ARGV[1] 'done' (re-score at now) or 'cancel' (never sent: uncount), ARGV[2] interval, ARGV[3..] members.
const SETTLE_SCRIPT = `
local members = {}
for i = 3, #ARGV do members[#members + 1] = ARGV[i] end
if ARGV[1] == 'cancel' then return redis.call('ZREM', KEYS[1], unpack(members)) end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local updated = 0
for _, member in ipairs(members) do updated = updated + redis.call('ZADD', KEYS[1], 'XX', 'CH', now, member) end
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] then
  redis.call('PEXPIRE', KEYS[1], math.max(tonumber(top[2]), now) - now + tonumber(ARGV[2]) + 1000)
end
return updated
`;

/**
 * How long the end of a call may wait to travel with the next decision about its key. A listing
 * asks for its next permit as a page arrives, so its ends ride along and a page costs one command;
 * an end with nothing to ride along goes alone after this. Told later, a call counts a little
 * longer than it must: never the other way round.
 */
const SETTLE_WITHIN_MS = 10;

// ARGV: retryAfterMs ('' when none), marginMs, limit, interval. Mirrors throttleHoldMs; returns the hold in ms.
const HOLD_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[3])
local interval = tonumber(ARGV[4])
local strikes = tonumber(redis.call('HGET', KEYS[1], 'strikes') or '0') + 1
local wait
if ARGV[1] ~= '' then
  wait = tonumber(ARGV[1])
else
  wait = math.min(interval, (interval / limit) * 2 ^ (strikes - 1))
end
local untilMs = math.max(tonumber(redis.call('HGET', KEYS[1], 'until') or '0'), math.ceil(now + wait + tonumber(ARGV[2])))
redis.call('HSET', KEYS[1], 'until', untilMs, 'strikes', strikes)
redis.call('PEXPIRE', KEYS[1], untilMs - now + interval)
return untilMs - now
`;

// KEYS: log, hold, turns. ARGV: limit, interval, grace, member. Mirrors nextTurn; returns the
// milliseconds until the caller's turn, 0 when a call could be granted now (nothing reserved then).
const TURN_SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local interval = tonumber(ARGV[2])
local holdUntil = tonumber(redis.call('HGET', KEYS[2], 'until') or '0')
local held = holdUntil > now
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - interval)
local count = redis.call('ZCARD', KEYS[1])
if not held and count < limit then return 0 end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local position = count + redis.call('ZCARD', KEYS[3]) - limit
local frees
if position < 0 then
  frees = now - interval
elseif position < count then
  frees = math.min(tonumber(redis.call('ZRANGE', KEYS[1], position, position, 'WITHSCORES')[2]), now)
else
  frees = tonumber(redis.call('ZRANGE', KEYS[3], position - count, position - count, 'WITHSCORES')[2])
end
local at = frees + interval
if held and holdUntil > at then at = holdUntil end
at = math.ceil(at + tonumber(ARGV[3]))
redis.call('ZADD', KEYS[3], at, ARGV[4])
redis.call('PEXPIRE', KEYS[3], at - now + interval)
return at - now
`;

interface LuaScript {
  source: string;
  sha: string;
}

const script = (source: string): LuaScript => ({
  source,
  sha: createHash('sha1').update(source).digest('hex'),
});

const LOOK = script(LOOK_SCRIPT);
const SETTLE = script(SETTLE_SCRIPT);
const HOLD = script(HOLD_SCRIPT);
const TURN = script(TURN_SCRIPT);

/** A Redis failure as the project's error: retryable, since Redis may come back. */
function redisUnavailable(error: unknown): AppError {
  return new AppError('redis.unavailable', `rate budget: Redis failed: ${errorMessage(error)}`, {
    retryable: true,
    cause: error,
  });
}

export function createRedisRateBudget(
  rate: Rate,
  deps: RedisRateBudgetDeps,
  options: RedisRateBudgetOptions = {},
): RateBudget {
  const resolved = resolveRateBudgetOptions(rate, options);
  // Whole milliseconds: the scripts pass them to PEXPIRE.
  const intervalMs = Math.ceil(rate.intervalMs);
  const prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
  const serve = createKeyedQueue();
  const logKey = (key: RateKey) => `${prefix}:rate:{${key.account}}:log:${key.action}`;
  const holdKey = (account: string) => `${prefix}:rate:{${account}}:hold`;
  const turnsKey = (key: RateKey) => `${prefix}:rate:{${key.account}}:turns:${key.action}`;
  const graceMs = turnGraceMs(rate);

  /** EVALSHA, loading the script with EVAL when the server does not know it (restart, flush). */
  async function run(lua: LuaScript, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      try {
        return await deps.redis.evalsha(lua.sha, keys.length, ...keys, ...args);
      } catch (error) {
        if (!errorMessage(error).startsWith('NOSCRIPT')) throw error;
        return await deps.redis.eval(lua.source, keys.length, ...keys, ...args);
      }
    } catch (error) {
      throw redisUnavailable(error);
    }
  }

  /** Ended calls by log key, not told to Redis yet (see {@link SETTLE_WITHIN_MS}). */
  const ended = new Map<string, string[]>();
  let flushScheduled = false;
  // Never rejects: a lost update leaves a call counted until grant + inFlightMs, which is safe.
  const settle = (log: string, how: 'done' | 'cancel', members: string[]): Promise<unknown> =>
    run(SETTLE, [log], [how, intervalMs, ...members]).catch((error: unknown) =>
      deps.logger?.debug({ err: error }, 'rate budget: could not record the end of a call'),
    );
  const flushEnded = () => {
    flushScheduled = false;
    for (const [log, members] of ended) void settle(log, 'done', members);
    ended.clear();
  };
  /** The ended calls of `log`, handed to the command about to go (which re-scores them). */
  const takeEnded = (log: string): string[] => {
    const members = ended.get(log) ?? [];
    ended.delete(log);
    return members;
  };

  const permitFor = (key: RateKey, member: string): RatePermit => {
    let finished = false;
    return {
      done: () => {
        if (finished) return;
        finished = true;
        const log = logKey(key);
        ended.set(log, [...(ended.get(log) ?? []), member]);
        if (!flushScheduled) {
          flushScheduled = true;
          setTimeout(flushEnded, SETTLE_WITHIN_MS);
        }
      },
      cancel: () => {
        if (finished) return;
        finished = true;
        void settle(logKey(key), 'cancel', [member]);
      },
    };
  };

  async function look(
    key: RateKey,
    take: boolean,
  ): Promise<RateGrant & { inFlight: boolean; member: string }> {
    const member = randomUUID();
    const log = logKey(key);
    const reply = (await run(
      LOOK,
      [log, holdKey(key.account)],
      [take ? 'take' : 'peek', rate.limit, intervalMs, resolved.inFlightMs, member, ...takeEnded(log)],
    )) as [number, number, number];
    const [granted, waitMs, inFlight] = reply;
    return granted === 1
      ? { granted: true, permit: permitFor(key, member), inFlight: false, member }
      : { granted: false, waitMs: Math.max(1, waitMs), inFlight: inFlight === 1, member };
  }

  return {
    acquire(key, signal) {
      return serve(logKey(key), signal, async () => {
        for (;;) {
          signal?.throwIfAborted();
          const grant = await look(key, true);
          if (grant.granted) {
            if (signal?.aborted) {
              // Aborted while Redis answered: the call will not be made, so it must not count.
              await settle(logKey(key), 'cancel', [grant.member]);
              throw signal.reason;
            }
            return grant.permit;
          }
          await deps.clock.sleep(
            grant.inFlight ? Math.min(grant.waitMs, resolved.recheckMs) : grant.waitMs,
            signal,
          );
        }
      });
    },
    async tryAcquire(key) {
      const grant = await look(key, true);
      return grant.granted
        ? { granted: true, permit: grant.permit }
        : { granted: false, waitMs: grant.waitMs };
    },
    async availableIn(key) {
      const grant = await look(key, false);
      return grant.granted ? 0 : grant.waitMs;
    },
    async turn(key) {
      return Number(
        await run(
          TURN,
          [logKey(key), holdKey(key.account), turnsKey(key)],
          [rate.limit, intervalMs, graceMs, randomUUID()],
        ),
      );
    },
    async throttled(key, retryAfterMs) {
      const hint =
        retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > 0
          ? String(Math.ceil(retryAfterMs))
          : '';
      try {
        const holdMs = await run(
          HOLD,
          [holdKey(key.account)],
          [hint, resolved.holdMarginMs, rate.limit, intervalMs],
        );
        deps.logger?.debug({ ...key, holdMs }, 'rate budget: account held after a throttle');
      } catch (error) {
        deps.logger?.warn({ err: error, ...key }, 'rate budget: could not share a throttle hold');
      }
    },
  };
}

export interface FallbackRateBudgetDeps {
  /** The shared budget, or null when Redis is unreachable; asked again after `retryMs` on local. */
  shared: () => Promise<RateBudget | null>;
  /** Used when there is no shared budget, and after a Redis failure until the shared one answers again. */
  local: RateBudget;
  /** Called when this budget turns to `local` (the caller logs one warning per outage). */
  onFallback: (reason: unknown) => void;
  /** Called when it is back on the shared budget after a fallback. */
  onShared?: () => void;
  /** Measures how long it has been local. */
  clock: Pick<Clock, 'now'>;
  /** How long it stays local before it tries the shared budget again, ms (default 10 s). */
  retryMs?: number;
}

const isRedisFailure = (error: unknown) => error instanceof AppError && error.code === 'redis.unavailable';

/**
 * The shared Redis budget when Redis answers, else — and after Redis fails mid-run — the
 * process-local one, so an outage slows nothing down and fails no call; every `retryMs` it tries
 * the shared one again, so a Redis that restarts is shared again (a fleet that stayed on local
 * budgets would spend N times the quota). The local budget starts empty, so the first calls after
 * a switch may exceed what other processes leave; a throttle then costs a hold, not a failed region.
 */
export function createFallbackRateBudget(deps: FallbackRateBudgetDeps): RateBudget {
  const retryMs = deps.retryMs ?? 10_000;
  let current: Promise<RateBudget> | undefined;
  /** When on local after a failure: the time to try the shared budget again. */
  let retryAt: number | undefined;
  let fellBack = false;
  const toLocal = (reason: unknown) => {
    retryAt = deps.clock.now() + retryMs;
    current = Promise.resolve(deps.local);
    if (!fellBack) deps.onFallback(reason);
    fellBack = true;
  };
  const resolve = () => {
    if (retryAt !== undefined && deps.clock.now() >= retryAt) {
      retryAt = undefined;
      current = undefined;
    }
    current ??= deps.shared().then(
      (shared) => {
        if (shared) {
          if (fellBack) deps.onShared?.();
          fellBack = false;
          return shared;
        }
        toLocal(new Error('Redis unreachable'));
        return deps.local;
      },
      (error: unknown) => {
        toLocal(error);
        return deps.local;
      },
    );
    return current;
  };
  async function use<T>(operation: (budget: RateBudget) => Promise<T>): Promise<T> {
    const budget = await resolve();
    try {
      return await operation(budget);
    } catch (error) {
      if (budget === deps.local || !isRedisFailure(error)) throw error;
      if (retryAt === undefined) toLocal(error);
      return operation(deps.local);
    }
  }
  return {
    acquire: (key, signal) => use((budget) => budget.acquire(key, signal)),
    tryAcquire: (key) => use((budget) => budget.tryAcquire(key)),
    availableIn: (key) => use((budget) => budget.availableIn(key)),
    turn: (key) => use((budget) => budget.turn(key)),
    throttled: (key, retryAfterMs) => use((budget) => budget.throttled(key, retryAfterMs)),
  };
}
