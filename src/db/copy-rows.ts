import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';

/**
 * Bulk inserts through `COPY … FROM STDIN` (text format), streamed with backpressure. A bulk
 * `INSERT` would carry its rows as one parameter: a string of several megabytes per statement,
 * which V8 keeps in its large-object space until a full collection, so a 20,000-image baseline
 * grew the heap by ~70 MB of dead JSON. Here rows become lines gathered into pieces of ~16k characters that
 * die young, and the server parses them faster than it parses one jsonb document.
 *
 * pg-copy-streams implements the COPY sub-protocol on node-postgres's own connection (so it joins
 * the caller's transaction); a failed COPY raises the server's error and leaves nothing written.
 */

/** How each value is written: `jsonb` values are serialised with `JSON.stringify`. */
export type CopyType = 'text' | 'integer' | 'boolean' | 'timestamptz' | 'jsonb' | 'uuid';

export interface CopyColumn {
  name: string;
  type: CopyType;
}

/** Text of about this many characters is sent at once: small enough to stay out of V8's large-object space. */
const PIECE_CHARS = 16 * 1024;
const SPECIAL = /[\\\t\n\r]/;

/** One field in COPY text format: `\N` for null, backslash escapes for the four special bytes. */
export function copyField(value: unknown, type: CopyType): string {
  if (value === null || value === undefined) return '\\N';
  if (type === 'boolean') return value ? 't' : 'f';
  const text = type === 'jsonb' ? JSON.stringify(value) : String(value);
  return SPECIAL.test(text)
    ? text.replaceAll('\\', '\\\\').replaceAll('\t', '\\t').replaceAll('\n', '\\n').replaceAll('\r', '\\r')
    : text;
}

function* pieces(columns: readonly CopyColumn[], rows: Iterable<readonly unknown[]>): Generator<string> {
  let piece = '';
  for (const row of rows) {
    let line = '';
    for (let i = 0; i < columns.length; i++) {
      line += (i === 0 ? '' : '\t') + copyField(row[i], (columns[i] as CopyColumn).type);
    }
    piece += `${line}\n`;
    if (piece.length >= PIECE_CHARS) {
      yield piece;
      piece = '';
    }
  }
  if (piece !== '') yield piece;
}

/**
 * Copies `rows` (values in `columns` order) into `table` on `client` (a transaction's connection)
 * and returns the number of rows the server wrote. `table` and the column names are trusted SQL
 * identifiers from the schema, never input.
 */
export function copyRows(
  client: Pick<pg.ClientBase, 'query'>,
  table: string,
  columns: readonly CopyColumn[],
  rows: Iterable<readonly unknown[]>,
): Promise<number> {
  const names = columns.map((column) => `"${column.name}"`).join(', ');
  return copyText(client, `copy ${table} (${names}) from stdin`, pieces(columns, rows));
}

/** Runs the COPY statement `statement`, streaming `text` (already in COPY text format); rows written. */
export async function copyText(
  client: Pick<pg.ClientBase, 'query'>,
  statement: string,
  text: Iterable<string>,
): Promise<number> {
  // Loaded on first use: a sync that writes nothing new (most do) never needs it.
  const { from: copyFrom } = await import('pg-copy-streams');
  const stream = client.query(copyFrom(statement));
  await pipeline(Readable.from(text, { objectMode: false }), stream);
  return stream.rowCount;
}
