import { readFile, writeFile } from 'node:fs/promises';

/** bench/RESULTS.md: one section per benchmark script, so that each rewrites only its own. */
export const RESULTS_FILE = new URL('./RESULTS.md', import.meta.url);

/**
 * Replaces the section `name` of the results file (between `<!-- name:start -->` and
 * `<!-- name:end -->`), or appends it; the other sections are kept as they are.
 */
export async function writeResultsSection(
  name: string,
  markdown: string,
  file = RESULTS_FILE,
): Promise<void> {
  let text = '';
  try {
    text = await readFile(file, 'utf8');
  } catch {
    // no file yet: this section starts it
  }
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const block = `${start}\n${markdown.trimEnd()}\n${end}\n`;
  const from = text.indexOf(start);
  const to = text.indexOf(end);
  text =
    from >= 0 && to > from
      ? `${text.slice(0, from)}${block}${text.slice(to + end.length).replace(/^\n/, '')}`
      : `${text.trimEnd()}${text.trim() ? '\n\n' : ''}${block}`;
  await writeFile(file, text);
}

/** A growth as the results print it: its sign always shown (`+0.1`, `-3.6`). */
export const signed = (value: number, digits: number): string =>
  `${value >= 0 ? '+' : ''}${value.toFixed(digits)}`;
