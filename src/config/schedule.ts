import { createRequire } from 'node:module';
import { parseDuration } from '../shared/duration.ts';

// Loaded on use: only a cron schedule needs it (with its time-zone library), not an interval.
const load = createRequire(import.meta.url);
const cronParser = () => load('cron-parser') as typeof import('cron-parser');

/** A full-sync cadence: a fixed interval or a cron expression (5 fields, or 6 with seconds). */
export type Schedule = { kind: 'interval'; everyMs: number } | { kind: 'cron'; pattern: string; tz: string };

/** The schedule of `SYNC_SCHEDULE`, or an error text saying why it is not one. */
export function parseSchedule(text: string, tz: string): Schedule | { error: string } {
  const trimmed = text.trim();
  const everyMs = parseDuration(trimmed);
  if (everyMs !== undefined) {
    return everyMs >= 1_000 ? { kind: 'interval', everyMs } : { error: 'an interval must be at least 1s' };
  }
  const fields = trimmed.split(/\s+/).length;
  if (fields !== 5 && fields !== 6) {
    return {
      error: `expected an interval such as 30s, 15m or 1h, or a cron expression of 5 or 6 fields, got "${text}"`,
    };
  }
  try {
    cronParser().CronExpressionParser.parse(trimmed, { tz });
    return { kind: 'cron', pattern: trimmed, tz };
  } catch (error) {
    return {
      error: `invalid cron expression "${text}": ${error instanceof Error ? error.message : String(error)}`,
    };
  }
}

/** True when `tz` is an IANA time zone this runtime knows. */
export function isTimeZone(tz: string): boolean {
  // The default needs no check, and the first DateTimeFormat costs ~50 ms of ICU loading.
  if (tz === 'UTC') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}
