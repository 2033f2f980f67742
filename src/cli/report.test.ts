import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { parseInstant } from './options.ts';
import { parseEventsRequest, parseReportRequest, type ReportFlags } from './report.ts';

const NOW = Date.parse('2026-03-10T12:00:00Z');
const flags = (overrides: Partial<ReportFlags> = {}): ReportFlags => ({
  account: [],
  region: [],
  image: [],
  ...overrides,
});
const usageMessage = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    if (error instanceof AppError && error.code === 'cli.usage') return error.message;
    throw error;
  }
  throw new Error('expected a usage error');
};

describe('parseInstant', () => {
  it('reads dates (UTC midnight), date-times (UTC unless offset), durations ago and now', () => {
    const iso = (text: string) => parseInstant(text, NOW)?.toISOString();
    expect(iso('2026-03-01')).toBe('2026-03-01T00:00:00.000Z');
    expect(iso('2026-03-01T08:30')).toBe('2026-03-01T08:30:00.000Z');
    expect(iso('2026-03-01 08:30:15.5')).toBe('2026-03-01T08:30:15.500Z');
    expect(iso('2026-03-01T08:30:00+08:00')).toBe('2026-03-01T00:30:00.000Z');
    expect(iso('7d')).toBe('2026-03-03T12:00:00.000Z');
    expect(iso('90m')).toBe('2026-03-10T10:30:00.000Z');
    expect(iso('now')).toBe('2026-03-10T12:00:00.000Z');
  });

  it('rejects what is not a time', () => {
    for (const text of ['yesterday', '2026-02-30', '2026-13-01', '10', '', '2026-03-01T25:00']) {
      expect(parseInstant(text, NOW), text).toBeUndefined();
    }
  });
});

describe('parseReportRequest', () => {
  it('defaults to a table on a terminal and JSON elsewhere', () => {
    expect(parseReportRequest('inventory', flags(), { now: NOW, isTty: true }).format).toBe('table');
    expect(parseReportRequest('inventory', flags(), { now: NOW, isTty: false }).format).toBe('json');
  });

  it('builds the scope, window and images of a timeline report', () => {
    expect(
      parseReportRequest(
        'failures',
        flags({ account: ['prod'], region: ['cn-hangzhou'], image: ['m-1'], since: '7d', format: 'csv' }),
        { now: NOW, isTty: true },
      ),
    ).toEqual({
      name: 'failures',
      format: 'csv',
      scope: { accounts: ['prod'], regions: ['cn-hangzhou'] },
      window: { since: new Date('2026-03-03T12:00:00Z') },
      imageIds: ['m-1'],
    });
  });

  it('names every bad flag in one message', () => {
    const message = usageMessage(() =>
      parseReportRequest('sync-health', flags({ format: 'xml', since: 'soon', image: ['m-1'] }), {
        now: NOW,
        isTty: false,
      }),
    );
    expect(
      message
        .split('\n')
        .slice(1)
        .map((line) => line.trim()),
    ).toEqual([
      '--format must be one of table, json, csv, got "xml"',
      '--since must be a date, a date-time or a duration ago (2026-03-01, 2026-03-01T08:00Z, 7d), got "soon"',
      '--since does not apply to report sync-health',
      '--image does not apply to report sync-health',
    ]);
    expect(usageMessage(() => parseReportRequest('as-of', flags(), { now: NOW, isTty: false }))).toContain(
      '--at is required',
    );
    expect(
      usageMessage(() =>
        parseReportRequest('shares', flags({ since: '2026-03-02', until: '2026-03-01' }), {
          now: NOW,
          isTty: false,
        }),
      ),
    ).toBe('--since must be earlier than --until');
    expect(usageMessage(() => parseReportRequest('all', flags(), { now: NOW, isTty: false }))).toContain(
      'unknown report "all"',
    );
  });
});

describe('parseEventsRequest', () => {
  it('checks types and the limit', () => {
    const base = { account: [], region: [], image: [], type: [], limit: '1000' };
    expect(
      parseEventsRequest(
        { ...base, type: ['image.failed'], until: '2026-03-01' },
        { now: NOW, isTty: false },
      ),
    ).toEqual({
      format: 'json',
      query: {
        accounts: [],
        regions: [],
        imageIds: [],
        types: ['image.failed'],
        until: new Date('2026-03-01T00:00:00Z'),
        limit: 1000,
      },
    });
    const message = usageMessage(() =>
      parseEventsRequest({ ...base, type: ['image.gone'], limit: '-1' }, { now: NOW, isTty: false }),
    );
    expect(message).toContain('--type must be one of image.created');
    expect(message).toContain('--limit must be a whole number from 1 to 1000000, got "-1"');
  });
});
