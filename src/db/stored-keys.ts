import type { StoredImage } from '../sync/model.ts';
import { epochMs } from './image-row.ts';

/**
 * The keys of a scope's image rows as ONE text value, a line per row:
 * `image_id version deleted_ms observed_ms hash`, the two nullable fields empty when null (NULL
 * for a scope without rows). The server builds it while the client's event loop stays free: read
 * as rows, node-postgres parsed every field of every row on the thread that also reads the
 * listing's first pages, 90-145 ms of CPU for a fresh process and 20,000 images against 25-30 ms
 * this way (and ~10 ms against ~30 once warm). `$1` is the account, `$2` the region.
 */
export const STORED_KEYS_QUERY = `select string_agg(concat_ws(' ', image_id, version,
    coalesce(${epochMs('deleted_at')}::text, ''),
    ${epochMs('greatest(last_seen_at, deleted_at)')},
    coalesce(state_hash, '')), E'\\n')
  from custom_images where account = $1 and region_id = $2`;

/**
 * The rows of {@link STORED_KEYS_QUERY}'s text. Fields are taken from the end of each line, so an
 * id holding a space would still read whole (stored ids are printable ASCII without spaces or
 * line breaks); the numbers are the server's float8 text, read as node-postgres reads a float8.
 *
 * Ids and hashes are copied out of the text rather than sliced from it: a slice is a view that
 * reaches its characters through the 2-9 MB text, and a listing looking 100,000 ids up in a map
 * keyed by such views took twice as long as with keys of their own.
 */
export function parseStoredKeys(text: string | null): StoredImage[] {
  if (text === null || text === '') return [];
  // One byte per character when the text is ASCII (stored ids are): copies come from its bytes.
  const bytes = Buffer.byteLength(text, 'utf8') === text.length ? Buffer.from(text, 'latin1') : undefined;
  const copy = (from: number, to: number) =>
    bytes ? bytes.toString('latin1', from, to) : text.slice(from, to);
  const keys: StoredImage[] = [];
  let start = 0;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline === -1 ? text.length : newline;
    const hashAt = text.lastIndexOf(' ', end - 1);
    const observedAt = text.lastIndexOf(' ', hashAt - 1);
    const deletedAt = text.lastIndexOf(' ', observedAt - 1);
    const versionAt = text.lastIndexOf(' ', deletedAt - 1);
    if (versionAt < start) throw new Error(`unreadable stored key line: ${text.slice(start, end)}`);
    const deleted = text.slice(deletedAt + 1, observedAt);
    keys.push({
      imageId: copy(start, versionAt),
      version: Number(text.slice(versionAt + 1, deletedAt)),
      deletedAt: deleted === '' ? null : Number(deleted),
      observedAt: Number(text.slice(observedAt + 1, hashAt)),
      hash: hashAt + 1 === end ? null : copy(hashAt + 1, end),
    });
    start = end + 1;
  }
  return keys;
}
