import type { NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { AppError } from '../shared/app-error.ts';
import { drizzle } from './drizzle.ts';
import { describeDatabaseUrl, toDatabaseError } from './errors.ts';
import * as schema from './schema/index.ts';

/** The drizzle database of the project (node-postgres over a pool). */
export type Db = NodePgDatabase<typeof schema>;
/** A transaction of {@link Db}: what `db.transaction` hands to its callback. */
export type Tx = Parameters<Parameters<Db['transaction']>[0]>[0];
/** Stores accept either: a call on `db` runs alone, a call on `tx` joins that transaction. */
export type DbOrTx = Db | Tx;

/**
 * A transaction opened by {@link Database.transaction}: drizzle over the transaction's connection,
 * and that connection itself for what drizzle cannot express (array row mode). The one seam
 * between the project and node-postgres; nothing reaches into drizzle's internals.
 */
export interface Transaction {
  db: Db;
  client: Pick<pg.ClientBase, 'query'>;
}

/** The part of a pino logger the db layer uses (objects first, message second). */
export interface DbLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface DatabaseOptions {
  /** Connections in the pool; default 10 (region syncs in flight + deliveries + slack). */
  max?: number;
  /** `application_name` shown in `pg_stat_activity`; default `swas-inventory`. */
  applicationName?: string;
  /** Time to wait for a connection (new or from the pool) before failing, ms; default 10 000. */
  connectionTimeoutMs?: number;
  /** Idle time after which a pooled connection is closed, ms; default 30 000. */
  idleTimeoutMs?: number;
  /** Receives errors of idle pooled connections (e.g. a server restart); they never crash the process. */
  logger?: DbLogger;
}

export interface Database {
  db: Db;
  pool: pg.Pool;
  /** `host:port/database`, safe for logs and messages. */
  target: string;
  /** Runs `select 1`; throws AppError `db.unreachable` (or another `db.*` code) when it fails. */
  ping(): Promise<void>;
  /**
   * Runs `work` in one transaction on a connection of its own: BEGIN, `work`, COMMIT; ROLLBACK and
   * rethrow when `work` fails. A connection lost mid-transaction (server restart, terminated
   * backend) fails `work`'s queries and this call with a coded AppError (`db.unreachable`); it is
   * never an unhandled `'error'` event, and the connection is discarded, not pooled again.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Ends the pool; idempotent. */
  close(): Promise<void>;
}

/**
 * A pool and drizzle over it. Connects lazily: the first query (or {@link Database.ping}) opens a
 * connection. Connection failures surface as raw driver errors from drizzle calls; wrap them with
 * `toDatabaseError(error, database.target)` where a coded error is needed.
 */
export function createDatabase(databaseUrl: string, options: DatabaseOptions = {}): Database {
  const target = describeDatabaseUrl(databaseUrl);
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'swas-inventory',
    connectionTimeoutMillis: options.connectionTimeoutMs ?? 10_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    keepAlive: true,
  });
  // An idle client's error is emitted on the pool; unhandled, it would crash the process.
  pool.on('error', (error) => {
    options.logger?.warn(
      { err: toDatabaseError(error, target), target },
      'idle PostgreSQL connection failed',
    );
  });
  // From the moment the pool hands a connection out it no longer listens for the connection's
  // errors, and the borrower cannot listen before its `await` resumes: a backend terminated in
  // that gap (its last start-up message and the FATAL in one read) or between a drizzle
  // transaction's statements would be an unhandled 'error' and end the process. Each connection
  // gets one listener for good; the failure still reaches the borrower through its next query,
  // and the pool drops the connection when it comes back.
  const guarded = new WeakSet<pg.PoolClient>();
  pool.on('acquire', (client) => {
    if (guarded.has(client)) return;
    guarded.add(client);
    client.on('error', () => undefined);
  });
  const db = drizzle({ client: pool, schema });
  /**
   * A pooled connection with BEGIN sent, listening for its `error` event: the pool listens only
   * while a client is idle, so a checked-out client whose backend dies between statements would
   * otherwise emit an unhandled 'error' and crash the process. A pooled connection whose backend
   * ended while it sat idle fails its first statement; nothing has run yet, so another
   * connection is tried (three in all) before giving up.
   */
  const begin = async (
    attempt = 1,
  ): Promise<{ client: pg.PoolClient; state: { lost?: Error }; onError: (error: Error) => void }> => {
    let client: pg.PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw toDatabaseError(error, target);
    }
    const state: { lost?: Error } = {};
    const onError = (error: Error) => {
      state.lost ??= error;
    };
    client.on('error', onError);
    try {
      await client.query('begin');
      return { client, state, onError };
    } catch (error) {
      client.on('error', () => undefined);
      client.off('error', onError);
      client.release(asError(error));
      const coded = toDatabaseError(error, target);
      if (attempt < 3 && coded.code === 'db.unreachable') return begin(attempt + 1);
      throw coded;
    }
  };
  let closed: Promise<void> | undefined;
  return {
    db,
    pool,
    target,
    async ping() {
      try {
        await pool.query('select 1');
      } catch (error) {
        throw toDatabaseError(error, target);
      }
    },
    async transaction(work) {
      const { client, state, onError } = await begin();
      let broken: Error | undefined;
      try {
        const result = await work({ db: drizzle({ client }), client });
        await client.query('commit');
        return result;
      } catch (error) {
        broken = state.lost;
        if (state.lost === undefined)
          await client.query('rollback').catch((rollbackError: unknown) => {
            broken = asError(rollbackError);
          });
        throw state.lost !== undefined && !(error instanceof AppError)
          ? toDatabaseError(state.lost, target)
          : error;
      } finally {
        if (broken !== undefined || state.lost !== undefined) {
          // Destroyed, not pooled again; a late error from its socket must not go unheard either.
          client.on('error', () => undefined);
          client.release(broken ?? state.lost);
        } else {
          client.release();
        }
        client.off('error', onError);
      }
    },
    close() {
      closed ??= pool.end();
      return closed;
    },
  };
}

const asError = (value: unknown): Error => (value instanceof Error ? value : new Error(String(value)));
