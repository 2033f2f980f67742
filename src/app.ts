import { randomInt } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { AccountConfig, Config } from './config/load-config.ts';
import { createDatabase, type Database } from './db/client.ts';
import { createWebhookStore, type WebhookStore } from './db/webhook-store.ts';
import { createWebhookDelivery, type WebhookDelivery } from './events/webhook-delivery.ts';
import { createWebhookDispatcher, WEBHOOK_USER_AGENT } from './events/webhook-endpoints.ts';
import type { Logger } from './observability/logger.ts';
import { type Clock, systemClock } from './shared/clock.ts';
import { type IdSource, randomIds } from './shared/ids.ts';
import { createSwasClient, createSwasDispatcher, type SwasClient } from './swas/client.ts';
import { createLocalRateBudget, type RateBudget } from './swas/rate-budget.ts';

/**
 * The composition root: the only place that builds pg pools, undici agents and (later) Redis
 * connections and queues. Everything is built on first use, so a command that never touches the
 * database never connects to it.
 */
export interface App {
  readonly config: Config;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly ids: IdSource;
  swasClient(account: AccountConfig): SwasClient;
  database(): Database;
  webhookStore(): WebhookStore;
  /** Webhook delivery over the webhook undici agent (built on first use). */
  webhookDelivery(): WebhookDelivery;
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
  const budgets = new Map<string, RateBudget>();
  const random = () => randomInt(0, 2 ** 32) / 2 ** 32;

  return {
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
      let budget = budgets.get(account.name);
      if (!budget) {
        budget = createLocalRateBudget(account.rateLimit, { clock });
        budgets.set(account.name, budget);
      }
      return createSwasClient(
        { dispatcher: swasDispatcher, clock, ids, random, rateBudget: budget, logger: deps.logger },
        { account: account.name, endpoint: config.swas.endpoint, credentials: account.credentials },
      );
    },
    database() {
      database ??= createDatabase(config.databaseUrl);
      return database;
    },
    webhookStore() {
      webhookStore ??= createWebhookStore(this.database().db);
      return webhookStore;
    },
    webhookDelivery() {
      if (!webhookDispatcher) {
        webhookDispatcher = createWebhookDispatcher(config.webhook.timeoutMs);
        ownsWebhookDispatcher = true;
      }
      webhookDelivery ??= createWebhookDelivery(
        {
          store: this.webhookStore(),
          dispatcher: webhookDispatcher,
          clock,
          ids,
          random,
          logger: deps.logger,
        },
        {
          retryScheduleMs: config.webhook.retryScheduleMs,
          timeoutMs: config.webhook.timeoutMs,
          userAgent: WEBHOOK_USER_AGENT,
        },
      );
      return webhookDelivery;
    },
    async close() {
      if (ownsDispatcher) await swasDispatcher?.close();
      if (ownsWebhookDispatcher) await webhookDispatcher?.close();
      await database?.close();
    },
  };
}
