import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import pg from 'pg';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createDatabase } from '../../src/db/client.ts';
import {
  checkSchemaCurrent,
  DEFAULT_MIGRATIONS_FOLDER,
  MIGRATIONS_SCHEMA,
  MIGRATIONS_TABLE,
  migrateDatabase,
  readJournal,
} from '../../src/db/migrate.ts';
import { isAppError } from '../../src/shared/app-error.ts';
import { IMAGE_STATUSES } from '../../src/sync/model.ts';
import { freshDatabases, openTestDatabase } from '../support/db-fixtures.ts';
import { rejection } from '../support/rejection.ts';

const fresh = freshDatabases();
const database = await openTestDatabase();
const MIGRATIONS = `"${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}"`;

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('migrateDatabase', () => {
  it('reads a journal whose entries strictly increase, from a folder resolved beside the sources', async () => {
    expect(isAbsolute(DEFAULT_MIGRATIONS_FOLDER)).toBe(true);
    expect(existsSync(join(DEFAULT_MIGRATIONS_FOLDER, 'meta', '_journal.json'))).toBe(true);
    const journal = await readJournal();
    expect(journal.length).toBeGreaterThanOrEqual(3);
    expect(journal.map((entry) => entry.tag)).toContain('0001_seed_image_statuses');
    for (let i = 1; i < journal.length; i++) {
      expect(journal[i]?.when).toBeGreaterThan(journal[i - 1]?.when ?? Number.POSITIVE_INFINITY);
    }
  });

  it('creates a missing database, applies every migration, and a second run is a no-op', async () => {
    const url = fresh.url('twice');
    const total = (await readJournal()).length;
    expect(await migrateDatabase({ databaseUrl: url })).toEqual({ applied: total, total });
    expect(await migrateDatabase({ databaseUrl: url })).toEqual({ applied: 0, total });
    const rows = await query<{ n: number }>(url, `select count(*)::int as n from ${MIGRATIONS}`);
    expect(rows[0]?.n).toBe(total);
  });

  it('seeds image_statuses with the five codes and labels of the domain', async () => {
    const { rows } = await database.pool.query<{ code: string; label: string }>(
      'select code, label from image_statuses order by code',
    );
    expect(Object.fromEntries(rows.map((row) => [row.code, row.label]))).toEqual(IMAGE_STATUSES);
  });

  it('lets three migrators (separate sessions) start on a fresh database at once: one applies, the others wait and find it current', async () => {
    const url = fresh.url('concurrent');
    const total = (await readJournal()).length;
    const results = await Promise.all([1, 2, 3].map(() => migrateDatabase({ databaseUrl: url })));
    expect(results.map((result) => result.total)).toEqual([total, total, total]);
    expect(results.map((result) => result.applied).sort()).toEqual([0, 0, total]);
    const rows = await query<{ n: number }>(url, `select count(*)::int as n from ${MIGRATIONS}`);
    expect(rows[0]?.n).toBe(total);
    const statuses = await query<{ n: number }>(url, 'select count(*)::int as n from image_statuses');
    expect(statuses[0]?.n).toBe(5);
  });

  it('throws db.migration_skipped naming the migration whose row was lost', async () => {
    const url = fresh.url('skipped');
    await migrateDatabase({ databaseUrl: url });
    const [first] = await readJournal();
    await query(url, `delete from ${MIGRATIONS} where created_at = ${first?.when}`);

    const error = await rejection(migrateDatabase({ databaseUrl: url }));
    expect(isAppError(error) && error.code).toBe('db.migration_skipped');
    expect((error as Error).message).toContain(first?.tag);

    const other = createDatabase(url);
    try {
      const behind = await rejection(checkSchemaCurrent(other.db));
      expect(isAppError(behind) && behind.code).toBe('db.behind');
      expect((behind as Error).message).toContain(first?.tag);
    } finally {
      await other.close();
    }
  });

  it('refuses a journal whose entries do not strictly increase (drizzle would skip one)', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'swas-migrations-'));
    onTestFinished(() => rm(folder, { recursive: true, force: true }));
    await cp(DEFAULT_MIGRATIONS_FOLDER, folder, { recursive: true });
    const path = join(folder, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(path, 'utf8')) as { entries: Array<{ when: number }> };
    const [first, second] = journal.entries;
    if (!first || !second) throw new Error('the journal needs two entries');
    second.when = first.when;
    await writeFile(path, JSON.stringify(journal));

    const error = await rejection(
      migrateDatabase({ databaseUrl: fresh.url('order'), migrationsFolder: folder }),
    );
    expect(isAppError(error) && error.code).toBe('db.migration_order');
  });
});

describe('checkSchemaCurrent', () => {
  it('passes on a migrated database, through drizzle and through a pg pool', async () => {
    await expect(checkSchemaCurrent(database.db)).resolves.toBeUndefined();
    await expect(checkSchemaCurrent(database.pool)).resolves.toBeUndefined();
  });

  it('throws db.behind naming `swas-inventory migrate` on a database never migrated', async () => {
    const url = fresh.url('empty');
    const serverUrl = new URL(url);
    const name = serverUrl.pathname.slice(1);
    serverUrl.pathname = '/postgres';
    await query(serverUrl.toString(), `create database "${name}"`);

    const empty = createDatabase(url);
    try {
      const error = await rejection(checkSchemaCurrent(empty.db));
      expect(isAppError(error) && error.code).toBe('db.behind');
      expect((error as Error).message).toContain('swas-inventory migrate');
      expect((error as Error).message).toContain(`0 of ${(await readJournal()).length}`);
      expect((error as Error).message).toContain(name);
    } finally {
      await empty.close();
    }
  });
});
