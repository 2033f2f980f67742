import { randomInt } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Dispatcher } from 'undici';
import type { AccountConfig, Config } from './config/load-config.ts';
import { createDatabase, type Database } from './db/client.ts';
import { withDatabaseErrors } from './db/errors.ts';
import { checkSchemaCurrent } from './db/migrate.ts';
import { watchDetections } from './db/run-metrics.ts';
import { createScheduleStore } from './db/schedule-store.ts';
import { createSyncRunStore } from './db/sync-run-store.ts';
import { ABANDON_AFTER_HEARTBEATS, createSyncStore } from './db/sync-store.ts';
import { createWebhookStore, type WebhookStore } from './db/webhook-store.ts';
import {
  createWebhookDelivery,
  type WebhookDelivery,
  type WebhookDeliveryMetrics,
} from './events/webhook-delivery.ts';
import {
  createWebhookDispatcher,
  ensureBootstrapEndpoint,
  WEBHOOK_USER_AGENT,
} from './events/webhook-endpoints.ts';
import { createFallbackRateBudget, createRedisRateBudget } from './jobs/redis-rate-budget.ts';
import type { SyncWorker, SyncWorkerOptions, WorkerComponent } from './jobs/sync-worker.ts';
import type { Logger } from './observability/logger.ts';
import type { Metrics } from './observability/metrics.ts';
import { errorMessage } from './shared/app-error.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import type { Rate } from './shared/duration.ts';
import { type IdSource, randomIds } from './shared/ids.ts';
import {
  createSwasClient,
  createSwasDispatcher,
  type SwasClient,
  type SwasClientMetrics,
} from './swas/client.ts';
import { createLocalRateBudget, type RateBudget } from './swas/rate-budget.ts';
import type { RunTrigger } from './sync/model.ts';
import { createRegionSyncs, type RegionSyncs } from './sync/region-syncs.ts';
import type { RegionSyncResult } from './sync/run-sync.ts';

/**
 * The composition root: the only place that builds pg pools, undici agents, Redis connections
 * and the worker's queues. Everything is built on first use, so a command that never touches the
 * database never connects to it.
 */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly ids: IdSource;
  swasClient(account: AccountConfig): SwasClient;
  /**
   * The account's rate budget: the one shared in Redis (REDIS_URL) when Redis answers a quick
   * connect, else — with one warning per process — a local one.
   */
  rateBudget(account: AccountConfig): RateBudget;
  /**
   * Loads the rate budget's Redis client now and connects it once `ready` resolves (never when it
   * rejects), so that both overlap other start-up work instead of delaying the first API call.
   * Reports nothing: a budget that cannot use Redis warns when first used, as without this call.
   */
  connectRateBudget(ready?: Promise<unknown>): void;
  /**
   * The process's metrics registry, built on first call (prom-client is loaded only then, so
   * one-shot commands never pay for it). SWAS clients report into it from then on.
   */
  metrics(): Promise<Metrics>;
  database(): Database;
  webhookStore(): WebhookStore;
  /** Webhook delivery over the webhook undici agent (built on first use). */
  webhookDelivery(): WebhookDelivery;
  /**
   * The region-sync use case (store, API clients, fan-out) that `sync --once` and the worker's
   * job processors both call.
   */
  regionSyncs(): RegionSyncs;
  /**
   * The long-running worker over Redis (REDIS_URL) with its operations endpoint on HTTP_PORT, and
   * the extra components it runs beside the syncs (e.g. webhook deliveries). Its Redis
   * connections are closed by {@link App.close}.
   */
  worker(options?: SyncWorkerOptions & { components?: readonly WorkerComponent[] }): Promise<SyncWorker>;
  close(): Promise<void>;
}

export interface AppDeps {
  logger: Logger;
  clock?: Clock;
  ids?: IdSource;
  /** The SWAS HTTP dispatcher; tests may pass their own. */
  swasDispatcher?: Dispatcher;
  /** The webhook HTTP dispatcher; tests may pass their own. */
  webhookDispatcher?: Dispatcher;
  /**
   * Prefix of every Redis key this app writes (the rate budget's and the worker's queues).
   * Default `swas-inventory`; tests pass a unique one.
   */
  redisPrefix?: string;
  /** How long the budget waits for Redis to answer before using a local budget, ms. Default 1 000. */
  redisConnectTimeoutMs?: number;
  /** Interface the operations endpoint listens on; default all (`0.0.0.0`). Tests pass loopback. */
  httpHost?: string;
}

/** `host:port` of a Redis URL, for logs (never its password). */
function describeRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.hostname}:${parsed.port || '6379'}`;
  } catch {
    return 'Redis';
  }
}

/**
 * A connected client for the shared rate budget; rejects when Redis does not answer within
 * `timeoutMs`, or when `signal` aborts first, after disconnecting it so that nothing retries in
 * the background. Commands fail fast during an outage (no offline queue) instead of hanging a sync.
 */
async function connectBudgetRedis(
  url: string,
  timeoutMs: number,
  logger: Logger,
  signal: AbortSignal,
): Promise<Redis> {
  const { Redis } = await import('ioredis');
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectionName: 'swas-inventory:rate-budget',
  });
  // Reconnect attempts emit errors; the budget reports an outage once, through the fallback.
  redis.on('error', (error: unknown) => logger.debug({ err: error }, 'rate budget Redis connection error'));
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  try {
    signal.throwIfAborted();
    await Promise.race([
      redis.connect(),
      new Promise((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      }),
    ]);
    return redis;
  } catch (error) {
    redis.disconnect();
    throw error;
  } finally {
    clearTimeout(timer);
    if (onAbort) signal.removeEventListener('abort', onAbort);
  }
}

export function createApp(config: Config, deps: AppDeps): App {
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? randomIds;
  let swasDispatcher = deps.swasDispatcher;
  let ownsDispatcher = false;
  let database: Database | undefined;
  let webhookDispatcher = deps.webhookDispatcher;
  let ownsWebhookDispatcher = false;
  let webhookStore: WebhookStore | undefined;
  let webhookDelivery: WebhookDelivery | undefined;
  let regionSyncs: RegionSyncs | undefined;
  let workerRedis: Redis | undefined;
  let probeRedis: Redis | undefined;
  /** The worker's webhook delivery queue, once its component started. */
  let deliveryQueue: Queue | undefined;
  let metrics: Metrics | undefined;
  let loadingMetrics: Promise<Metrics> | undefined;
  // What clients report into: the registry once someone asked for it, nothing before.
  const swasMetrics: SwasClientMetrics = {
    apiCall: (labels) => metrics?.swas.apiCall(labels),
    throttled: (labels) => metrics?.swas.throttled(labels),
    budgetWait: (labels, seconds) => metrics?.swas.budgetWait(labels, seconds),
  };
  const deliveryMetrics: WebhookDeliveryMetrics = {
    attempt: (labels) => metrics?.webhooks.attempt(labels),
    delivered: (labels, seconds) => metrics?.webhooks.delivered(labels, seconds),
  };
  let budgetRedis: Promise<Redis> | undefined;
  // Aborted by close(): a connect still under way (started early, never used) ends at once.
  const closing = new AbortController();
  let warnedLocal = false;
  const budgets = new Map<string, RateBudget>();
  const watchShares = new Map<string, RateBudget>();
  const random = () => randomInt(0, 2 ** 32) / 2 ** 32;
  const redisTarget = describeRedisUrl(config.redisUrl);

  const sharedRedis = () => {
    // A failed connect is forgotten, so the budgets' next try (see createFallbackRateBudget) connects anew.
    budgetRedis ??= connectBudgetRedis(
      config.redisUrl,
      deps.redisConnectTimeoutMs ?? 1_000,
      deps.logger,
      closing.signal,
    ).catch((error: unknown) => {
      budgetRedis = undefined;
      throw error;
    });
    return budgetRedis;
  };

  /** A budget of `rate` for the account, shared in Redis when Redis answers (see rateBudget). */
  function sharedBudget(cache: Map<string, RateBudget>, account: AccountConfig, rate: Rate): RateBudget {
    let budget = cache.get(account.name);
    if (!budget) {
      budget = createFallbackRateBudget({
        // A failed connect rejects here, and the fallback warns with its reason.
        shared: async () =>
          createRedisRateBudget(
            rate,
            { redis: await sharedRedis(), clock, logger: deps.logger },
            { prefix: deps.redisPrefix },
          ),
        local: createLocalRateBudget(rate, { clock }),
        clock,
        onFallback: (reason) => {
          if (warnedLocal) return;
          warnedLocal = true;
          deps.logger.warn(
            { redis: redisTarget, reason: errorMessage(reason) },
            'Redis is unreachable: API calls spend a rate budget of this process only, not shared with other processes',
          );
        },
        onShared: () => {
          if (!warnedLocal) return;
          warnedLocal = false;
          deps.logger.info(
            { redis: redisTarget },
            'Redis answers again: API calls spend the shared rate budget',
          );
        },
      });
      cache.set(account.name, budget);
    }
    return budget;
  }

  const rateBudget = (account: AccountConfig) => sharedBudget(budgets, account, account.rateLimit);
  /** Watch polls' share of the account's quota: half its calls, so polls and full syncs both go on. */
  const watchShare = (account: AccountConfig) =>
    sharedBudget(watchShares, account, {
      limit: Math.max(1, Math.floor(account.rateLimit.limit / 2)),
      intervalMs: account.rateLimit.intervalMs,
    });

  const openDatabase = () => {
    // Region syncs in flight, watch polls, planners and probes, with some slack. Idle connections
    // that die are replaced silently: the worker's probe reports an outage, once.
    database ??= createDatabase(config.databaseUrl, { max: config.sync.concurrency + 6 });
    return database;
  };
  const openWebhookStore = () => {
    const opened = openDatabase();
    webhookStore ??= withDatabaseErrors(createWebhookStore(opened.db), opened.target);
    return webhookStore;
  };
  const appMetrics = () => {
    loadingMetrics ??= Promise.all([
      import('./observability/metrics.ts'),
      import('./db/metrics-source.ts'),
    ]).then(([{ createMetrics }, { createMetricsSources }]) => {
      metrics = createMetrics({ clock, sources: createMetricsSources(() => openDatabase().db) });
      return metrics;
    });
    return loadingMetrics;
  };

  const accountNamed = (name: string) => {
    const account = config.accounts.find((a) => a.name === name);
    if (!account) throw new Error(`unknown account ${name}`);
    return account;
  };
  const discoverRegions = async (account: string, signal?: AbortSignal) =>
    (await app.swasClient(accountNamed(account)).listRegions(signal)).map((region) => region.regionId);

  /** Sync metrics, once someone asked for the registry (the worker does; one-shot commands do not). */
  function observeResult(result: RegionSyncResult, trigger: RunTrigger) {
    if (deliveryQueue && result.counts.events > 0 && result.runId !== '') {
      const queue = deliveryQueue;
      // Delivered at once rather than at the next sweep; if this fails the sweep still finds them.
      void import('./jobs/webhook-delivery-jobs.ts')
        .then(({ enqueueDeliveriesForRun }) =>
          enqueueDeliveriesForRun(queue, openWebhookStore(), result.runId, clock),
        )
        .catch(() => undefined);
    }
    const registry = metrics;
    if (!registry) return;
    registry.syncRun(
      { account: result.scope.account, trigger, status: result.status },
      result.durationMs / 1_000,
    );
    for (const row of result.eventsByType ?? [])
      registry.eventsRecorded({ type: row.type, baseline: row.baseline }, row.count);
    if (trigger === 'watch' && result.counts.events > 0 && result.runId !== '') {
      // Read after commit, off the sync's path; a failed read only loses these observations.
      void watchDetections(openDatabase().db, result.runId)
        .then((rows) => {
          for (const row of rows) registry.watchDetection({ status: row.status }, row.seconds);
        })
        .catch(() => undefined);
    }
  }

  function syncs(): RegionSyncs {
    if (!regionSyncs) {
      const logger = deps.logger.child({ component: 'sync' });
      const store = createSyncStore(openDatabase(), {
        heartbeatMs: config.sync.heartbeatMs,
        lockTimeoutMs: config.sync.lockTimeoutMs,
        clock,
        onHeartbeatError: (error) => logger.warn({ err: error }, 'sync run heartbeat failed'),
      });
      regionSyncs = createRegionSyncs({
        listerFor: (account) => app.swasClient(accountNamed(account)),
        discoverRegions,
        store,
        clock,
        ids,
        deleteBrake: config.sync.deleteBrake,
        concurrency: config.sync.concurrency,
        onResult: observeResult,
      });
    }
    return regionSyncs;
  }

  const app: App = {
    config,
    logger: deps.logger,
    clock,
    ids,
    swasClient(account) {
      if (!account.credentials) throw new Error(`account ${account.name} has no credentials`);
      if (!swasDispatcher) {
        swasDispatcher = createSwasDispatcher();
        ownsDispatcher = true;
      }
      return createSwasClient(
        {
          dispatcher: swasDispatcher,
          clock,
          ids,
          random,
          rateBudget: rateBudget(account),
          logger: deps.logger,
          metrics: swasMetrics,
        },
        { account: account.name, endpoint: config.swas.endpoint, credentials: account.credentials },
      );
    },
    rateBudget,
    connectRateBudget(ready = Promise.resolve()) {
      import('ioredis').catch(() => undefined);
      // A failure is the budget's to report, on first use.
      ready.then(
        () => sharedRedis().catch(() => undefined),
        () => undefined,
      );
    },
    metrics: appMetrics,
    database: openDatabase,
    webhookStore: openWebhookStore,
    webhookDelivery() {
      if (!webhookDispatcher) {
        webhookDispatcher = createWebhookDispatcher(config.webhook.timeoutMs);
        ownsWebhookDispatcher = true;
      }
      webhookDelivery ??= createWebhookDelivery(
        {
          store: openWebhookStore(),
          dispatcher: webhookDispatcher,
          clock,
          ids,
          random,
          logger: deps.logger,
          metrics: deliveryMetrics,
        },
        {
          retryScheduleMs: config.webhook.retryScheduleMs,
          timeoutMs: config.webhook.timeoutMs,
          userAgent: WEBHOOK_USER_AGENT,
        },
      );
      return webhookDelivery;
    },
    regionSyncs: syncs,
    async worker(options = {}) {
      // Loaded on use: BullMQ and the HTTP server are not needed by the other commands.
      const [{ Redis }, { createSyncWorker }, { createHealthServer }, registry] = await Promise.all([
        import('ioredis'),
        import('./jobs/sync-worker.ts'),
        import('./observability/health-server.ts'),
        appMetrics(),
      ]);
      // BullMQ's blocking reads need maxRetriesPerRequest null: commands wait out a Redis outage
      // instead of failing, and ioredis reconnects for as long as it takes.
      workerRedis ??= new Redis(config.redisUrl, {
        maxRetriesPerRequest: null,
        connectionName: 'swas-inventory:worker',
        retryStrategy: (times) => Math.min(times * 200, 2_000),
      });
      // Readiness must fail fast during an outage, not queue its PING until Redis returns.
      probeRedis ??= new Redis(config.redisUrl, {
        lazyConnect: true,
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        connectionName: 'swas-inventory:readiness',
      });
      probeRedis.on('error', () => undefined);
      const probe = probeRedis;
      const db = openDatabase();
      const runs = createSyncRunStore(db.db);
      const check = async (work: () => Promise<unknown>) => {
        try {
          await work();
          return { ok: true } as const;
        } catch (error) {
          return { ok: false, error: errorMessage(error) } as const;
        }
      };
      const server = createHealthServer(
        {
          checks: {
            redis: () =>
              check(async () => {
                if (probe.status === 'wait' || probe.status === 'end') await probe.connect();
                await probe.ping();
              }),
            postgres: () => check(() => db.ping()),
            migrations: () => check(() => checkSchemaCurrent(db.db)),
          },
          metrics: registry,
          logger: deps.logger.child({ component: 'http' }),
        },
        { port: config.http.port, ...(deps.httpHost === undefined ? {} : { host: deps.httpHost }) },
      );
      return createSyncWorker(
        {
          config,
          logger: deps.logger,
          clock,
          regionSyncs: syncs(),
          scheduleStore: createScheduleStore(db),
          discoverRegions: (account, signal) => discoverRegions(account, signal),
          checkDatabase: async () => {
            await db.ping();
            await checkSchemaCurrent(db.db);
          },
          reapAbandoned: () =>
            runs.reapAbandoned({ staleAfterMs: config.sync.heartbeatMs * ABANDON_AFTER_HEARTBEATS }),
          connection: workerRedis,
          targets: { redis: describeRedisUrl(config.redisUrl), postgres: db.target },
          operations: { start: async () => void (await server.listen()), close: () => server.close() },
          budget: {
            waitMs: (account) =>
              rateBudget(accountNamed(account)).availableIn({ account, action: 'ListCustomImages' }),
            turnMs: (account) =>
              rateBudget(accountNamed(account)).turn({ account, action: 'ListCustomImages' }),
            takeWatchShare: async (account) => {
              const grant = await watchShare(accountNamed(account)).tryAcquire({
                account,
                action: 'watch-polls',
              });
              if (!grant.granted) return grant.waitMs;
              grant.permit.done();
              return 0;
            },
            rate: (account) => accountNamed(account).rateLimit,
          },
          components: [
            {
              name: 'webhook deliveries',
              start: async ({ connection, prefix, onError }) => {
                const { startWebhookWorker } = await import('./jobs/webhook-delivery-jobs.ts');
                await ensureBootstrapEndpoint(openWebhookStore(), ids, config.webhook.bootstrap);
                const deliveries = await startWebhookWorker(
                  {
                    delivery: app.webhookDelivery(),
                    store: openWebhookStore(),
                    clock,
                    logger: deps.logger,
                    databaseTarget: db.target,
                  },
                  { connection, prefix, onError },
                );
                deliveryQueue = deliveries.queue;
                return deliveries;
              },
            },
            ...(options.components ?? []),
          ],
        },
        { ...(deps.redisPrefix === undefined ? {} : { prefix: deps.redisPrefix }), ...options },
      );
    },
    async close() {
      if (ownsDispatcher) await swasDispatcher?.close();
      if (ownsWebhookDispatcher) await webhookDispatcher?.close();
      await database?.close();
      closing.abort(new Error('closed'));
      const redis = await budgetRedis?.catch(() => undefined);
      // QUIT after the pending replies (a permit's last update); a dead connection just disconnects.
      await redis?.quit().catch(() => redis.disconnect());
      for (const client of [workerRedis, probeRedis]) {
        if (client?.status === 'ready') await client.quit().catch(() => client.disconnect());
        else client?.disconnect();
      }
    },
  };
  return app;
}
