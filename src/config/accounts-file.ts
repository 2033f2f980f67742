import { createRequire } from 'node:module';
import { z } from 'zod';

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
const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

export const accountEntrySchema = z.strictObject({
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be lower-case letters, digits, "-" or "_" (max 63)'),
  credentials: z.union([
    z.strictObject({
      accessKeyIdEnv: envName,
      accessKeySecretEnv: envName,
      securityTokenEnv: envName.optional(),
    }),
    z.strictObject({ profile: z.string().min(1) }),
    z.strictObject({ ramRoleArn: z.string().min(1), sessionName: z.string().optional() }),
  ]),
  // The same form SWAS_REGIONS takes, checked at start-up rather than failing every sync later.
  regions: z
    .array(z.string().regex(/^[a-z]{2}-[a-z0-9-]+$/, 'expected a region id such as cn-hangzhou'))
    .nonempty()
    .optional(),
  rateLimit: z.string().optional(),
});

export type AccountEntry = z.infer<typeof accountEntrySchema>;

export const accountsFileSchema = z
  .array(accountEntrySchema)
  .nonempty('must list at least one account')
  .refine((list) => new Set(list.map((a) => a.name)).size === list.length, 'account names must be unique');

/** Parses the file's text as JSON (when it looks like JSON) or YAML. */
export function parseAccountsText(text: string, path: string): unknown {
  const trimmed = text.trimStart();
  return trimmed.startsWith('[') || trimmed.startsWith('{') || path.endsWith('.json')
    ? JSON.parse(text)
    : parseYaml(text);
}
