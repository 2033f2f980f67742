import { CONFIG_DEFAULTS } from '../../src/config/load-config.ts';
import { databaseUrlWithName } from './database-url.ts';

/** A service the integration and e2e tiers need, and where they look for it. */
export interface ServiceSpec {
  name: 'PostgreSQL' | 'Redis';
  /** Read first: for the tests only. */
  testVariable: string;
  /** Read second: the application's own variable. */
  appVariable: string;
  /** Where the application looks when its variable is unset; used when something answers there. */
  defaultUrl: string;
  /** The URL the tests use for a found one (throws on a malformed URL). */
  serverUrl(url: string): string;
}

export const POSTGRES: ServiceSpec = {
  name: 'PostgreSQL',
  testVariable: 'TEST_DATABASE_URL',
  appVariable: 'DATABASE_URL',
  defaultUrl: databaseUrlWithName(CONFIG_DEFAULTS.DATABASE_URL, 'postgres'),
  // The application's URL names its database, which may not exist yet; the tests create their own
  // databases on the same server, so they connect to its maintenance database.
  serverUrl: (url) => databaseUrlWithName(url, 'postgres'),
};

export const REDIS: ServiceSpec = {
  name: 'Redis',
  testVariable: 'TEST_REDIS_URL',
  appVariable: 'REDIS_URL',
  defaultUrl: CONFIG_DEFAULTS.REDIS_URL,
  serverUrl: (url) => new URL(url).toString(),
};

/** Resolves when a service answers at `url`; rejects with the reason otherwise. */
export type Probe = (url: string) => Promise<void>;

export type Discovery =
  /** Use `url`: named by `source` (a variable, or `default`) and answering. */
  | { kind: 'found'; url: string; source: string }
  /** A variable names a service that does not answer: an error, not a reason to look elsewhere. */
  | { kind: 'unreachable'; variable: string; target: string; reason: string }
  /** Nothing set and nothing at the default: start a container. */
  | { kind: 'absent'; defaultFailure: string };

/**
 * Where the tests find `spec`'s service, in this order: its `TEST_…` variable, the application's
 * variable, the application's default address when `probe` finds something answering there.
 * `absent` leaves testcontainers as the last way.
 */
export async function discoverService(
  spec: ServiceSpec,
  env: Readonly<Record<string, string | undefined>>,
  probe: Probe,
): Promise<Discovery> {
  for (const variable of [spec.testVariable, spec.appVariable]) {
    const given = env[variable];
    // An empty variable is an unset one (`TEST_DATABASE_URL= npm test`).
    if (!given) continue;
    let url: string;
    try {
      url = spec.serverUrl(given);
    } catch {
      // The parser's message would echo the URL, password included.
      return { kind: 'unreachable', variable, target: 'a malformed URL', reason: 'not a URL' };
    }
    const failure = await failureOf(probe, url);
    if (failure === undefined) return { kind: 'found', url, source: variable };
    return { kind: 'unreachable', variable, target: describeServiceUrl(url), reason: failure };
  }
  const failure = await failureOf(probe, spec.defaultUrl);
  if (failure === undefined) return { kind: 'found', url: spec.defaultUrl, source: 'default' };
  return { kind: 'absent', defaultFailure: failure };
}

/** The message for a variable that names a service which does not answer. */
export function unreachableMessage(spec: ServiceSpec, found: Discovery & { kind: 'unreachable' }): string {
  return `No ${spec.name} for the tests: ${found.variable} names ${found.target}, which does not answer (${found.reason}). Fix or unset it (README, "Testing").`;
}

/**
 * The one message when no way worked for the services in `missing`: it names all four ways, in
 * the order they are tried, with why the last two failed.
 */
export function noServiceMessage(
  missing: ReadonlyArray<{ spec: ServiceSpec; defaultFailure: string }>,
  dockerFailure: string,
): string {
  const names = missing.map(({ spec }) => spec.name).join(' and ');
  const list = (pick: (spec: ServiceSpec) => string) => missing.map(({ spec }) => pick(spec)).join(' and ');
  const defaults = missing
    .map(({ spec, defaultFailure }) => `${describeServiceUrl(spec.defaultUrl)} (${defaultFailure})`)
    .join(', ');
  return [
    `No ${names} for the tests. They look for each, in this order:`,
    `  1. ${list((spec) => spec.testVariable)}: not set`,
    `  2. ${list((spec) => spec.appVariable)} (the application's variables): not set`,
    `  3. the application's defaults: nothing answers at ${defaults}`,
    `  4. Docker, for throwaway containers through testcontainers: ${dockerFailure}`,
    `Start ${names} at ${missing.length > 1 ? 'those addresses' : 'that address'}, set the variables, or make Docker available.`,
  ].join('\n');
}

/** `scheme://host:port` of a service URL, never its credentials. */
export function describeServiceUrl(url: string): string {
  const parsed = new URL(url);
  // pg also takes the host and port as query parameters (a Unix socket directory, say).
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  const port =
    parsed.port || parsed.searchParams.get('port') || (parsed.protocol === 'redis:' ? '6379' : '5432');
  return `${parsed.protocol}//${host}:${port}`;
}

/** Why `error` happened, in a few words (a refused dual-stack connect has no message, only a code). */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return error.message || (typeof code === 'string' ? code : error.name);
  }
  return String(error);
}

async function failureOf(probe: Probe, url: string): Promise<string | undefined> {
  try {
    await probe(url);
    return undefined;
  } catch (error) {
    return reasonOf(error);
  }
}
