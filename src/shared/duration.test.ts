import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration, parseRate } from './duration.ts';

describe('durations', () => {
  it('parses units and combinations', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('15m')).toBe(900_000);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1_500);
  });

  it('rejects bare numbers and unknown units', () => {
    for (const text of ['10', '', 'sometimes', '5 minutes', '1w', 'm5'])
      expect(parseDuration(text)).toBeUndefined();
  });

  it('parses rates', () => {
    expect(parseRate('10/1m')).toEqual({ limit: 10, intervalMs: 60_000 });
    expect(parseRate('5/s')).toEqual({ limit: 5, intervalMs: 1_000 });
    expect(parseRate('0/1m')).toBeUndefined();
    expect(parseRate('ten/1m')).toBeUndefined();
  });

  it('formats for summaries', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_340)).toBe('12.3s');
    expect(formatDuration(245_000)).toBe('4m05s');
  });
});
