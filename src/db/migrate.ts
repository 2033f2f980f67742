import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { AppError } from '../shared/app-error.ts';
import type { DbLogger, DbOrTx } from './client.ts';
import { drizzle, migrate, sql } from './drizzle.ts';
import { describeDatabaseUrl, sqlStateOf, toDatabaseError } from './errors.ts';

/** Where drizzle records applied migrations (its defaults, named here because we read them). */
export const MIGRATIONS_SCHEMA = 'drizzle';
export const MIGRATIONS_TABLE = '__drizzle_migrations';

/**
 * Session advisory lock that serialises `migrate` across processes ("SWAS" and 1). drizzle's
 * migrator takes no lock of its own (drizzle-orm#874).
 */
export const MIGRATION_LOCK_KEY = '91633713168385';

/** The committed migrations, resolved from this file so that the CWD does not matter. */
export const DEFAULT_MIGRATIONS_FOLDER = fileURLToPath(new URL('../../migrations', import.meta.url));

export interface MigrateOptions {
  databaseUrl: string;
  /** Folder holding `meta/_journal.json` and the SQL files; default {@link DEFAULT_MIGRATIONS_FOLDER}. */
  migrationsFolder?: string;
  logger?: DbLogger;
}

export interface MigrateResult {
  /** Migrations this call applied (0 when the schema was current). */
  applied: number;
  /** Migrations in the journal. */
  total: number;
}

export interface JournalEntry {
  tag: string;
  /** drizzle-kit's creation time of the migration, ms; recorded as `created_at` once applied. */
  when: number;
}

/**
 * Reads the journal drizzle-kit maintains. Throws `db.migration_order` unless the `when` values
 * strictly increase: drizzle applies only migrations newer than the newest applied one, so an
 * out-of-order entry (a merge, a hand edit) would be skipped silently on existing databases.
 */
export async function readJournal(migrationsFolder = DEFAULT_MIGRATIONS_FOLDER): Promise<JournalEntry[]> {
  const path = `${migrationsFolder}/meta/_journal.json`;
  let journal: { entries?: Array<{ tag?: unknown; when?: unknown }> };
  try {
    journal = JSON.parse(await readFile(path, 'utf8'));
  } catch (error) {
    throw new AppError('db.migrations_missing', `cannot read the migrations journal ${path}`, {
      cause: error,
    });
  }
  const entries: JournalEntry[] = [];
  for (const entry of journal.entries ?? []) {
    if (typeof entry.tag !== 'string' || typeof entry.when !== 'number') {
      throw new AppError('db.migrations_missing', `malformed entry in ${path}: ${JSON.stringify(entry)}`);
    }
    const previous = entries.at(-1);
    if (previous && entry.when <= previous.when) {
      throw new AppError(
        'db.migration_order',
        `migration ${entry.tag} is not newer than ${previous.tag} in ${path}; drizzle would skip it on databases that already applied ${previous.tag}. Regenerate it so that its "when" is the newest.`,
      );
    }
    entries.push({ tag: entry.tag, when: entry.when });
  }
  return entries;
}

/**
 * `swas-inventory migrate`: creates the database when it does not exist, then applies pending
 * migrations under a session advisory lock on one connection, so replicas starting together
 * apply them once and the others wait and find nothing to do. Afterwards every journal entry
 * must be recorded as applied; otherwise throws `db.migration_skipped` naming the missing tags
 * (drizzle's high-water-mark skip). Rows for migrations newer than this release are tolerated
 * (an older replica during a rolling deploy) and logged.
 */
export async function migrateDatabase(options: MigrateOptions): Promise<MigrateResult> {
  const { databaseUrl, logger } = options;
  const migrationsFolder = options.migrationsFolder ?? DEFAULT_MIGRATIONS_FOLDER;
  const target = describeDatabaseUrl(databaseUrl);
  const journal = await readJournal(migrationsFolder);

  const client = await connectCreatingDatabase(databaseUrl, target, logger);
  try {
    const { rows: tried } = await client.query<{ locked: boolean }>(
      'select pg_try_advisory_lock($1::bigint) as locked',
      [MIGRATION_LOCK_KEY],
    );
    if (!tried[0]?.locked) {
      logger?.info({ target }, 'waiting for another process to finish migrating');
      await client.query('select pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    }
    try {
      const before = await appliedMigrations(client);
      try {
        await migrate(drizzle({ client }), {
          migrationsFolder,
          migrationsSchema: MIGRATIONS_SCHEMA,
          migrationsTable: MIGRATIONS_TABLE,
        });
      } catch (error) {
        const mapped = toDatabaseError(error, target);
        if (mapped.code !== 'db.query') throw mapped;
        throw new AppError(
          'db.migration_failed',
          `applying migrations to ${target} failed, none of the pending ones was applied: ${mapped.message}`,
          { cause: error, details: { target, sqlstate: sqlStateOf(error) } },
        );
      }
      const after = await appliedMigrations(client);
      const missing = journal.filter((entry) => !after.has(entry.when));
      if (missing.length > 0) {
        const tags = missing.map((entry) => entry.tag).join(', ');
        throw new AppError(
          'db.migration_skipped',
          `migration ${tags} was not applied to ${target} although later ones were: drizzle applies only migrations newer than the newest one recorded in ${MIGRATIONS_SCHEMA}.${MIGRATIONS_TABLE} (a lost row, or a migration created before one already applied). Apply it by hand and record it, or regenerate it as a new migration.`,
          { details: { target, missing: missing.map((entry) => entry.tag) } },
        );
      }
      const known = new Set(journal.map((entry) => entry.when));
      const unknown = [...after].filter((when) => !known.has(when));
      if (unknown.length > 0) {
        logger?.warn(
          { target, unknown: unknown.length },
          'the database has migrations this release does not know (a newer release migrated it)',
        );
      }
      const applied = [...after].filter((when) => !before.has(when)).length;
      logger?.info(
        { target, applied, total: journal.length },
        applied > 0 ? 'migrations applied' : 'schema is current',
      );
      return { applied, total: journal.length };
    } finally {
      await client
        .query('select pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY])
        .catch(() => undefined);
    }
  } catch (error) {
    throw toDatabaseError(error, target);
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface CheckSchemaOptions {
  migrationsFolder?: string;
  /** `host:port/database` for the message; by default read from a pool's connection string. */
  target?: string;
}

/** Anything that runs SQL: a drizzle database or transaction, a pg pool or client. */
export type SqlRunner = DbOrTx | Pick<pg.Pool, 'query'> | Pick<pg.ClientBase, 'query'>;

/**
 * Throws AppError `db.behind` (naming `swas-inventory migrate`) unless every migration of the
 * journal is recorded as applied; for processes that need the schema but must not change it.
 */
export async function checkSchemaCurrent(runner: SqlRunner, options: CheckSchemaOptions = {}): Promise<void> {
  const target = options.target ?? targetOf(runner);
  // The journal is read while the database answers; a journal that cannot be read is still the
  // error reported when both fail.
  const [journalRead, appliedRead] = await Promise.allSettled([
    readJournal(options.migrationsFolder),
    appliedMigrations(runner),
  ]);
  if (journalRead.status === 'rejected') throw journalRead.reason;
  if (appliedRead.status === 'rejected') throw toDatabaseError(appliedRead.reason, target);
  const journal = journalRead.value;
  const applied = appliedRead.value;
  const missing = journal.filter((entry) => !applied.has(entry.when));
  if (missing.length > 0) {
    const recorded = journal.length - missing.length;
    throw new AppError(
      'db.behind',
      `the schema of ${target} is behind this release: ${recorded} of ${journal.length} migrations applied (missing ${missing.map((entry) => entry.tag).join(', ')}); run \`swas-inventory migrate\``,
      { details: { target, applied: recorded, total: journal.length } },
    );
  }
}

/** `host:port/database` of a drizzle database or pg pool built from a URL, when it can be told. */
function targetOf(runner: SqlRunner): string {
  const client = '$client' in runner ? runner.$client : runner;
  const url = (client as { options?: { connectionString?: unknown } }).options?.connectionString;
  return typeof url === 'string' ? describeDatabaseUrl(url) : 'the database';
}

/** `created_at` of every recorded migration (drizzle stores the journal's `when` there). */
async function appliedMigrations(runner: SqlRunner): Promise<Set<number>> {
  const table = `"${MIGRATIONS_SCHEMA}"."${MIGRATIONS_TABLE}"`;
  const present = await rowsOf<{ present: boolean }>(
    runner,
    `select to_regclass('${table}') is not null as present`,
  );
  if (!present[0]?.present) return new Set();
  const rows = await rowsOf<{ created_at: string | number | null }>(
    runner,
    `select created_at from ${table}`,
  );
  return new Set(rows.map((row) => Number(row.created_at)));
}

async function rowsOf<T>(runner: SqlRunner, text: string): Promise<T[]> {
  if ('execute' in runner) {
    const result = await runner.execute(sql.raw(text));
    return result.rows as T[];
  }
  const result = await runner.query(text);
  return result.rows as T[];
}

/** Connects to the database, creating it first when it does not exist (SQLSTATE 3D000). */
async function connectCreatingDatabase(
  databaseUrl: string,
  target: string,
  logger?: DbLogger,
): Promise<pg.Client> {
  try {
    return await connect(databaseUrl);
  } catch (error) {
    if (sqlStateOf(error) !== '3D000') throw toDatabaseError(error, target);
  }
  await createDatabase(databaseUrl, target, logger);
  try {
    return await connect(databaseUrl);
  } catch (error) {
    throw toDatabaseError(error, target);
  }
}

async function connect(databaseUrl: string): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: databaseUrl,
    application_name: 'swas-inventory migrate',
    connectionTimeoutMillis: 10_000,
  });
  // A connection lost while idle is reported by the next query; without a listener it would crash.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
  return client;
}

/**
 * CREATE DATABASE from the server's maintenance database (`postgres`, else `template1`).
 * Another process creating it at the same moment is success: 42P04 duplicate_database, or 23505
 * when both inserts race on pg_database's unique index.
 */
async function createDatabase(databaseUrl: string, target: string, logger?: DbLogger): Promise<void> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  let admin: pg.Client | undefined;
  let maintenance = 'postgres';
  for (const candidate of ['postgres', 'template1']) {
    url.pathname = `/${candidate}`;
    try {
      admin = await connect(url.toString());
      maintenance = candidate;
      break;
    } catch (error) {
      if (sqlStateOf(error) !== '3D000') throw toDatabaseError(error, target);
    }
  }
  if (!admin)
    throw new AppError(
      'db.unreachable',
      `PostgreSQL at ${target}: no maintenance database to create it from`,
    );
  try {
    // Connected to template1 we cannot copy it (it has a user: us); template0 is always idle.
    const template = maintenance === 'template1' ? ' template template0' : '';
    await admin.query(`create database ${quoteIdentifier(name)}${template}`);
    logger?.info({ target }, 'database created');
  } catch (error) {
    const state = sqlStateOf(error);
    if (state !== '42P04' && state !== '23505') throw toDatabaseError(error, target);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
