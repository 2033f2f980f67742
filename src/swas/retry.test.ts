import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { type Clock, createManualClock } from '../shared/clock.ts';
import { DEFAULT_RETRY_POLICY, runWithRetries, serverRetryDelayMs, throttlingTimeLeft } from './retry.ts';

const START = Date.UTC(2026, 0, 1);

function recordingClock() {
  const manual = createManualClock(START);
  const sleeps: number[] = [];
  const clock: Clock = {
    now: manual.now,
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      await manual.sleep(ms, signal);
    },
  };
  return { clock, sleeps };
}

const retryable = (details: Record<string, unknown> = {}) =>
  new AppError('swas.unavailable', 'down', { retryable: true, details });
const abortError = (reason: unknown) => new AppError('swas.aborted', 'aborted', { cause: reason });

describe('runWithRetries', () => {
  it('backs off with full jitter and returns the first success', async () => {
    const { clock, sleeps } = recordingClock();
    let calls = 0;
    const result = await runWithRetries(
      async () => {
        calls++;
        if (calls < 4) throw retryable();
        return 'ok';
      },
      DEFAULT_RETRY_POLICY,
      { clock, random: () => 0.5, abortError },
    );
    expect(result).toBe('ok');
    expect(sleeps).toEqual([250, 500, 1_000]);
  });

  it('stops after maxAttempts and rethrows the last error with the attempt count', async () => {
    const { clock } = recordingClock();
    let calls = 0;
    const failure = runWithRetries(
      async () => {
        calls++;
        throw retryable();
      },
      { ...DEFAULT_RETRY_POLICY, maxAttempts: 3 },
      { clock, random: () => 0.5, abortError },
    );
    await expect(failure).rejects.toMatchObject({ code: 'swas.unavailable', details: { attempts: 3 } });
    expect(calls).toBe(3);
  });

  it('never waits less than the server asked for', async () => {
    const { clock, sleeps } = recordingClock();
    let calls = 0;
    await runWithRetries(
      async () => {
        calls++;
        if (calls < 3) throw retryable({ retryAfterMs: 4_000 });
      },
      DEFAULT_RETRY_POLICY,
      { clock, random: () => 0.99, abortError },
    );
    expect(sleeps).toEqual([4_000, 4_000]);
  });

  it('does not start a retry whose wait would end beyond maxElapsedMs', async () => {
    const { clock, sleeps } = recordingClock();
    let calls = 0;
    const failure = runWithRetries(
      async () => {
        calls++;
        throw retryable({ retryAfterMs: 50_000 });
      },
      { ...DEFAULT_RETRY_POLICY, maxElapsedMs: 120_000 },
      { clock, random: () => 0, abortError },
    );
    await expect(failure).rejects.toMatchObject({ details: { attempts: 3 } });
    expect(sleeps).toEqual([50_000, 50_000]);
    expect(calls).toBe(3);
  });

  it('does not retry non-retryable AppErrors or foreign errors', async () => {
    const { clock } = recordingClock();
    let calls = 0;
    const options = { clock, random: () => 0.5, abortError };
    await expect(
      runWithRetries(
        async () => {
          calls++;
          throw new AppError('swas.auth', 'no');
        },
        DEFAULT_RETRY_POLICY,
        options,
      ),
    ).rejects.toMatchObject({ code: 'swas.auth' });
    await expect(
      runWithRetries(
        async () => {
          calls++;
          throw new TypeError('bug');
        },
        DEFAULT_RETRY_POLICY,
        options,
      ),
    ).rejects.toBeInstanceOf(TypeError);
    expect(calls).toBe(2);
  });

  it('turns an abort during the backoff sleep into the abort error', async () => {
    const { clock } = recordingClock();
    const controller = new AbortController();
    const reason = new Error('stop');
    let calls = 0;
    const failure = runWithRetries(
      async () => {
        calls++;
        controller.abort(reason);
        throw retryable();
      },
      DEFAULT_RETRY_POLICY,
      { clock, random: () => 0.5, signal: controller.signal, abortError },
    );
    await expect(failure).rejects.toMatchObject({ code: 'swas.aborted', cause: reason });
    expect(calls).toBe(1);
  });
});

describe('server-given waits', () => {
  it('reads TimeLeft like getThrottlingTimeLeft: the larger of both headers', () => {
    expect(throttlingTimeLeft('Limit:10,Remain:0,TimeLeft:2345,Reset:1')).toBe(2345);
    expect(throttlingTimeLeft('Remain:0')).toBeUndefined();
    expect(throttlingTimeLeft('TimeLeft:soon')).toBeUndefined();
    expect(
      serverRetryDelayMs(
        { 'x-ratelimit-user-api': 'Remaining:10,TimeLeft:5', 'x-ratelimit-user': 'TimeLeft:3000' },
        START,
      ),
    ).toBe(3000);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(serverRetryDelayMs({ 'retry-after': '7' }, START)).toBe(7_000);
    expect(serverRetryDelayMs({ 'retry-after': new Date(START + 12_000).toUTCString() }, START)).toBe(12_000);
    expect(serverRetryDelayMs({ 'retry-after': 'whenever' }, START)).toBeUndefined();
    // A broken or hostile hint holds the account an hour at most.
    expect(serverRetryDelayMs({ 'retry-after': '99999999999999999999' }, START)).toBe(3_600_000);
    expect(serverRetryDelayMs({ 'x-ratelimit-user-api': 'TimeLeft:99999999999' }, START)).toBe(3_600_000);
    expect(serverRetryDelayMs({}, START)).toBeUndefined();
  });
});
