import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The project's dependency rules between folders, checked on the source text so they hold without anyone
 * remembering them: which folder may import which, who may read process.env, print, exit or
 * know BullMQ, and no import cycles.
 */
const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

interface SourceFile {
  path: string; // relative to src, e.g. 'sync/plan.ts'
  folder: string; // first segment, or the file name for top-level files
  text: string;
  imports: string[]; // specifiers
}

function sourceFiles(dir = SRC): SourceFile[] {
  const files: SourceFile[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    if (entry.isDirectory()) files.push(...sourceFiles(full));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) {
      const text = readFileSync(full, 'utf8');
      const path = relative(SRC, full);
      const imports = [...text.matchAll(/^\s*(?:import|export)\s[^;]*?from\s+'([^']+)'/gms)].map(
        (m) => m[1] ?? '',
      );
      files.push({ path, folder: path.includes('/') ? (path.split('/')[0] ?? '') : path, text, imports });
    }
  }
  return files;
}

const files = sourceFiles();
const internalTargets = (file: SourceFile) =>
  file.imports
    .filter((specifier) => specifier.startsWith('.'))
    .map((specifier) => relative(SRC, resolve(SRC, dirname(file.path), specifier)))
    // package.json (the version in the user agent) is data, not a layer.
    .filter((target) => target !== '../package.json');
const folderOf = (path: string) => (path.includes('/') ? (path.split('/')[0] ?? '') : path);

/** Which folders each folder may import from (itself is always allowed). */
const ALLOWED: Record<string, readonly string[]> = {
  shared: [],
  // The one place that loads undici (src/http/undici.ts says why).
  http: [],
  config: ['shared'],
  sync: ['shared'],
  observability: ['shared', 'config'],
  swas: ['shared', 'config', 'sync', 'observability', 'http'],
  simulator: ['shared', 'config', 'sync', 'swas', 'observability', 'http'],
  db: ['shared', 'config', 'sync', 'observability'],
  events: ['shared', 'config', 'sync', 'observability', 'db', 'http'],
  jobs: ['shared', 'config', 'sync', 'observability', 'swas', 'db', 'events', 'app.ts'],
  // cli's `worker` command runs main.ts's worker entry.
  cli: [
    'shared',
    'config',
    'sync',
    'observability',
    'swas',
    'db',
    'events',
    'jobs',
    'simulator',
    'app.ts',
    'main.ts',
  ],
  'app.ts': [
    'shared',
    'config',
    'sync',
    'observability',
    'http',
    'swas',
    'db',
    'events',
    'jobs',
    'simulator',
  ],
  'main.ts': ['shared', 'config', 'observability', 'app.ts', 'jobs', 'cli'],
};

describe('architecture', () => {
  it('finds the sources', () => {
    expect(files.length).toBeGreaterThan(10);
    expect(files.some((f) => f.path === 'sync/model.ts')).toBe(true);
  });

  it('keeps every folder to its allowed imports', () => {
    const violations: string[] = [];
    for (const file of files) {
      const allowed = ALLOWED[file.folder];
      if (!allowed) {
        violations.push(`${file.path}: folder "${file.folder}" has no rule`);
        continue;
      }
      for (const target of internalTargets(file)) {
        const folder = folderOf(target);
        if (folder !== file.folder && !allowed.includes(folder))
          violations.push(`${file.path} imports ${target}`);
      }
    }
    expect(violations).toEqual([]);
  });

  it('keeps sync pure: no I/O packages', () => {
    const io = /^(node:(fs|http|https|net|child_process)|pg|undici|ioredis|bullmq|pino|drizzle-orm)/;
    const offenders = files
      .filter((f) => f.folder === 'sync')
      .flatMap((f) => f.imports.filter((s) => io.test(s)).map((s) => `${f.path} imports ${s}`));
    expect(offenders).toEqual([]);
  });

  it('loads undici only through src/http (other folders import its types)', () => {
    const offenders = files
      .filter((f) => f.folder !== 'http')
      .filter((f) => /^\s*import\s+(?!type\s)[^;]*?from\s+'undici(\/[^']*)?'/m.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('lets only config read process.env', () => {
    const offenders = files
      .filter((f) => f.folder !== 'config' && /process\.env\b/.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('lets only jobs, cli, app.ts and main.ts know BullMQ', () => {
    const offenders = files
      .filter((f) => !['jobs', 'cli', 'app.ts', 'main.ts'].includes(f.folder))
      .filter((f) => f.imports.some((s) => s === 'bullmq' || s.startsWith('bullmq/')))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('lets only observability know prom-client (others report through small ports)', () => {
    const offenders = files
      .filter((f) => f.folder !== 'observability')
      .filter((f) => f.imports.some((s) => s === 'prom-client' || s.startsWith('prom-client/')))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('lets only cli and main.ts print or exit', () => {
    const offenders = files
      .filter((f) => !['cli', 'main.ts'].includes(f.folder))
      .filter((f) => /\bconsole\.|process\.exit\(|process\.std(out|err)\.write/.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('uses no enum, namespace or parameter properties', () => {
    const offenders = files
      .filter((f) => /^\s*(export\s+)?(const\s+)?enum\s|^\s*(export\s+)?namespace\s/m.test(f.text))
      .map((f) => f.path);
    expect(offenders).toEqual([]);
  });

  it('has no import cycles', () => {
    const graph = new Map(files.map((f) => [f.path, internalTargets(f)]));
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (node: string, trail: string[]) => {
      if (state.get(node) === 'done') return;
      if (state.get(node) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(node)), node].join(' → '));
        return;
      }
      state.set(node, 'visiting');
      for (const next of graph.get(node) ?? []) visit(next, [...trail, node]);
      state.set(node, 'done');
    };
    for (const node of graph.keys()) visit(node, []);
    expect(cycles).toEqual([]);
  });
});
