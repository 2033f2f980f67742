import { bigint, pgTable, primaryKey, text } from '../drizzle.ts';

/**
 * `sync_scopes`: one row per scope (account, region) whose image rows a sync has written, with
 * `generation`, the number of commits that wrote them. A sync reads its region's keys once,
 * before it lists, with the generation; at commit, under the scope's lock, an unchanged generation
 * proves no other commit wrote the scope since, so the keys read before listing are still exact
 * and the region is not read again. A commit that writes no image row (a no-op) leaves it as is.
 */
export const syncScopes = pgTable(
  'sync_scopes',
  {
    account: text('account').notNull(),
    regionId: text('region_id').notNull(),
    generation: bigint('generation', { mode: 'number' }).notNull(),
  },
  (table) => [primaryKey({ name: 'sync_scopes_pkey', columns: [table.account, table.regionId] })],
);
