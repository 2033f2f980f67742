import { describe, expect, it } from 'vitest';
import { regionDeduplicationId, scheduleRepeat } from './queues.ts';
import { interleaveAccounts, scheduleIntervalMs } from './sync-planner.ts';

describe('schedules', () => {
  const at = Date.UTC(2026, 2, 1, 10, 7, 30);

  it('takes an interval as is, and a cron as the gap between its next two firings in its time zone', () => {
    expect(scheduleIntervalMs({ kind: 'interval', everyMs: 900_000 }, at)).toBe(900_000);
    expect(scheduleIntervalMs({ kind: 'cron', pattern: '*/2 * * * * *', tz: 'UTC' }, at)).toBe(2_000);
    expect(scheduleIntervalMs({ kind: 'cron', pattern: '0 */15 * * * *', tz: 'UTC' }, at)).toBe(900_000);
    // Daily at 02:00 Shanghai time: a day between firings.
    expect(scheduleIntervalMs({ kind: 'cron', pattern: '0 2 * * *', tz: 'Asia/Shanghai' }, at)).toBe(
      86_400_000,
    );
  });

  it('gives BullMQ `every` for an interval and the pattern with its zone for a cron', () => {
    expect(scheduleRepeat({ kind: 'interval', everyMs: 30_000 })).toEqual({ every: 30_000 });
    expect(scheduleRepeat({ kind: 'cron', pattern: '0 * * * *', tz: 'Asia/Shanghai' })).toEqual({
      pattern: '0 * * * *',
      tz: 'Asia/Shanghai',
    });
  });

  it('deduplicates per kind and scope, unambiguously whatever the account name', () => {
    const a = regionDeduplicationId('full', { account: 'a|b', regionId: 'cn-hangzhou' });
    const b = regionDeduplicationId('full', { account: 'a', regionId: 'b|cn-hangzhou' });
    expect(a).not.toBe(b);
    expect(regionDeduplicationId('watch', { account: 'a', regionId: 'cn-hangzhou' })).not.toBe(
      regionDeduplicationId('full', { account: 'a', regionId: 'cn-hangzhou' }),
    );
  });
});

describe('interleaveAccounts', () => {
  it('queues one region of every account in turn, keeping each account’s own order', () => {
    const scopes = [
      ...['r1', 'r2', 'r3'].map((regionId) => ({ account: 'big', regionId })),
      ...['s1', 's2'].map((regionId) => ({ account: 'small', regionId })),
    ];
    expect(interleaveAccounts(scopes).map((scope) => scope.regionId)).toEqual(['r1', 's1', 'r2', 's2', 'r3']);
  });
});
