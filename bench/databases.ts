import pg from 'pg';

/** `url` with its database replaced by `database` (the benchmarks' own, created and dropped). */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Drops `database` on the server of `serverUrl`, closing its sessions. */
export async function dropDatabase(serverUrl: string, database: string): Promise<void> {
  const admin = new pg.Client({ connectionString: withDatabase(serverUrl, 'postgres') });
  try {
    await admin.connect();
    await admin.query(`drop database if exists "${database}" with (force)`);
  } finally {
    await admin.end().catch(() => undefined);
  }
}
