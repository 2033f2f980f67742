import { type AddressInfo, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { checkSchemaCurrent } from '../../src/db/migrate.ts';
import { addEndpoint } from '../../src/events/webhook-endpoints.ts';
import {
  createHealthServer,
  type HealthServer,
  type ReadinessCheck,
} from '../../src/observability/health-server.ts';
import { Secret } from '../../src/shared/secret.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { openTestDatabase } from '../support/db-fixtures.ts';
import { createSyncHarness, type SyncHarness } from '../support/sync-harness.ts';
import { uniquePrefix } from '../support/test-database.ts';
import { seedEvents } from '../support/webhook-fixtures.ts';
import { randomWebhookSecret, startWebhookReceiver } from '../support/webhook-receiver.ts';

// The operations endpoint over real HTTP, fed by a real sync (simulator, Postgres, Redis budget).

const database = await openTestDatabase();
let simulator: Simulator;
let harness: SyncHarness;
const servers: HealthServer[] = [];
const redisClients: Redis[] = [];

beforeAll(async () => {
  simulator = await startSimulator({
    port: 0,
    seed: 11,
    quota: null,
    regions: [
      { regionId: 'cn-hangzhou', images: 150 },
      { regionId: 'cn-shanghai', images: 3 },
    ],
  });
  harness = await createSyncHarness(database.url, simulator, { SWAS_REGIONS: 'cn-hangzhou,cn-shanghai' });
});

afterAll(async () => {
  for (const server of servers) await server.close();
  for (const redis of redisClients) redis.disconnect();
  await harness?.close();
  await simulator?.close();
});

/** The checks the worker serves: Redis answers PING, Postgres answers, every migration applied. */
function readinessChecks(redisUrl: string): Record<string, ReadinessCheck> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
  });
  redis.on('error', () => undefined);
  redisClients.push(redis);
  const attempt = async (work: () => Promise<unknown>) => {
    try {
      await work();
      return { ok: true } as const;
    } catch (error) {
      return { ok: false, error: error instanceof Error ? error.message : String(error) } as const;
    }
  };
  return {
    redis: () =>
      attempt(async () => {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
        await redis.ping();
      }),
    postgres: () => attempt(() => harness.app.database().ping()),
    migrations: () => attempt(() => checkSchemaCurrent(harness.app.database().db)),
  };
}

async function serve(checks: Record<string, ReadinessCheck>) {
  const server = createHealthServer(
    { checks, metrics: await harness.app.metrics(), logger: harness.app.logger },
    { port: 0, host: '127.0.0.1', checkTimeoutMs: 1_000 },
  );
  servers.push(server);
  const { port } = await server.listen();
  return async (path: string) => {
    const response = await request(`http://127.0.0.1:${port}${path}`);
    return { status: response.statusCode, body: await response.body.text() };
  };
}

describe('operations endpoint', () => {
  it('shows the API calls, throttles and budget waits of a sync in /metrics', async () => {
    simulator.admin.injectFault({
      kind: 'throttle',
      action: 'ListCustomImages',
      regionId: 'cn-shanghai',
      timeLeftMs: 50,
    });
    const get = await serve({});

    const report = await harness.syncAll();

    expect(report.ok).toBe(true);

    const { status, body } = await get('/metrics');
    expect(status).toBe(200);
    const value = (series: string) =>
      Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body)?.[1]);
    expect(
      value('swas_inventory_api_calls_total{account="default",action="ListCustomImages",outcome="ok"}'),
    ).toBe(3);
    expect(
      value(
        'swas_inventory_api_calls_total{account="default",action="ListCustomImages",outcome="throttled"}',
      ),
    ).toBe(1);
    expect(value('swas_inventory_api_throttles_total{account="default",action="ListCustomImages"}')).toBe(1);
    expect(
      value('swas_inventory_rate_budget_wait_seconds_count{account="default",action="ListCustomImages"}'),
    ).toBe(4);
    expect(body).toMatch(/^process_resident_memory_bytes \d+/m);
    // Read from PostgreSQL at the scrape: every current image by status, and each region's staleness.
    const images = [...body.matchAll(/^swas_inventory_images\{account="default",status="(\w+)"\} (\d+)$/gm)];
    expect(images.map((match) => match[1])).toContain('available');
    expect(images.reduce((sum, match) => sum + Number(match[2]), 0)).toBe(153);
    for (const region of ['cn-hangzhou', 'cn-shanghai']) {
      expect(
        value(`swas_inventory_last_complete_sync_age_seconds{account="default",region="${region}"}`),
      ).toBeGreaterThanOrEqual(0);
    }
  });

  it('shows webhook attempts by outcome, commit-to-delivery latency and pending deliveries in /metrics', async () => {
    const get = await serve({});
    const receiver = await startWebhookReceiver((request) =>
      request.path === '/down' ? { status: 503 } : { status: 204 },
    );
    try {
      const app = harness.app;
      const endpoint = (path: string) => ({
        url: `${receiver.url}${path}`,
        format: 'standard' as const,
        secret: new Secret(randomWebhookSecret()),
        eventTypes: null,
        accounts: null,
        regionIds: null,
        includeBaseline: false,
      });
      await addEndpoint(app.webhookStore(), app.ids, endpoint('/up'));
      await addEndpoint(app.webhookStore(), app.ids, endpoint('/down'));
      await seedEvents(harness.sql, app.database().db, 3);
      // The default schedule retries after 5 s: the drain stops before, leaving 3 pending.
      expect(await app.webhookDelivery().drain({ timeoutMs: 1_000 })).toMatchObject({
        delivered: 3,
        retrying: 3,
      });

      const { body } = await get('/metrics');
      const value = (series: string) =>
        Number(new RegExp(`^${series.replace(/[{}"]/g, '\\$&')} (\\S+)$`, 'm').exec(body)?.[1]);
      expect(value('swas_inventory_webhook_attempts_total{outcome="delivered",format="standard"}')).toBe(3);
      expect(value('swas_inventory_webhook_attempts_total{outcome="retry",format="standard"}')).toBe(3);
      expect(value('swas_inventory_webhook_delivery_latency_seconds_count{format="standard"}')).toBe(3);
      expect(value('swas_inventory_webhook_delivery_latency_seconds_sum{format="standard"}')).toBeGreaterThan(
        0,
      );
      // Read from PostgreSQL at the scrape: the three waiting for their retry.
      expect(value('swas_inventory_webhook_deliveries_pending{format="standard"}')).toBe(3);
    } finally {
      await receiver.close();
    }
  });

  it('is ready with Redis, Postgres and a current schema, and names Redis when it is down', async () => {
    const ready = await serve(readinessChecks(inject('redisUrl')));
    const up = await ready('/readyz');
    expect(up.status).toBe(200);
    expect(JSON.parse(up.body)).toMatchObject({ status: 'ready', failed: [] });

    const redisDown = await serve(readinessChecks('redis://127.0.0.1:1'));
    const down = await redisDown('/readyz');
    expect(down.status).toBe(503);
    expect(JSON.parse(down.body)).toMatchObject({
      status: 'not ready',
      failed: ['redis'],
      checks: { redis: { ok: false }, postgres: { ok: true }, migrations: { ok: true } },
    });
    expect((await redisDown('/healthz')).status).toBe(200);
  });
});

describe('createApp rate budget', () => {
  it('falls back to a local budget with one warning per process when Redis is unreachable', async () => {
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const accountsFile = JSON.stringify([
      { name: 'prod', credentials: { accessKeyIdEnv: 'PROD_ID', accessKeySecretEnv: 'PROD_SECRET' } },
      {
        name: 'staging',
        credentials: { accessKeyIdEnv: 'STAGING_ID', accessKeySecretEnv: 'STAGING_SECRET' },
      },
    ]);
    const config = loadConfig(
      {
        DATABASE_URL: database.url,
        REDIS_URL: 'redis://:hunter2@127.0.0.1:1',
        SWAS_ACCOUNTS_FILE: '/accounts.json',
        SWAS_RATE_LIMIT: '2/1m',
      },
      { readFile: () => accountsFile },
    );
    const app = createApp(config, { logger, redisPrefix: uniquePrefix('fallback') });
    try {
      for (const account of config.accounts) {
        const budget = app.rateBudget(account);
        (await budget.acquire({ account: account.name, action: 'ListCustomImages' })).done();
        (await budget.acquire({ account: account.name, action: 'ListCustomImages' })).done();
        expect(await budget.tryAcquire({ account: account.name, action: 'ListCustomImages' })).toMatchObject({
          granted: false,
        });
      }
    } finally {
      await app.close();
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({
      level: 40,
      redis: '127.0.0.1:1',
      msg: expect.stringContaining('Redis is unreachable'),
    });
    expect(lines.join('')).not.toContain('hunter2');
  });

  it('never hangs on a Redis that accepts connections but never answers', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    const lines: string[] = [];
    const logger = pino(
      { level: 'warn' },
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const config = loadConfig(
      {
        DATABASE_URL: database.url,
        REDIS_URL: `redis://127.0.0.1:${port}`,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      },
      { readFile: () => '' },
    );
    const app = createApp(config, { logger, redisConnectTimeoutMs: 300 });
    try {
      const account = config.accounts[0]!;
      (await app.rateBudget(account).acquire({ account: account.name, action: 'ListRegions' })).done();
    } finally {
      await app.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ reason: 'no answer within 300 ms' });
  });
});
