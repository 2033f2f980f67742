// JSON escapes C0 controls itself; these it would print as they are.
const UNSAFE_IN_JSON = /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `value` as indented JSON that is exact and safe to print: the characters a terminal could act on
 * (C1 controls such as the 8-bit CSI, bidirectional overrides) are written as `\u` escapes.
 */
export function safeJson(value: unknown): string {
  return JSON.stringify(value, null, 2).replace(
    UNSAFE_IN_JSON,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}
