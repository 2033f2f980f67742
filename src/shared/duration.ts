/**
 * Human durations used by the configuration: `500ms`, `30s`, `15m`, `1h`, `2d`, or combinations
 * such as `1h30m`. A bare number is rejected on purpose: `10` could mean seconds or milliseconds.
 */
const UNIT_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Milliseconds of a duration string, or `undefined` when it is not one. */
export function parseDuration(text: string): number | undefined {
  const input = text.trim();
  if (input === '') return undefined;
  PART.lastIndex = 0;
  let total = 0;
  while (PART.lastIndex < input.length) {
    const match = PART.exec(input);
    if (!match) return undefined;
    total += Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  }
  return Math.round(total);
}

/** Compact form for summaries: `850ms`, `12.3s`, `4m05s`. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1_000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  const seconds = Math.round((ms % 60_000) / 1_000);
  return `${minutes}m${String(seconds).padStart(2, '0')}s`;
}

export interface Rate {
  /** Calls allowed in any window of `intervalMs`. */
  limit: number;
  intervalMs: number;
}

/** `10/1m` → at most 10 calls in any one-minute window; `5/s` is read as `5/1s`. */
export function parseRate(text: string): Rate | undefined {
  const match = /^\s*(\d+)\s*\/\s*(\S+)\s*$/.exec(text);
  if (!match) return undefined;
  const limit = Number(match[1]);
  const unit = match[2] ?? '';
  const intervalMs = parseDuration(/^\d/.test(unit) ? unit : `1${unit}`);
  if (!Number.isInteger(limit) || limit < 1 || intervalMs === undefined || intervalMs < 1) return undefined;
  return { limit, intervalMs };
}
