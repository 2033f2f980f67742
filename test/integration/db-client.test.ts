import { type AddressInfo, connect, createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createDatabase } from '../../src/db/client.ts';
import { describeDatabaseUrl, toDatabaseError } from '../../src/db/errors.ts';
import { migrateDatabase } from '../../src/db/migrate.ts';
import { type AppError, isAppError } from '../../src/shared/app-error.ts';
import { openTestDatabase } from '../support/db-fixtures.ts';

const database = await openTestDatabase();
const PASSWORD = 'hunter2-s3cret';

/** A local port nothing listens on: bound by us, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function appErrorOf(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (isAppError(error)) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

/** Everything an AppError would show in a log line: message, details, the cause's message. */
const visible = (error: AppError) =>
  JSON.stringify({ message: error.message, details: error.details, cause: String(error.cause) });

describe('database client', () => {
  it('answers a ping and names its target without credentials', async () => {
    await expect(database.ping()).resolves.toBeUndefined();
    expect(database.target).toMatch(/^[^@/]+:\d+\/swas_test_[0-9a-f_]+$/);
    const { rows } = await database.pool.query<{ name: string }>('select current_setting($1) as name', [
      'application_name',
    ]);
    expect(rows[0]?.name).toBe('swas-inventory-test');
  });

  it('reports a closed port as db.unreachable naming host:port/database, never the password', async () => {
    const port = await closedPort();
    const unreachable = createDatabase(`postgres://app:${PASSWORD}@127.0.0.1:${port}/inventory`);
    try {
      const error = await appErrorOf(unreachable.ping());
      expect(error.code).toBe('db.unreachable');
      expect(error.retryable).toBe(true);
      expect(error.message).toContain(`127.0.0.1:${port}/inventory`);
      expect(error.message).toContain('connection refused');
      expect(visible(error)).not.toContain(PASSWORD);
    } finally {
      await unreachable.close();
    }
  });

  it('reports a closed port from migrate as db.unreachable without the password', async () => {
    const port = await closedPort();
    const error = await appErrorOf(
      migrateDatabase({ databaseUrl: `postgres://app:${PASSWORD}@127.0.0.1:${port}/x` }),
    );
    expect(error.code).toBe('db.unreachable');
    expect(visible(error)).not.toContain(PASSWORD);
  });

  it('reports a missing database as db.unreachable pointing at migrate, not retryable', async () => {
    const url = new URL(database.url);
    url.pathname = '/swas_test_does_not_exist';
    const missing = createDatabase(url.toString());
    try {
      const error = await appErrorOf(missing.ping());
      expect(error.code).toBe('db.unreachable');
      expect(error.retryable).toBe(false);
      expect(error.details.sqlstate).toBe('3D000');
      expect(error.message).toContain('/swas_test_does_not_exist');
      expect(error.message).toContain('swas-inventory migrate');
    } finally {
      await missing.close();
    }
  });

  it('maps query errors by SQLSTATE and passes AppErrors through', async () => {
    const error = await database.pool.query('select * from no_such_table').then(
      () => undefined,
      (caught: unknown) => toDatabaseError(caught, database.target),
    );
    expect(error?.code).toBe('db.query');
    expect(error?.details.sqlstate).toBe('42P01');
    expect(toDatabaseError(error, 'elsewhere')).toBe(error);
  });

  it('survives a backend terminated the moment its connection is handed out', async () => {
    // A proxy to the test server that sends the start-up's ReadyForQuery and a FATAL 57P01
    // (pg_terminate_backend, a fast shutdown) in one write, then drops the backend.
    const target = new URL(database.url);
    const fatal = Buffer.from(
      'SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0',
    );
    const head = Buffer.alloc(5);
    head.write('E', 0);
    head.writeInt32BE(fatal.length + 4, 1);
    const proxy = createServer((client) => {
      const server = connect(Number(target.port || 5432), target.hostname);
      client.pipe(server);
      let pending = Buffer.alloc(0);
      server.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (let offset = 0; pending.length - offset >= 5; ) {
          const type = String.fromCharCode(pending[offset] as number);
          const end = offset + 1 + pending.readInt32BE(offset + 1);
          if (end > pending.length) break;
          if (type === 'Z') {
            client.write(Buffer.concat([pending.subarray(0, end), head, fatal]));
            server.destroy();
            setTimeout(() => client.destroy(), 50);
            return;
          }
          offset = end;
        }
      });
      client.on('error', () => undefined);
      server.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const doomed = createDatabase(proxied.href, { max: 2 });
    try {
      // Without a listener from the hand-out on, the FATAL is an unhandled 'error': the test
      // process itself fails.
      const error = await appErrorOf(doomed.transaction(async (tx) => tx.client.query('select 1')));
      expect(error.code).toBe('db.unreachable');
      const again = await appErrorOf(doomed.ping());
      expect(again.code).toBe('db.unreachable');
    } finally {
      await doomed.close().catch(() => undefined);
      proxy.close();
    }
  });

  it('describes URLs without their password, including unparsable ones', () => {
    expect(describeDatabaseUrl(`postgres://u:${PASSWORD}@db.internal:6543/inv`)).toBe('db.internal:6543/inv');
    expect(describeDatabaseUrl('postgres://u@db.internal/inv')).toBe('db.internal:5432/inv');
    expect(describeDatabaseUrl('postgres:///inv?host=/run/postgresql')).toBe('/run/postgresql:5432/inv');
    expect(describeDatabaseUrl(`not a url ${PASSWORD}`)).not.toContain(PASSWORD);
  });
});
