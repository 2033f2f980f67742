import { randomInt } from 'node:crypto';
import type { Dispatcher } from 'undici';
import type { AccountConfig, Config } from './config/load-config.ts';
import { createDatabase, type Database } from './db/client.ts';
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
  close(): Promise<void>;
}

export interface AppDeps {
  logger: Logger;
  clock?: Clock;
  ids?: IdSource;
  /** The SWAS HTTP dispatcher; tests may pass their own. */
  swasDispatcher?: Dispatcher;
}

export function createApp(config: Config, deps: AppDeps): App {
  const clock = deps.clock ?? systemClock;
  const ids = deps.ids ?? randomIds;
  let swasDispatcher = deps.swasDispatcher;
  let ownsDispatcher = false;
  let database: Database | undefined;
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
    async close() {
      if (ownsDispatcher) await swasDispatcher?.close();
      await database?.close();
    },
  };
}
