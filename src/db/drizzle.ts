/**
 * drizzle-orm as the project uses it: its CommonJS build, loaded with require(). Every runtime
 * drizzle import of the code goes through here (types come from 'drizzle-orm' itself), so a
 * process holds one copy of the library. Node's ESM loader reads drizzle-orm's package.json
 * (180 kB of export map) again for each of its ~150 modules: seconds at start-up. Its CommonJS
 * build is the same code through the CommonJS loader, which caches that lookup; requiring it
 * here rather than redirecting `import` with a resolve hook also spares every other module the
 * hook's cost (a hook makes each require of undici, pg, ioredis… slower: ~60 ms at start-up).
 */
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

export const {
  and,
  asc,
  desc,
  eq,
  getTableName,
  getViewSelectedFields,
  gt,
  gte,
  inArray,
  isNull,
  lt,
  ne,
  or,
  sql,
} = require('drizzle-orm') as typeof import('drizzle-orm');

export const {
  bigint,
  boolean,
  check,
  doublePrecision,
  foreignKey,
  index,
  integer,
  interval,
  jsonb,
  pgSchema,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} = require('drizzle-orm/pg-core') as typeof import('drizzle-orm/pg-core');

export const { drizzle } = require('drizzle-orm/node-postgres') as typeof import('drizzle-orm/node-postgres');

export const { DrizzleQueryError } = require('drizzle-orm/errors') as typeof import('drizzle-orm/errors');

/** drizzle's migrator, loaded on use: only `migrate` applies migrations. */
export const migrate: typeof import('drizzle-orm/node-postgres/migrator').migrate = (db, config) =>
  (
    require('drizzle-orm/node-postgres/migrator') as typeof import('drizzle-orm/node-postgres/migrator')
  ).migrate(db, config);
