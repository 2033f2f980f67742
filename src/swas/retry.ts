import type { IncomingHttpHeaders } from 'node:http';
import { type AppError, isAppError } from '../shared/app-error.ts';
import { backoffDelay } from '../shared/backoff.ts';
import type { Clock } from '../shared/clock.ts';

/**
 * The retry loop of SWAS calls. Ours rather than undici's retry interceptor (it skips
 * POST, and it can neither spend the rate budget per attempt nor count attempts): every
 * attempt goes through the caller's function, which acquires the budget and records the call.
 */

export interface RetryPolicy {
  /** Attempts in all, the first included. Default 6. */
  maxAttempts: number;
  /** Backoff of the first retry before jitter, in ms. Default 500. */
  baseMs: number;
  /** Cap of any one backoff, in ms. Default 20 000. */
  capMs: number;
  /** No retry starts whose wait would end later than this after the first attempt began, in ms. Default 120 000. */
  maxElapsedMs: number;
}

export const DEFAULT_RETRY_POLICY: Readonly<RetryPolicy> = {
  maxAttempts: 6,
  baseMs: 500,
  capMs: 20_000,
  maxElapsedMs: 120_000,
};

export interface RetryInfo {
  error: AppError;
  /** The attempt that failed, from 1. */
  attempt: number;
  delayMs: number;
}

export interface RetryRunOptions {
  clock: Clock;
  /** [0, 1), for the full jitter. */
  random: () => number;
  signal?: AbortSignal | undefined;
  /** Called before each retry's sleep (for the warn log). */
  onRetry?: (info: RetryInfo) => void;
  /** The error to throw when `signal` aborts a sleep between attempts. */
  abortError: (reason: unknown) => Error;
  /**
   * True for errors whose wait happens elsewhere (a throttle: the rate budget's hold); the loop
   * then retries without a sleep of its own, so the two waits do not add up.
   */
  waitsElsewhere?: (error: AppError) => boolean;
}

/** The server's requested wait in `details.retryAfterMs` of an error, if any. */
function hintedDelay(error: AppError): number {
  const hint = error.details.retryAfterMs;
  return typeof hint === 'number' && Number.isFinite(hint) && hint > 0 ? hint : 0;
}

/**
 * Runs `attempt(n)` (n from 1) until it resolves, throws a non-retryable error, or the policy is
 * spent; then the last error is rethrown with `details.attempts` set. The wait before a retry is
 * the full-jitter backoff, but never less than a wait the server asked for. Non-AppErrors are
 * programming errors and are never retried.
 */
export async function runWithRetries<T>(
  attempt: (n: number) => Promise<T>,
  policy: RetryPolicy,
  options: RetryRunOptions,
): Promise<T> {
  const startedAt = options.clock.now();
  for (let n = 1; ; n++) {
    try {
      return await attempt(n);
    } catch (error) {
      if (!isAppError(error)) throw error;
      error.details.attempts = n;
      if (!error.retryable || n >= policy.maxAttempts) throw error;
      const elsewhere = options.waitsElsewhere?.(error) === true;
      const delayMs = elsewhere
        ? 0
        : Math.max(backoffDelay(n - 1, policy, options.random), hintedDelay(error));
      const expectedWaitMs = elsewhere ? hintedDelay(error) : delayMs;
      if (options.clock.now() - startedAt + expectedWaitMs > policy.maxElapsedMs) throw error;
      options.onRetry?.({ error, attempt: n, delayMs });
      if (delayMs === 0) continue;
      try {
        await options.clock.sleep(delayMs, options.signal);
      } catch (sleepError) {
        if (options.signal?.aborted) throw options.abortError(options.signal.reason);
        throw sleepError;
      }
    }
  }
}

const headerValue = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * `TimeLeft` of a throttling header: a comma list of `Key:Value` pairs (as
 * `getThrottlingTimeLeft` of the official SDKs reads it). The SDKs pass it on as `retryAfter` in ms.
 */
export function throttlingTimeLeft(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  for (const pair of value.split(',')) {
    const colon = pair.indexOf(':');
    if (colon < 0 || pair.slice(0, colon).trim() !== 'TimeLeft') continue;
    const text = pair.slice(colon + 1).trim();
    return /^\d+$/.test(text) ? Number(text) : undefined;
  }
  return undefined;
}

/**
 * The wait a response asks for, in ms: the larger `TimeLeft` of `x-ratelimit-user-api` and
 * `x-ratelimit-user` (as the SDKs do), else `Retry-After` (seconds or an HTTP date); at most
 * {@link MAX_SERVER_DELAY_MS}.
 */
export function serverRetryDelayMs(headers: IncomingHttpHeaders, nowMs: number): number | undefined {
  const asked = askedDelayMs(headers, nowMs);
  return asked === undefined || !Number.isFinite(asked) ? undefined : Math.min(asked, MAX_SERVER_DELAY_MS);
}

/**
 * The longest wait a server's hint is taken for: it holds the account's whole budget, so a
 * broken or hostile value (`Retry-After: 99999999999`) must not stop an account for good.
 */
export const MAX_SERVER_DELAY_MS = 3_600_000;

function askedDelayMs(headers: IncomingHttpHeaders, nowMs: number): number | undefined {
  const timeLeft = [
    throttlingTimeLeft(headerValue(headers, 'x-ratelimit-user-api')),
    throttlingTimeLeft(headerValue(headers, 'x-ratelimit-user')),
  ].filter((value) => value !== undefined);
  if (timeLeft.length > 0) return Math.max(...timeLeft);
  const retryAfter = headerValue(headers, 'retry-after')?.trim();
  if (retryAfter === undefined || retryAfter === '') return undefined;
  if (/^\d+$/.test(retryAfter)) return Number(retryAfter) * 1_000;
  const date = Date.parse(retryAfter);
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs);
}
