import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/swas-inventory', import.meta.url));

/**
 * The node flags bin/swas-inventory runs with (heap sizing, the resolve hooks), read from its
 * `exec node` line, so that a benchmark's own child process is sized as the product is.
 */
export async function binNodeFlags(): Promise<string[]> {
  const script = await readFile(BIN, 'utf8');
  const line = /^exec node (.*) "\$root\/src\/cli\/main\.ts" "\$@"$/m.exec(script);
  if (!line?.[1]) throw new Error(`no exec line in ${BIN}`);
  const root = fileURLToPath(new URL('..', import.meta.url)).replace(/\/$/, '');
  return line[1]
    .replaceAll('"$root', `"${root}`)
    .split(' ')
    .map((flag) => flag.replaceAll('"', ''));
}
