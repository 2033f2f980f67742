import { createRequire } from 'node:module';
import * as v from 'valibot';
import { nonEmptyText } from '../shared/schema-fields.ts';

// Loaded on use: most deployments have no YAML accounts file, and every command pays for a module
// it loads at start-up.
const load = createRequire(import.meta.url);
const parseYaml = (text: string): unknown => (load('yaml') as typeof import('yaml')).parse(text);

/**
 * `SWAS_ACCOUNTS_FILE`: a JSON or YAML list of accounts. Credentials are never written in the file:
 * an entry names the environment variables that hold them (so the file can be committed and the
 * secrets come from the orchestrator's secret store).
 *
 * ```yaml
 * - name: prod
 *   credentials: { accessKeyIdEnv: PROD_AK_ID, accessKeySecretEnv: PROD_AK_SECRET }
 *   regions: [cn-hangzhou, cn-shanghai]
 *   rateLimit: 10/1m
 * ```
 */
const envName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name'),
);

export const accountEntrySchema = v.strictObject({
  name: v.pipe(
    v.string(),
    v.regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, "-" or "_" (max 63)'),
  ),
  credentials: v.union(
    [
      v.strictObject({
        accessKeyIdEnv: envName,
        accessKeySecretEnv: envName,
        securityTokenEnv: v.optional(envName),
      }),
      v.strictObject({ profile: nonEmptyText }),
      v.strictObject({ ramRoleArn: nonEmptyText, sessionName: v.optional(v.string()) }),
    ],
    'must name accessKeyIdEnv and accessKeySecretEnv (optionally securityTokenEnv), or a profile, or a ramRoleArn',
  ),
  // The same form SWAS_REGIONS takes, checked at start-up rather than failing every sync later.
  regions: v.optional(
    v.pipe(
      v.array(
        v.pipe(v.string(), v.regex(/^[a-z]{2}-[a-z0-9-]+$/, 'expected a region id such as cn-hangzhou')),
      ),
      v.nonEmpty('must list at least one region'),
    ),
  ),
  rateLimit: v.optional(v.string()),
});

export type AccountEntry = v.InferOutput<typeof accountEntrySchema>;

export const accountsFileSchema = v.pipe(
  v.array(accountEntrySchema, 'must be a list of accounts'),
  v.nonEmpty('must list at least one account'),
  v.check((list) => new Set(list.map((a) => a.name)).size === list.length, 'account names must be unique'),
);

/** Parses a `.json` file as JSON and any other as YAML (which reads JSON text too, and flow style). */
export function parseAccountsText(text: string, path: string): unknown {
  return path.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
}

/**
 * Where a parser stopped, without the text around it: the file holds credentials (or their
 * variables' names, or commented-out secrets), and parsers quote the lines they stopped at.
 */
export function describeParseError(error: unknown, text: string): string {
  const at = (error as { linePos?: [{ line: number; col: number }] } | null)?.linePos?.[0];
  if (at !== undefined) return `invalid YAML at line ${at.line}, column ${at.col}`;
  const position = /position (\d+)/.exec(error instanceof Error ? error.message : '')?.[1];
  if (position === undefined) return 'invalid JSON';
  const before = text.slice(0, Number(position)).split('\n');
  return `invalid JSON at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
