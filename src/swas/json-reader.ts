/**
 * JSON reading for API bodies: big integers keep their digits, and text comes out as PostgreSQL
 * can store it.
 *
 * Big integers. `UserId` is a 16-digit account id and may exceed 2^53, where `JSON.parse` would
 * silently round it. Integers under an id key ({@link INTEGER_ID_KEYS}) always come out as decimal
 * text, big or not, so the value's type does not depend on its size; any other integer beyond
 * `Number.MAX_SAFE_INTEGER` comes out as its digits too (no silent rounding).
 * - The body is parsed as it is, then one walk over the value turns id keys holding integers into
 *   their digits (exact for safe integers) and looks for an integer that is not safe. Rounding is
 *   monotonic, so a literal of 2^53 or more parses to a number that is not a safe integer: the
 *   walk sees every integer that may have lost digits. The usual body has none (account ids are
 *   16 digits below 2^53), and a page of a few hundred kilobytes is neither scanned twice nor copied.
 * - A body where the walk found one is read again, exactly: one regular-expression pass quotes
 *   `"Key": digits` (followed by `,` `}` or `]`) for id keys and unsafe values. Inside a JSON
 *   string every `"` is escaped as `\"`, and a backslash is not a key character, so the pattern
 *   cannot start or end inside a string: string contents are never touched. A long run the pass
 *   did not quote (an array element, digits inside some text) sends the body through a reviver
 *   that reads each number's source text: rare, slower, and exact.
 *
 * Storable text. PostgreSQL's text and jsonb cannot hold U+0000, and jsonb rejects a lone UTF-16
 * surrogate. When the body holds either (escaped, as `\u0000` or `\ud800`…; only escapes can
 * produce them), every string and key of the value is rewritten: NUL becomes U+2400 (␀, "symbol for
 * null") and a lone surrogate U+FFFD. The substitution happens before hashing and storage, so the
 * stored item is what every later sync compares against; it is lossless unless the text already
 * held those symbols.
 *
 * Nesting. A value nested deeper than {@link MAX_DEPTH} levels below the body's root (an unknown
 * field, thousands of levels deep in ten kilobytes) is replaced by the text {@link TOO_DEEP_TEXT}
 * during the same walk: the walks over the value stay bounded (a recursion that deep would
 * overflow the stack and fail the page on every read), and PostgreSQL's jsonb, which limits
 * nesting by its own stack, gets an item it can store. Real items nest three levels at most.
 *
 * Bodies arrive as UTF-8 bytes and are decoded as they are ({@link readApiJsonBytes}). A page with
 * Chinese names is then a two-byte string over V8's 128 kB large-object limit, in memory mapped
 * for it; escaping its non-ASCII characters to keep it one byte per character costs more CPU than
 * those page faults unless one costs over ~8 µs (docs/sync-design.md has both VMs' figures).
 */

/** Keys whose integer values are identifiers and always become decimal text. */
export const INTEGER_ID_KEYS: ReadonlySet<string> = new Set(['UserId']);

/** Levels below a body's root beyond which a value is stored as {@link TOO_DEEP_TEXT}. */
export const MAX_DEPTH = 64;
export const TOO_DEEP_TEXT = `[nested deeper than ${MAX_DEPTH} levels]`;

/** Substitutes for what PostgreSQL cannot store (see the module comment). */
export const NUL_SUBSTITUTE = '\u2400';
export const SURROGATE_SUBSTITUTE = '\ufffd';

export type JsonReadResult = { ok: true; value: unknown } | { ok: false; reason: string };

const INTEGER_MEMBER = /"([A-Za-z0-9_]+)"(\s*:\s*)(-?\d+)(?=\s*[,}\]])/g;
const UNSTORABLE_ESCAPE = /\\u(0000|[dD][89abAB]|[dD][c-fC-F])/;

function quoteBigIntegers(text: string): string {
  return text.replace(INTEGER_MEMBER, (member, key: string, colon: string, digits: string) =>
    INTEGER_ID_KEYS.has(key) || (digits.length >= 16 && !Number.isSafeInteger(Number(digits)))
      ? `"${key}"${colon}"${digits}"`
      : member,
  );
}

/** An integer that may have lost digits in parsing: a safe one is exact, and every other is not. */
const lostDigits = (value: number): boolean => !Number.isSafeInteger(value) && Number.isInteger(value);

/** What a walk over a parsed body found: an integer that may have lost digits, a value cut for depth. */
interface Walk {
  unsafe: boolean;
  cut: boolean;
}

/**
 * Turns integer values under id keys, anywhere in `value`, into their digits (in place: `value`
 * is fresh), replaces what is nested deeper than {@link MAX_DEPTH} by {@link TOO_DEEP_TEXT}, and
 * notes in `walk` whether some integer is not safe (then `value` has lost digits).
 */
function idsAsText(value: unknown, walk: Walk, depth = 0): void {
  if (Array.isArray(value)) {
    for (let index = 0; index < value.length; index++) {
      const inner: unknown = value[index];
      if (typeof inner === 'number') walk.unsafe ||= lostDigits(inner);
      else if (inner !== null && typeof inner === 'object') {
        if (depth < MAX_DEPTH) idsAsText(inner, walk, depth + 1);
        else {
          value[index] = TOO_DEEP_TEXT;
          walk.cut = true;
        }
      }
    }
    return;
  }
  if (value === null || typeof value !== 'object') return;
  const record = value as Record<string, unknown>;
  for (const key in record) {
    const inner = record[key];
    if (typeof inner === 'number') {
      if (lostDigits(inner)) walk.unsafe = true;
      else if (Number.isInteger(inner) && INTEGER_ID_KEYS.has(key)) record[key] = String(inner);
    } else if (inner !== null && typeof inner === 'object') {
      if (depth < MAX_DEPTH) idsAsText(inner, walk, depth + 1);
      else {
        record[key] = TOO_DEEP_TEXT;
        walk.cut = true;
      }
    }
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: NUL is exactly what is matched.
const UNSTORABLE = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** `text` as PostgreSQL text can hold it (see the module comment). */
export function storableText(text: string): string {
  UNSTORABLE.lastIndex = 0;
  if (!UNSTORABLE.test(text)) return text;
  return text.replace(UNSTORABLE, (found) => (found === '\u0000' ? NUL_SUBSTITUTE : SURROGATE_SUBSTITUTE));
}

function storableValue(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storableValue);
  if (value !== null && typeof value === 'object') {
    const copy: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) copy[storableText(key)] = storableValue(inner);
    return copy;
  }
  return value;
}

/** True when a run of 16+ digits is left that the quoting pass did not wrap in quotes. */
function hasUnquotedLongDigits(text: string): boolean {
  for (const match of text.matchAll(/-?\d{16,}/g)) {
    const end = match.index + match[0].length;
    if (text[match.index - 1] !== '"' || text[end] !== '"') return true;
  }
  return false;
}

interface ReviverContext {
  source?: string;
}

/** Any unsafe integer as its decimal text, from its source (V8's JSON.parse source text access). */
function keepUnsafeIntegers(_key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value !== 'number' || Number.isSafeInteger(value)) return value;
  const source = context?.source;
  return source !== undefined && /^-?\d+$/.test(source) ? source : value;
}

const decoder = new TextDecoder();

/** {@link readApiJson} of a UTF-8 body: a leading byte order mark dropped, bad bytes as U+FFFD. */
export function readApiJsonBytes(bytes: Uint8Array): JsonReadResult {
  return readApiJson(decoder.decode(bytes));
}

/** Parses an API body; never throws. `reason` is the parser's message (no body text beyond it). */
export function readApiJson(text: string): JsonReadResult {
  if (text.trim() === '') return { ok: false, reason: 'empty body' };
  try {
    let value: unknown = JSON.parse(text);
    const walk: Walk = { unsafe: false, cut: false };
    idsAsText(value, walk);
    if (walk.unsafe) {
      const quoted = quoteBigIntegers(text);
      // A reviver recurses as deep as the body nests: not through a value this walk had to cut
      // (such a page keeps the digits the quoting pass saves, not those of array elements).
      value =
        hasUnquotedLongDigits(quoted) && !walk.cut
          ? JSON.parse(quoted, keepUnsafeIntegers)
          : JSON.parse(quoted);
      idsAsText(value, { unsafe: false, cut: false });
    }
    // Only an escape can make what PostgreSQL cannot store; most bodies have no escape at all.
    const unstorable = text.includes('\\u') && UNSTORABLE_ESCAPE.test(text);
    return { ok: true, value: unstorable ? storableValue(value) : value };
  } catch (error) {
    // V8's message quotes the body (a token, a stretch of it), which may echo request parameters:
    // say only where it broke.
    const message = error instanceof Error ? error.message : String(error);
    const position = /position (\d+)/.exec(message)?.[1];
    const ended = /end of (JSON )?input/i.test(message);
    return {
      ok: false,
      reason: ended
        ? 'JSON ends early'
        : `invalid JSON${position === undefined ? '' : ` at position ${position}`}`,
    };
  }
}
