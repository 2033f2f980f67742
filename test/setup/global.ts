import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '../../src/db/migrate.ts';
import { databaseUrlWithName } from '../support/database-url.ts';

declare module 'vitest' {
  interface ProvidedContext {
    /** A URL of the test server (any database on it; tests create their own from the template). */
    databaseUrl: string;
    /** The migrated template database every test file copies. */
    templateDatabase: string;
    /** Prefix of every database this test run creates (dropped at the end of the run). */
    testDatabasePrefix: string;
    redisUrl: string;
  }
}

/**
 * Finds PostgreSQL and Redis for the integration and e2e tiers: `TEST_DATABASE_URL`/`DATABASE_URL`
 * and `TEST_REDIS_URL`/`REDIS_URL` when given (CI and machines without Docker), otherwise
 * throwaway containers through testcontainers. Migrates one template database that every test
 * file copies, so files never share or truncate each other's data.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<unknown>> = [];
  let databaseUrl = process.env.TEST_DATABASE_URL ?? process.env.DATABASE_URL;
  let redisUrl = process.env.TEST_REDIS_URL ?? process.env.REDIS_URL;
  try {
    if (!databaseUrl) {
      const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
      const container = await new PostgreSqlContainer('postgres:17-alpine').start();
      databaseUrl = container.getConnectionUri();
      stops.push(() => container.stop());
    }
    if (!redisUrl) {
      const { RedisContainer } = await import('@testcontainers/redis');
      const container = await new RedisContainer('redis:7-alpine').start();
      redisUrl = container.getConnectionUrl();
      stops.push(() => container.stop());
    }
  } catch (error) {
    throw new Error(
      'No PostgreSQL/Redis for the tests: set TEST_DATABASE_URL and TEST_REDIS_URL (or DATABASE_URL and REDIS_URL) to running services, or make Docker available for testcontainers.',
      { cause: error },
    );
  }

  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw new Error(`Redis at ${redisUrl} does not answer`, { cause: error });
  } finally {
    redis.disconnect();
  }

  const runId = randomBytes(4).toString('hex');
  const templateDatabase = `swas_test_template_${runId}`;
  const testDatabasePrefix = `swas_test_${runId}_`;
  const templateUrl = databaseUrlWithName(databaseUrl, templateDatabase);
  await migrateDatabase({ databaseUrl: templateUrl });

  project.provide('databaseUrl', databaseUrl);
  project.provide('templateDatabase', templateDatabase);
  project.provide('testDatabasePrefix', testDatabasePrefix);
  project.provide('redisUrl', redisUrl);

  return async () => {
    const admin = new pg.Client({ connectionString: databaseUrlWithName(databaseUrl, 'postgres') });
    await admin.connect();
    try {
      // Every database of this run: the template and each test file's copy.
      const { rows } = await admin.query<{ datname: string }>(
        'select datname from pg_database where datname = $1 or starts_with(datname, $2)',
        [templateDatabase, testDatabasePrefix],
      );
      for (const { datname } of rows) await admin.query(`drop database if exists "${datname}" with (force)`);
    } finally {
      await admin.end();
    }
    for (const stop of stops.reverse()) await stop();
  };
}
