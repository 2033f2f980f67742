/**
 * JSON reading for API bodies that keeps the digits of big integers.
 *
 * `UserId` is a 16-digit account id (swas-api.md §2.3) and may exceed 2^53, where `JSON.parse`
 * would silently round it. The reviver reads each number's source text (`context.source`, the
 * "JSON.parse source text access" feature of V8 ≥ 11.4: Node 21+, so every Node the project
 * supports) and hands over:
 * - the decimal text for every integer under an id key ({@link INTEGER_ID_KEYS}), big or not, so
 *   the value's type does not depend on its size;
 * - the decimal text for any other integer beyond `Number.MAX_SAFE_INTEGER` (no silent rounding);
 * - the number otherwise.
 */

/** Keys whose integer values are identifiers and always become decimal text. */
export const INTEGER_ID_KEYS: ReadonlySet<string> = new Set(['UserId']);

const INTEGER_TEXT = /^-?\d+$/;

export type JsonReadResult = { ok: true; value: unknown } | { ok: false; reason: string };

interface ReviverContext {
  source?: string;
}

function keepBigIntegers(key: string, value: unknown, context?: ReviverContext): unknown {
  if (typeof value !== 'number') return value;
  const source = context?.source;
  if (source === undefined || !INTEGER_TEXT.test(source)) return value;
  if (INTEGER_ID_KEYS.has(key) || !Number.isSafeInteger(value)) return source;
  return value;
}

/** Parses an API body; never throws. `reason` is the parser's message (no body text beyond it). */
export function readApiJson(text: string): JsonReadResult {
  if (text.trim() === '') return { ok: false, reason: 'empty body' };
  try {
    return { ok: true, value: JSON.parse(text, keepBigIntegers) };
  } catch (error) {
    return { ok: false, reason: error instanceof Error ? error.message : String(error) };
  }
}
