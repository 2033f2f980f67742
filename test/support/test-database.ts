import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';
import { databaseUrlWithName } from './database-url.ts';

/**
 * A fresh database for the calling test file, copied from the migrated template (fast: a file
 * copy, no migrations). The run's global teardown drops it with the template. Returns its URL.
 */
export async function createTestDatabase(): Promise<string> {
  const serverUrl = inject('databaseUrl');
  const name = `${inject('testDatabasePrefix')}${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: databaseUrlWithName(serverUrl, 'postgres') });
  await admin.connect();
  try {
    await admin.query(`create database "${name}" template "${inject('templateDatabase')}"`);
  } finally {
    await admin.end();
  }
  return databaseUrlWithName(serverUrl, name);
}

/** A unique BullMQ prefix / Redis key namespace for the calling test file. */
export const uniquePrefix = (label: string): string => `test-${label}-${randomBytes(4).toString('hex')}`;
