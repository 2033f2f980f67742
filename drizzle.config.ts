import { defineConfig } from 'drizzle-kit';

// Tooling only: `drizzle-kit generate` (npm run db:generate) diffs src/db/schema against the
// snapshots in migrations/meta and needs no database; the URL serves `studio`/`check`-style
// commands. The application migrates through src/db/migrate.ts (`swas-inventory migrate`).
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/db/schema/index.ts',
  out: './migrations',
  dbCredentials: { url: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/swas_inventory' },
  strict: true,
  verbose: true,
});
