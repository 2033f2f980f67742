/**
 * Text from outside (API answers, stored image names) made safe to show on a terminal or in a log
 * line: ANSI escape sequences and other C0/C1 control characters are removed (tabs and line
 * breaks become spaces), bidirectional overrides too, and the length is capped with an ellipsis.
 * A hostile answer can then neither repaint a terminal nor flood it.
 */
export function displayText(text: string, max = 300): string {
  const clean = text
    // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what is removed.
    .replace(/\u001b\[[0-?]*[ -/]*[@-~]|\u001b[\]PX^_][^\u0007\u001b]*(\u0007|\u001b\\)?|\u001b./g, '')
    .replace(/[\t\n\r\v\f]/g, ' ')
    // biome-ignore lint/suspicious/noControlCharactersInRegex: as above.
    .replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '');
  if (clean.length <= max) return clean;
  // Cut between characters, not inside a surrogate pair (an emoji would end as a lone half).
  const end = /[\ud800-\udbff]/.test(clean[max - 1] ?? '') ? max - 1 : max;
  return `${clean.slice(0, end)}…`;
}
