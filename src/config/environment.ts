import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import type { Environment } from './load-config.ts';

/**
 * The one place that reads `process.env`. Precedence, lowest first: built-in defaults (applied by
 * loadConfig) < a `.env` file in the working directory < the process environment < command flags.
 * A variable set empty in the environment (`${VAR:-}` in a compose file or CI) counts as unset,
 * as loadConfig reads an empty value anyway, so it does not hide the `.env` file's value. A
 * byte-order mark an editor put before the file's first line is not part of its first name.
 */
export function readEnvironment(
  flagOverrides: Environment = {},
  options: { cwd?: string; processEnv?: Environment } = {},
): Environment {
  const envFile = resolve(options.cwd ?? process.cwd(), '.env');
  const fromFile = existsSync(envFile) ? parseEnv(readFileSync(envFile, 'utf8').replace(/^\uFEFF/, '')) : {};
  const defined = Object.fromEntries(
    Object.entries(flagOverrides).filter(([, value]) => value !== undefined),
  );
  const fromProcess = Object.fromEntries(
    Object.entries(options.processEnv ?? process.env).filter(
      ([, value]) => value !== undefined && value !== '',
    ),
  );
  return { ...fromFile, ...fromProcess, ...defined };
}

/** Reads a configuration file named by a variable (the accounts file). */
export const readConfigFile = (path: string): string => readFileSync(path, 'utf8');
