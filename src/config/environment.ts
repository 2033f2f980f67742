import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import type { Environment } from './load-config.ts';

/**
 * The one place that reads `process.env`. Precedence, lowest first: built-in defaults (applied by
 * loadConfig) < a `.env` file in the working directory < the process environment < command flags.
 */
export function readEnvironment(
  flagOverrides: Environment = {},
  options: { cwd?: string; processEnv?: Environment } = {},
): Environment {
  const envFile = resolve(options.cwd ?? process.cwd(), '.env');
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8')) : {};
  const defined = Object.fromEntries(
    Object.entries(flagOverrides).filter(([, value]) => value !== undefined),
  );
  return { ...fromFile, ...(options.processEnv ?? process.env), ...defined };
}

/** Reads a configuration file named by a variable (the accounts file). */
export const readConfigFile = (path: string): string => readFileSync(path, 'utf8');
