import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { TestProject } from 'vitest/node';
import { migrateDatabase } from '../../src/db/migrate.ts';
import { databaseUrlWithName } from '../support/database-url.ts';
import {
  discoverService,
  noServiceMessage,
  POSTGRES,
  type Probe,
  REDIS,
  reasonOf,
  type ServiceSpec,
  unreachableMessage,
} from '../support/service-discovery.ts';
import { probePostgres, probeRedis } from '../support/service-probes.ts';

declare module 'vitest' {
  interface ProvidedContext {
    /** The test server's maintenance database; tests create their own databases from the template. */
    databaseUrl: string;
    /** The migrated template database every test file copies. */
    templateDatabase: string;
    /** Prefix of every database this test run creates (dropped at the end of the run). */
    testDatabasePrefix: string;
    redisUrl: string;
  }
}

/**
 * Finds PostgreSQL and Redis for the integration and e2e tiers, each in this order: the `TEST_…`
 * variable, the application's variable, the application's default address when something answers
 * there, then a throwaway container through testcontainers (see test/support/service-discovery.ts).
 * Migrates one template database that every test file copies, so files never share or truncate
 * each other's data.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const stops: Array<() => Promise<unknown>> = [];
  const { databaseUrl, redisUrl } = await findServices(stops);

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

interface ServiceWay {
  spec: ServiceSpec;
  probe: Probe;
  /** Starts a throwaway container; returns its URL and how to stop it. */
  start(): Promise<{ url: string; stop(): Promise<unknown> }>;
}

/** Each service's URL; the containers it starts are added to `stops`. */
async function findServices(
  stops: Array<() => Promise<unknown>>,
): Promise<{ databaseUrl: string; redisUrl: string }> {
  const ways: ServiceWay[] = [
    { spec: POSTGRES, probe: probePostgres, start: startPostgres },
    { spec: REDIS, probe: probeRedis, start: startRedis },
  ];
  const found = await Promise.all(ways.map((way) => discoverService(way.spec, process.env, way.probe)));
  const missing: Array<{ spec: ServiceSpec; defaultFailure: string }> = [];
  for (const [index, way] of ways.entries()) {
    const discovery = found[index]!;
    if (discovery.kind === 'unreachable') throw new Error(unreachableMessage(way.spec, discovery));
    if (discovery.kind === 'absent')
      missing.push({ spec: way.spec, defaultFailure: discovery.defaultFailure });
  }
  const urls: string[] = [];
  for (const [index, way] of ways.entries()) {
    const discovery = found[index]!;
    if (discovery.kind === 'found') {
      urls.push(discovery.url);
      continue;
    }
    try {
      const container = await way.start();
      stops.push(container.stop);
      urls.push(way.spec.serverUrl(container.url));
    } catch (error) {
      for (const stop of stops.reverse()) await stop().catch(() => undefined);
      throw new Error(noServiceMessage(missing, reasonOf(error)), { cause: error });
    }
  }
  return { databaseUrl: urls[0]!, redisUrl: urls[1]! };
}

async function startPostgres(): Promise<{ url: string; stop(): Promise<unknown> }> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer('postgres:17-alpine').start();
  return { url: container.getConnectionUri(), stop: () => container.stop() };
}

async function startRedis(): Promise<{ url: string; stop(): Promise<unknown> }> {
  const { RedisContainer } = await import('@testcontainers/redis');
  const container = await new RedisContainer('redis:7-alpine').start();
  return { url: container.getConnectionUrl(), stop: () => container.stop() };
}
