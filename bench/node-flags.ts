import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const BIN = fileURLToPath(new URL('../bin/swas-inventory', import.meta.url));

/**
 * The node flags bin/swas-inventory runs with (young-generation sizing), read from its
 * `#!/usr/bin/env -S node …` line, so that a benchmark's own child process is sized as the product
 * is. (The heap's other settings are made at run time: `tuneHeap` in src/cli/context.ts.)
 */
export async function binNodeFlags(): Promise<string[]> {
  const script = await readFile(BIN, 'utf8');
  const line = /^#!\/usr\/bin\/env -S node( .*)?$/m.exec(script);
  if (!line) throw new Error(`no "#!/usr/bin/env -S node" line in ${BIN}`);
  return (line[1] ?? '').trim().split(' ').filter(Boolean);
}
