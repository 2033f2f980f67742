import { AppError } from '../shared/app-error.ts';

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
