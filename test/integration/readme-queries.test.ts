import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateHistory, regionName } from '../support/history-generator.ts';
import { createTestDatabase } from '../support/test-database.ts';

// Every SQL block of the README's "SQL reporting" section, read from README.md and run against a
// generated history that ended yesterday (so "this week" has answers): each must run and answer.

const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

function reportingQueries(): string[] {
  const start = README.indexOf('\n## SQL reporting\n');
  const end = README.indexOf('\n## ', start + 1);
  if (start < 0 || end < 0) throw new Error('README has no "## SQL reporting" section');
  return [...README.slice(start, end).matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

const queries = reportingQueries();
const HOUR = 3_600_000;
const historyStart = new Date(Date.now() - 36 * HOUR);
// psql variables the queries use, as `:'name'` (psql quotes the value as a literal).
const VARIABLES: Record<string, string> = {
  day: new Date(historyStart.getTime() + 6 * HOUR).toISOString(),
  image: 'm-bench42',
  region: regionName(0),
};

describe('README "SQL reporting" queries', () => {
  let sql: pg.Client;

  beforeAll(async () => {
    sql = new pg.Client({ connectionString: await createTestDatabase() });
    await sql.connect();
    await generateHistory(sql, {
      account: 'default',
      regions: 3,
      images: 300,
      versionsPerImage: 5,
      runsPerRegion: 40,
      start: historyStart,
    });
    await sql.query('analyze');
  });
  afterAll(async () => {
    await sql?.end();
  });

  it('has at least six questions, each with its query', () => {
    expect(queries.length).toBeGreaterThanOrEqual(6);
  });

  it('runs every statement of the "SQL" section’s examples over the tables', async () => {
    const start = README.indexOf('\n## SQL\n');
    const end = README.indexOf('\n## ', start + 1);
    const blocks = [...README.slice(start, end).matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
    const statements = blocks.flatMap((block) =>
      block.split(/;\s*\n/).filter((text) => /\bselect\b/i.test(text)),
    );
    expect(statements.length).toBeGreaterThanOrEqual(3);
    for (const statement of statements) await sql.query(statement);
    const failed = await sql.query(statements[0] ?? '');
    expect(failed.rows.length).toBeGreaterThan(0);
  });

  it.each(queries.map((query, index) => [index + 1, query.split('\n')[0] ?? '', query]))(
    'query %i (%s …) runs and answers',
    async (_index, _firstLine, query) => {
      const text = String(query).replace(/:'(\w+)'/g, (_match, name: string) => {
        const value = VARIABLES[name];
        if (value === undefined) throw new Error(`no value for psql variable :'${name}'`);
        return `'${value}'`;
      });
      const result = await sql.query(text);
      expect(result.rows.length).toBeGreaterThan(0);
    },
  );
});
