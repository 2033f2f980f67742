import { displayText } from '../shared/display-text.ts';
import { safeJson } from './safe-json.ts';
import { renderTable } from './table.ts';

export const OUTPUT_FORMATS = ['table', 'json', 'csv'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export type Cell = string | number | boolean | null | Date | Record<string, unknown> | unknown[];

/**
 * One output column: `key` names it in JSON objects and the CSV header (camelCase, stable: scripts
 * rely on it), `header` in the table; `table: false` keeps it out of the table (ids, payloads);
 * `kind: 'duration'` renders seconds as `2h05m` in the table and leaves the number elsewhere.
 */
export interface Column<R> {
  key: string;
  header: string;
  /** The view's value, as JSON and CSV give it. */
  value(row: R): Cell;
  /** What the table shows instead, when it words the value for reading (JSON and CSV never do). */
  tableValue?(row: R): Cell;
  table?: boolean;
  kind?: 'duration';
}

// A spreadsheet runs a cell that starts with one of these as a formula.
const FORMULA_START = /^[=+\-@\t\r]/;

/** `2026-01-01T00:15:00Z` (whole seconds: the table is for reading; JSON keeps milliseconds). */
export function formatInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** `45s`, `4m05s`, `2h05m`, `3d04h`: the two largest units. */
export function formatSeconds(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86_400)}d${pad(Math.floor((s % 86_400) / 3600))}h`;
}

function plainValue(cell: Cell): unknown {
  return cell instanceof Date ? cell.toISOString() : cell;
}

function tableText(cell: Cell, kind: Column<unknown>['kind']): string {
  if (cell === null) return '';
  if (cell instanceof Date) return formatInstant(cell);
  if (kind === 'duration' && typeof cell === 'number') return formatSeconds(cell);
  // renderTable passes every cell through displayText.
  return typeof cell === 'object' ? JSON.stringify(cell) : String(cell);
}

function csvField(cell: Cell, terminal: boolean): string {
  const value = plainValue(cell);
  let text = value === null ? '' : typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (terminal) text = displayText(text, Number.POSITIVE_INFINITY);
  // Text from outside (an image's name) must not run as a formula where the CSV is opened.
  if (typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * Renders rows in one of the formats. JSON is an array of objects with every column, timestamps as
 * ISO 8601 UTC with milliseconds, durations in seconds, absent values as null; characters that a
 * terminal could act on are escaped (`\u009b`), so the text is exact and safe to print. The table
 * and, on a terminal, the CSV show every value through `displayText` (escapes and controls removed).
 */
export function renderRows<R>(
  rows: readonly R[],
  columns: readonly Column<R>[],
  format: OutputFormat,
  options: { terminal: boolean },
): string {
  switch (format) {
    case 'json': {
      const objects = rows.map((row) =>
        Object.fromEntries(columns.map((column) => [column.key, plainValue(column.value(row))])),
      );
      return safeJson(objects);
    }
    case 'csv':
      return [
        columns.map((column) => column.key).join(','),
        ...rows.map((row) =>
          columns.map((column) => csvField(column.value(row), options.terminal)).join(','),
        ),
      ].join('\n');
    case 'table': {
      const shown = columns.filter((column) => column.table !== false);
      const table = renderTable(
        shown.map((column) => column.header),
        rows.map((row) =>
          shown.map((column) => tableText((column.tableValue ?? column.value)(row), column.kind)),
        ),
      );
      return rows.length === 0 ? `${table}\n(no rows)` : table;
    }
    default: {
      const never: never = format;
      throw new Error(`unknown format ${String(never)}`);
    }
  }
}
