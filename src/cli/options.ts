import { AppError } from '../shared/app-error.ts';
import { parseDuration } from '../shared/duration.ts';

/** commander collector for repeatable options (`--region a --region b`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** A `--format` value checked against the command's formats (exit 2 otherwise). */
export function parseFormat<T extends string>(value: string, allowed: readonly T[]): T {
  if ((allowed as readonly string[]).includes(value)) return value as T;
  throw new AppError('cli.usage', `--format must be one of ${allowed.join(', ')}, got "${value}"`);
}

/** A whole-number option such as `--port` (exit 2 when it is not one). */
export function parseInteger(flag: string, value: string, min: number, max: number): number {
  const number = Number(value);
  if (!/^\d+$/.test(value) || number < min || number > max) {
    throw new AppError('cli.usage', `${flag} must be a whole number from ${min} to ${max}, got "${value}"`);
  }
  return number;
}

const ISO_INSTANT =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/**
 * A point in time given to `--since`, `--until` or `--at`: `now`, an ISO 8601 date (`2026-03-01`,
 * midnight UTC) or date-time (`2026-03-01T08:00`, UTC unless it has an offset), or a duration
 * meaning that long ago (`90m`, `7d`). Returns undefined when the text is none of these.
 */
export function parseInstant(value: string, now: number): Date | undefined {
  const text = value.trim();
  if (text.toLowerCase() === 'now') return new Date(now);
  const ago = parseDuration(text);
  if (ago !== undefined) return new Date(now - ago);
  const match = ISO_INSTANT.exec(text);
  if (!match) return undefined;
  const [, year, month, day, hour = '00', minute = '00', second = '00', ms = '0', zone = 'Z'] = match;
  const iso = `${year}-${month}-${day}T${hour}:${minute}:${second}.${ms.padEnd(3, '0')}${zone.toUpperCase()}`;
  const date = new Date(iso);
  // Date also accepts 2026-02-30 (as March 2nd): a calendar date must read back the same.
  if (Number.isNaN(date.getTime())) return undefined;
  const check = new Date(`${year}-${month}-${day}T00:00:00Z`);
  if (Number.isNaN(check.getTime()) || check.toISOString().slice(0, 10) !== `${year}-${month}-${day}`) {
    return undefined;
  }
  return date;
}

/**
 * Collects every bad flag of a command, so that one message names them all.
 * `add` records a problem; `done` throws `cli.usage` listing them, if any.
 */
export function usageProblems() {
  const problems: string[] = [];
  return {
    add(problem: string) {
      problems.push(problem);
    },
    done(): void {
      if (problems.length === 1) throw new AppError('cli.usage', problems[0] ?? '');
      if (problems.length > 1) throw new AppError('cli.usage', `bad flags:\n  ${problems.join('\n  ')}`);
    },
  };
}
