import { Redis } from 'ioredis';
import pg from 'pg';

/** Short, so that looking at a default address where nothing listens costs little. */
const PROBE_TIMEOUT_MS = 3_000;

/** Resolves when PostgreSQL at `url` accepts a connection and a query. */
export async function probePostgres(url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: PROBE_TIMEOUT_MS });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Resolves when Redis at `url` answers PING. */
export async function probeRedis(url: string): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: PROBE_TIMEOUT_MS,
    commandTimeout: PROBE_TIMEOUT_MS,
    maxRetriesPerRequest: 0,
    // One attempt: without this ioredis reconnects forever and logs each failure.
    retryStrategy: () => null,
  });
  // connect() rejects with "Connection is closed."; the 'error' event says why.
  let cause: unknown;
  redis.on('error', (error) => {
    cause ??= error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    throw cause ?? error;
  } finally {
    redis.disconnect();
  }
}
