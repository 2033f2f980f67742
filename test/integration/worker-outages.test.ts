import { Writable } from 'node:stream';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type App, createApp } from '../../src/app.ts';
import { type Environment, loadConfig } from '../../src/config/load-config.ts';
import { addEndpoint } from '../../src/events/webhook-endpoints.ts';
import type { SyncWorker } from '../../src/jobs/sync-worker.ts';
import { createLogger } from '../../src/observability/logger.ts';
import { Secret } from '../../src/shared/secret.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.ts';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.ts';
import { createTestDatabase, uniquePrefix } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';
import { seedEvents } from '../support/webhook-fixtures.ts';
import {
  randomWebhookSecret,
  startWebhookReceiver,
  type WebhookReceiver,
} from '../support/webhook-receiver.ts';

/** A debug logger whose JSON lines are parsed into `lines` (what the outage tests read). */
function loggerInto(lines: object[]) {
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return createLogger({ level: 'debug', destination, pretty: false });
}

/** A worker whose PostgreSQL is reached through a proxy the test can cut, beside a simulator of its own. */
interface BehindProxy {
  simulator: Simulator;
  proxy: TcpProxy;
  sql: pg.Client;
  app: App;
  worker: SyncWorker;
  close(): Promise<void>;
}

async function workerBehindProxy(
  options: { seed: number; regionId: string; label: string; env: Environment },
  lines: object[],
): Promise<BehindProxy> {
  const simulator = await startSimulator({
    port: 0,
    seed: options.seed,
    quota: null,
    regions: [{ regionId: options.regionId, images: 3 }],
  });
  const databaseUrl = new URL(await createTestDatabase());
  const sql = new pg.Client({ connectionString: databaseUrl.toString() });
  await sql.connect();
  const proxy = await startTcpProxy({ host: databaseUrl.hostname, port: Number(databaseUrl.port || 5432) });
  const viaProxy = new URL(databaseUrl);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const config = loadConfig(
    {
      DATABASE_URL: viaProxy.toString(),
      REDIS_URL: inject('redisUrl'),
      SWAS_ENDPOINT: simulator.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '1000/1s',
      SYNC_WATCH_INTERVAL: 'off',
      HTTP_PORT: '0',
      ...options.env,
    },
    { readFile: () => '' },
  );
  const app = createApp(config, {
    logger: loggerInto(lines),
    redisPrefix: uniquePrefix(options.label),
    httpHost: '127.0.0.1',
  });
  const worker = await app.worker({ probeIntervalMs: 250 });
  return {
    simulator,
    proxy,
    sql,
    app,
    worker,
    close: async () => {
      await worker.stop();
      await app.close();
      await proxy.close();
      await sql.end();
      await simulator.close();
    },
  };
}

const succeededSince = async (sql: pg.Client, since: Date) =>
  Number(
    (
      await sql.query<{ n: string }>(
        "select count(*) as n from sync_runs where status = 'succeeded' and started_at > $1",
        [since],
      )
    ).rows[0]?.n,
  );

// PostgreSQL going away under a running worker (its connections cut by a proxy): one line when the
// outage starts, one when it ends, and syncs again afterwards without a restart.
describe('worker during a PostgreSQL outage', () => {
  let setup: BehindProxy;
  const lines: { level: string; msg: string; dependency?: string }[] = [];

  beforeAll(async () => {
    setup = await workerBehindProxy(
      {
        seed: 13,
        regionId: 'cn-shanghai',
        label: 'worker-outage',
        env: { SWAS_REGIONS: 'cn-shanghai', SYNC_SCHEDULE: '1s' },
      },
      lines,
    );
    await setup.worker.start();
  });
  afterAll(() => setup?.close());

  const postgresLines = (pattern: RegExp) => lines.filter((line) => pattern.test(line.msg));

  it('logs the outage once, recovers by itself and syncs again', async () => {
    const { proxy, sql, worker } = setup;
    await waitFor('a first sync', async () => (await succeededSince(sql, new Date(0))) >= 1, {
      timeoutMs: 20_000,
    });
    await proxy.cut();
    await waitFor('the outage line', () => postgresLines(/^PostgreSQL at .* is unreachable/).length > 0);
    // Several probes and ticks fail during the outage; none of them logs again.
    await waitFor('health to see it', () => !worker.health().postgres);
    await waitFor(
      '3 more failures during the outage',
      () => postgresLines(/^PostgreSQL still unreachable/).length >= 3,
    );
    await proxy.restore();
    const restoredAt = new Date();
    await waitFor('syncs after the outage', async () => (await succeededSince(sql, restoredAt)) >= 2, {
      timeoutMs: 30_000,
    });
    // No flood: the outage's line is the only warning or error of the whole test.
    expect(
      lines.filter((line) => line.level === 'warn' || line.level === 'error').map((line) => line.msg),
    ).toEqual([expect.stringMatching(/^PostgreSQL at .* is unreachable/)]);
    expect(postgresLines(/^PostgreSQL at .* is unreachable/)).toHaveLength(1);
    expect(postgresLines(/^PostgreSQL at .* answers again/)).toHaveLength(1);
    expect(postgresLines(/^PostgreSQL at .* is unreachable/)[0]?.level).toBe('error');
    expect(worker.health()).toEqual({ redis: true, postgres: true });
  });
});

// PostgreSQL going away after start-up's first check but before its first plan, on a yearly cron:
// the worker starts all the same, and plans the syncs the moment PostgreSQL answers again instead
// of leaving them to the next firing (a tick that fails during an outage has the same remedy).
describe('worker whose first plan meets a PostgreSQL outage', () => {
  let setup: BehindProxy;
  const lines: { level: string; msg: string }[] = [];

  beforeAll(async () => {
    setup = await workerBehindProxy(
      {
        seed: 17,
        regionId: 'cn-chengdu',
        label: 'worker-first-plan',
        env: { SWAS_REGIONS: 'all', SYNC_SCHEDULE: '0 0 1 1 *' },
      },
      lines,
    );
  });
  afterAll(() => setup?.close());

  it('starts, and syncs once PostgreSQL answers again', async () => {
    const { simulator, proxy, sql, worker } = setup;
    // The first plan discovers the regions first: held there, PostgreSQL goes away.
    const hold = simulator.admin.injectFault({ kind: 'hold', action: 'ListRegions' });
    const starting = worker.start();
    await waitFor('the first plan to ask for the regions', () => simulator.admin.heldCalls(hold) > 0);
    await proxy.cut();
    simulator.admin.releaseFault(hold);
    await starting;
    await waitFor('the outage line', () =>
      lines.some((line) => /^PostgreSQL at .* is unreachable/.test(line.msg)),
    );
    expect(await succeededSince(sql, new Date(0))).toBe(0);
    await proxy.restore();
    await waitFor('a sync after the outage', async () => (await succeededSince(sql, new Date(0))) >= 1, {
      timeoutMs: 20_000,
    });
    expect(lines.some((line) => /^planned 1 region\(s\) missed during the outage/.test(line.msg))).toBe(true);
    expect(worker.health()).toEqual({ redis: true, postgres: true });
  });
});

// Redis going away under a running worker (its own redis-server, stopped and restarted empty): the
// webhook deliveries' queue and worker report through the worker's outage log, so the outage is
// one line, not a warning per failed command; and deliveries go on afterwards.
describe('worker during a Redis outage', () => {
  let simulator: Simulator;
  let redis: TestRedisServer;
  let sql: pg.Client;
  let app: App;
  let worker: SyncWorker;
  let receiver: WebhookReceiver;
  const lines: { level: string; msg: string }[] = [];

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 17,
      quota: null,
      regions: [{ regionId: 'cn-shanghai', images: 2 }],
    });
    redis = await startRedisServer();
    receiver = await startWebhookReceiver();
    const databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    const config = loadConfig(
      {
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        SWAS_ENDPOINT: simulator.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
        SWAS_REGIONS: 'cn-shanghai',
        SYNC_SCHEDULE: '1h',
        SYNC_WATCH_INTERVAL: 'off',
        HTTP_PORT: '0',
      },
      { readFile: () => '' },
    );
    const logger = loggerInto(lines);
    app = createApp(config, { logger, redisPrefix: uniquePrefix('redis-outage'), httpHost: '127.0.0.1' });
    await addEndpoint(app.webhookStore(), app.ids, {
      url: `${receiver.url}/hook`,
      format: 'standard',
      secret: new Secret(randomWebhookSecret()),
      eventTypes: null,
      accounts: null,
      regionIds: null,
      includeBaseline: false,
    });
    worker = await app.worker({ probeIntervalMs: 250 });
    await worker.start();
  });
  afterAll(async () => {
    await worker?.stop();
    await app?.close();
    await redis?.stop();
    await receiver?.close();
    await sql?.end();
    await simulator?.close();
  });

  const matching = (pattern: RegExp) => lines.filter((line) => pattern.test(line.msg));

  it('logs the outage once, not once per webhook queue error, and delivers again afterwards', async () => {
    await waitFor('the start-up sync', async () =>
      (await sql.query("select 1 from sync_runs where status = 'succeeded'")).rowCount === 1
        ? true
        : undefined,
    );
    await redis.stop();
    await waitFor('the outage line', () => matching(/^Redis at .* is unreachable/).length > 0);
    // The webhook worker's blocking reads and the queue fail over and over meanwhile.
    await waitFor('more failures during the outage', () => matching(/^Redis still unreachable/).length >= 5, {
      timeoutMs: 15_000,
    });
    await redis.start();
    await waitFor('the recovery line', () => matching(/^Redis at .* answers again/).length > 0, {
      timeoutMs: 15_000,
    });

    // Redis came back empty: deliveries committed now are found by the sweep, whose scheduler is back.
    const ids = await seedEvents(sql, app.database().db, 2);
    await waitFor(
      'the deliveries after the outage',
      () => (receiver.acceptedIds().filter((id) => ids.includes(id)).length === 2 ? true : undefined),
      { timeoutMs: 45_000 },
    );
    expect(
      lines.filter((line) => line.level === 'warn' || line.level === 'error').map((line) => line.msg),
    ).toEqual([expect.stringMatching(/^Redis at .* is unreachable/)]);
    expect(matching(/^Redis at .* answers again/)).toHaveLength(1);
  });
});
