import { displayText } from '../shared/display-text.ts';

/**
 * Renders rows as an aligned plain-text table with a header line (no colours: safe to pipe).
 * Cells pass through {@link displayText}: API text cannot carry escape sequences to the terminal.
 */
export function renderTable(headers: readonly string[], rows: readonly (readonly unknown[])[]): string {
  const cells = rows.map((row) =>
    row.map((cell) => (cell === null || cell === undefined ? '' : displayText(String(cell), 200))),
  );
  const widths = headers.map((header, i) =>
    Math.max(header.length, ...cells.map((row) => displayWidth(row[i] ?? ''))),
  );
  const line = (row: readonly string[]) =>
    row
      .map((cell, i) => cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(cell))))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

/** Columns a string takes in a terminal: CJK characters (image names are often Chinese) and emoji take two. */
export function displayWidth(text: string): number {
  let width = 0;
  for (const char of text) {
    const code = char.codePointAt(0) ?? 0;
    const wide =
      (code >= 0x1100 &&
        /[\p{Script=Han}\p{Script=Hangul}\p{Script=Hiragana}\p{Script=Katakana}\u3000-\u303f\uff00-\uffef]/u.test(
          char,
        )) ||
      // Emoji of the supplementary planes (🚀, 😀); a terminal draws them two columns wide.
      (code >= 0x1f000 && /\p{Extended_Pictographic}/u.test(char));
    width += wide ? 2 : 1;
  }
  return width;
}
