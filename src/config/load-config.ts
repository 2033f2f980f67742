import * as v from 'valibot';
import { AppError } from '../shared/app-error.ts';
import { parseDuration, parseRate, type Rate } from '../shared/duration.ts';
import { type EventType, isEventType } from '../shared/event-types.ts';
import { maskUrl } from '../shared/mask-url.ts';
import { Secret } from '../shared/secret.ts';
import { isStandardWebhookSecret } from '../shared/webhook-secret.ts';
import {
  type AccountEntry,
  accountsFileSchema,
  describeParseError,
  parseAccountsText,
} from './accounts-file.ts';
import { isRegionId } from './region-id.ts';
import { isTimeZone, parseSchedule, type Schedule } from './schedule.ts';

/** Every configuration variable with its default (`undefined`: no default). */
export const CONFIG_DEFAULTS = {
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/swas_inventory',
  REDIS_URL: 'redis://127.0.0.1:6379',
  ALIBABA_CLOUD_ACCESS_KEY_ID: undefined,
  ALIBABA_CLOUD_ACCESS_KEY_SECRET: undefined,
  ALIBABA_CLOUD_SECURITY_TOKEN: undefined,
  SWAS_ACCOUNTS_FILE: undefined,
  SWAS_REGIONS: 'all',
  SWAS_ENDPOINT: 'https://swas.{region}.aliyuncs.com',
  SWAS_RATE_LIMIT: '10/1m',
  SYNC_SCHEDULE: '15m',
  SYNC_TZ: 'UTC',
  SYNC_WATCH_INTERVAL: '1m',
  SYNC_CONCURRENCY: '4',
  SYNC_DELETE_BRAKE: '50%',
  SYNC_RUN_HEARTBEAT: '15s',
  SYNC_LOCK_TIMEOUT: '2m',
  WEBHOOK_URL: undefined,
  WEBHOOK_SECRET: undefined,
  WEBHOOK_EVENTS: undefined,
  WEBHOOK_RETRY_SCHEDULE: '5s,5m,30m,2h,5h,10h,10h',
  WEBHOOK_TIMEOUT: '10s',
  HTTP_PORT: '9464',
  LOG_LEVEL: 'info',
} as const satisfies Record<string, string | undefined>;

export type ConfigVariable = keyof typeof CONFIG_DEFAULTS;
export type Environment = Readonly<Record<string, string | undefined>>;

export interface SwasCredentialsConfig {
  accessKeyId: string;
  accessKeySecret: Secret;
  securityToken?: Secret;
}

export interface AccountConfig {
  /** The configured account name, the `account` column everywhere. */
  name: string;
  /** Resolved credentials, or null when the variables they come from are unset. */
  credentials: SwasCredentialsConfig | null;
  /** The variables (or other source) credentials come from, for error messages. */
  credentialSources: string[];
  /** Regions of this account, or null to use `SWAS_REGIONS`. */
  regions: 'all' | string[] | null;
  rateLimit: Rate;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface Config {
  databaseUrl: string;
  redisUrl: string;
  accounts: readonly AccountConfig[];
  regions: 'all' | readonly string[];
  swas: { endpoint: string; rateLimit: Rate };
  sync: {
    schedule: Schedule;
    tz: string;
    /** ms between watch polls, or null when `off`. */
    watchIntervalMs: number | null;
    concurrency: number;
    /** Share in (0, 1]; 1 disables the brake. */
    deleteBrake: number;
    /** ms between heartbeats of a running sync; a run silent for 4 of them is abandoned. */
    heartbeatMs: number;
    /** ms a sync waits for another process's commit of the same region before failing. */
    lockTimeoutMs: number;
  };
  webhook: {
    bootstrap: { url: string; secret: Secret | null; events: EventType[] | null } | null;
    retryScheduleMs: readonly number[];
    timeoutMs: number;
  };
  http: { port: number };
  log: { level: LogLevel };
}

export interface LoadConfigDeps {
  /** Reads `SWAS_ACCOUNTS_FILE`; injected so configuration stays free of I/O in tests. */
  readFile: (path: string) => string;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A field whose text `parse` turns into a value, or into an error message naming what was wrong. */
const parsed = <T>(parse: (text: string) => T | { error: string }) =>
  v.pipe(
    v.string(),
    v.rawTransform(({ dataset, addIssue, NEVER }): T => {
      const result = parse(dataset.value.trim());
      if (result !== null && typeof result === 'object' && 'error' in result) {
        addIssue({ message: result.error });
        return NEVER;
      }
      return result as T;
    }),
  );

const urlField = (protocols: readonly string[], what: string) =>
  parsed((text) =>
    isUrlWithProtocol(text, protocols) ? text : { error: `must be ${what}, got "${maskUrl(text)}"` },
  );

const integerField = (min: number, max: number) =>
  parsed((text) =>
    /^\d+$/.test(text) && Number(text) >= min && Number(text) <= max
      ? Number(text)
      : { error: `must be a whole number from ${min} to ${max}, got "${text}"` },
  );

/**
 * The schema over the configuration variables. Each variable is a string field (defaults from
 * CONFIG_DEFAULTS) transformed into its typed value; every issue is collected, keyed by the
 * variable's name.
 */
const environmentSchema = v.object({
  DATABASE_URL: parsed((text) =>
    isDatabaseUrl(text)
      ? text
      : { error: `must be a postgres:// URL (a socket directory as ?host=), got "${maskUrl(text)}"` },
  ),
  REDIS_URL: parsed((text) =>
    isRedisUrl(text)
      ? text
      : {
          error: `must be a redis:// or rediss:// URL, with a database number as its path if any, got "${maskUrl(text)}"`,
        },
  ),
  SWAS_REGIONS: parsed((text) => parseRegionList(text)),
  // Requests go to the endpoint's root (the signature covers that path): a path here would be dropped.
  SWAS_ENDPOINT: parsed((text) =>
    isEndpointUrl(text.replaceAll('{region}', 'cn-hangzhou'))
      ? text
      : {
          error: `must be an http(s) URL of a host, optionally with {region}, without a path or query, got "${text}"`,
        },
  ),
  SWAS_RATE_LIMIT: parsed(
    (text) => parseRate(text) ?? { error: `must be N/duration such as 10/1m, got "${text}"` },
  ),
  // Parsed in loadConfig: a cron schedule is validated in SYNC_TZ, another variable.
  SYNC_SCHEDULE: v.string(),
  SYNC_TZ: parsed((text) =>
    isTimeZone(text)
      ? text
      : { error: `must be an IANA time zone such as UTC or Asia/Shanghai, got "${text}"` },
  ),
  SYNC_WATCH_INTERVAL: parsed((text) => {
    if (text === 'off') return null;
    const ms = parseDuration(text);
    return ms !== undefined && ms >= 1_000
      ? ms
      : { error: `must be a duration of at least 1s (e.g. 1m) or "off", got "${text}"` };
  }),
  SYNC_CONCURRENCY: integerField(1, 64),
  SYNC_RUN_HEARTBEAT: parsed((text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms >= 100 && ms <= 3_600_000
      ? ms
      : { error: `must be a duration from 100ms to 1h (e.g. 15s), got "${text}"` };
  }),
  SYNC_LOCK_TIMEOUT: parsed((text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms >= 100 && ms <= 3_600_000
      ? ms
      : { error: `must be a duration from 100ms to 1h (e.g. 2m), got "${text}"` };
  }),
  SYNC_DELETE_BRAKE: parsed(
    (text) =>
      parseShare(text) ?? { error: `must be a percentage from 1% to 100% (100% disables it), got "${text}"` },
  ),
  WEBHOOK_URL: v.optional(urlField(['http:', 'https:'], 'an http:// or https:// URL')),
  // Never echo the value: it is a secret.
  WEBHOOK_SECRET: v.optional(
    parsed((text) =>
      isStandardWebhookSecret(text)
        ? new Secret(text)
        : {
            error: 'must be a Standard Webhooks secret: "whsec_" followed by the base64 of at least 16 bytes',
          },
    ),
  ),
  WEBHOOK_EVENTS: v.optional(
    parsed((text) => {
      // A trailing comma is no event type, as a trailing comma in SWAS_REGIONS is no region.
      const names = text
        .split(',')
        .map((name) => name.trim())
        .filter((name) => name !== '');
      // An empty list would subscribe to nothing, silently.
      if (names.length === 0) return { error: `must name at least one event type, got "${text}"` };
      const unknown = names.filter((name) => !isEventType(name));
      return unknown.length === 0
        ? (names as EventType[])
        : { error: `unknown event type(s): ${unknown.join(', ')}` };
    }),
  ),
  WEBHOOK_RETRY_SCHEDULE: parsed((text) => {
    const delays = text.split(',').map((part) => parseDuration(part.trim()));
    return delays.every((ms) => ms !== undefined)
      ? (delays as number[])
      : { error: `must be a comma list of durations such as 5s,5m,30m, got "${text}"` };
  }),
  // Bounded: a timer beyond 2^31 ms fires at once, and an attempt holds its delivery that long.
  WEBHOOK_TIMEOUT: parsed((text) => {
    const ms = parseDuration(text);
    return ms !== undefined && ms >= 100 && ms <= 3_600_000
      ? ms
      : { error: `must be a duration from 100ms to 1h (e.g. 10s), got "${text}"` };
  }),
  HTTP_PORT: integerField(0, 65_535),
  LOG_LEVEL: parsed((text) => {
    const level = text.toLowerCase();
    return (LOG_LEVELS as readonly string[]).includes(level)
      ? (level as LogLevel)
      : { error: `must be one of ${LOG_LEVELS.join(', ')}, got "${text}"` };
  }),
});

/**
 * Builds the frozen configuration from an environment (the caller merges `.env` < process env <
 * flags; CONFIG_DEFAULTS fill the rest). Every invalid setting is collected, then one AppError
 * `config.invalid` names all of them; nothing is validated lazily later.
 */
export function loadConfig(env: Environment, deps: LoadConfigDeps): Config {
  const input: Record<string, string> = {};
  for (const [name, fallback] of Object.entries(CONFIG_DEFAULTS)) {
    const given = env[name]?.trim();
    const value = given === undefined || given === '' ? fallback : given;
    if (value !== undefined) input[name] = value;
  }
  const problems: { variable: string; message: string }[] = [];
  const problem = (variable: string, message: string) => {
    problems.push({ variable, message });
  };
  const result = v.safeParse(environmentSchema, input);
  if (!result.success) {
    for (const issue of result.issues) problem(String(issue.path?.[0]?.key ?? 'environment'), issue.message);
  }
  // Cross-variable checks run even when single fields failed, so one message names everything.
  const tz = isTimeZone(input.SYNC_TZ ?? '') ? (input.SYNC_TZ ?? 'UTC') : 'UTC';
  const schedule = parseSchedule(input.SYNC_SCHEDULE ?? '', tz);
  if ('error' in schedule) problem('SYNC_SCHEDULE', schedule.error);
  if (
    input.WEBHOOK_URL === undefined &&
    (input.WEBHOOK_SECRET !== undefined || input.WEBHOOK_EVENTS !== undefined)
  ) {
    problem('WEBHOOK_URL', 'is required when WEBHOOK_SECRET or WEBHOOK_EVENTS is set');
  }
  // The bootstrap endpoint is a standard one: it signs, so it cannot start without its secret.
  if (input.WEBHOOK_URL !== undefined && input.WEBHOOK_SECRET === undefined) {
    problem('WEBHOOK_SECRET', 'is required when WEBHOOK_URL is set (a whsec_ secret to sign with)');
  }
  const rateLimit = result.success ? result.output.SWAS_RATE_LIMIT : parseRate(input.SWAS_RATE_LIMIT ?? '');
  const accounts = loadAccounts(env, deps, rateLimit, problem);

  if (!result.success || problems.length > 0 || 'error' in schedule) {
    const lines = problems.map((p) => `  ${p.variable}: ${p.message}`);
    throw new AppError(
      'config.invalid',
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
      { details: { variables: [...new Set(problems.map((p) => p.variable))] } },
    );
  }
  const data = result.output;
  return deepFreeze({
    databaseUrl: data.DATABASE_URL,
    redisUrl: data.REDIS_URL,
    accounts,
    regions: data.SWAS_REGIONS,
    swas: { endpoint: data.SWAS_ENDPOINT, rateLimit: data.SWAS_RATE_LIMIT },
    sync: {
      schedule,
      tz: data.SYNC_TZ,
      watchIntervalMs: data.SYNC_WATCH_INTERVAL,
      concurrency: data.SYNC_CONCURRENCY,
      deleteBrake: data.SYNC_DELETE_BRAKE,
      heartbeatMs: data.SYNC_RUN_HEARTBEAT,
      lockTimeoutMs: data.SYNC_LOCK_TIMEOUT,
    },
    webhook: {
      bootstrap:
        data.WEBHOOK_URL === undefined
          ? null
          : {
              url: data.WEBHOOK_URL,
              secret: data.WEBHOOK_SECRET ?? null,
              events: data.WEBHOOK_EVENTS ?? null,
            },
      retryScheduleMs: data.WEBHOOK_RETRY_SCHEDULE,
      timeoutMs: data.WEBHOOK_TIMEOUT,
    },
    http: { port: data.HTTP_PORT },
    log: { level: data.LOG_LEVEL },
  });
}

function loadAccounts(
  env: Environment,
  deps: LoadConfigDeps,
  defaultRate: Rate | undefined,
  problem: (variable: string, message: string) => void,
): AccountConfig[] {
  const fallbackRate = defaultRate ?? { limit: 10, intervalMs: 60_000 };
  const file = env.SWAS_ACCOUNTS_FILE?.trim();
  if (!file) {
    return [
      {
        name: 'default',
        credentials: credentialsFrom(
          env,
          'ALIBABA_CLOUD_ACCESS_KEY_ID',
          'ALIBABA_CLOUD_ACCESS_KEY_SECRET',
          'ALIBABA_CLOUD_SECURITY_TOKEN',
        ),
        credentialSources: ['ALIBABA_CLOUD_ACCESS_KEY_ID', 'ALIBABA_CLOUD_ACCESS_KEY_SECRET'],
        regions: null,
        rateLimit: fallbackRate,
      },
    ];
  }

  let text: string;
  try {
    text = deps.readFile(file);
  } catch (error) {
    problem(
      'SWAS_ACCOUNTS_FILE',
      `cannot read "${file}": ${error instanceof Error ? error.message : String(error)}`,
    );
    return [];
  }
  let parsed: unknown;
  try {
    parsed = parseAccountsText(text, file);
  } catch (error) {
    problem('SWAS_ACCOUNTS_FILE', `cannot parse "${file}": ${describeParseError(error, text)}`);
    return [];
  }
  const result = v.safeParse(accountsFileSchema, parsed);
  if (!result.success) {
    for (const issue of result.issues) {
      // A strict object reports a key it does not know as one it expected "never".
      const message = issue.expected === 'never' ? 'unknown field' : issue.message;
      problem('SWAS_ACCOUNTS_FILE', `${file}: ${formatPath(issue.path ?? [])}${message}`);
    }
    return [];
  }
  return result.output.map((entry, index) =>
    accountFromEntry(env, entry, index, fallbackRate, file, problem),
  );
}

function accountFromEntry(
  env: Environment,
  entry: AccountEntry,
  index: number,
  fallbackRate: Rate,
  file: string,
  problem: (variable: string, message: string) => void,
): AccountConfig {
  let rateLimit = fallbackRate;
  if (entry.rateLimit !== undefined) {
    const rate = parseRate(entry.rateLimit);
    if (rate) rateLimit = rate;
    else
      problem(
        'SWAS_ACCOUNTS_FILE',
        `${file}: [${index}].rateLimit: must be N/duration, got "${entry.rateLimit}"`,
      );
  }
  const creds = entry.credentials;
  if ('accessKeyIdEnv' in creds) {
    return {
      name: entry.name,
      credentials: credentialsFrom(
        env,
        creds.accessKeyIdEnv,
        creds.accessKeySecretEnv,
        creds.securityTokenEnv,
      ),
      credentialSources: [creds.accessKeyIdEnv, creds.accessKeySecretEnv],
      regions: entry.regions ?? null,
      rateLimit,
    };
  }
  // Profiles and RAM roles need the credentials provider chain, which is not built yet: refuse
  // at start-up instead of failing on the first API call.
  problem(
    'SWAS_ACCOUNTS_FILE',
    `${file}: [${index}] (${entry.name}): ${'profile' in creds ? 'profile' : 'ramRoleArn'} credentials are not supported yet; use accessKeyIdEnv/accessKeySecretEnv`,
  );
  return { name: entry.name, credentials: null, credentialSources: [], regions: null, rateLimit };
}

function credentialsFrom(
  env: Environment,
  idVar: string,
  secretVar: string,
  tokenVar: string | undefined,
): SwasCredentialsConfig | null {
  const accessKeyId = env[idVar]?.trim();
  const accessKeySecret = env[secretVar]?.trim();
  if (!accessKeyId || !accessKeySecret) return null;
  const token = tokenVar === undefined ? undefined : env[tokenVar]?.trim();
  return {
    accessKeyId,
    accessKeySecret: new Secret(accessKeySecret),
    ...(token ? { securityToken: new Secret(token) } : {}),
  };
}

/**
 * The accounts a command that calls the API will use, or an AppError `config.missing_credentials`
 * naming the variables to set (exit 2).
 */
export function requireCredentials(config: Config, accountNames: readonly string[] = []): AccountConfig[] {
  const unknown = accountNames.filter((name) => !config.accounts.some((a) => a.name === name));
  if (unknown.length > 0) {
    throw new AppError(
      'config.invalid',
      `Unknown account(s): ${unknown.map((name) => JSON.stringify(name)).join(', ')} (configured: ${config.accounts.map((a) => a.name).join(', ')})`,
    );
  }
  const selected =
    accountNames.length === 0
      ? [...config.accounts]
      : config.accounts.filter((a) => accountNames.includes(a.name));
  const missing = selected.filter((account) => account.credentials === null);
  if (missing.length > 0) {
    const lines = missing.map(
      (account) =>
        `  account "${account.name}": set ${account.credentialSources.map(shownVariableName).join(' and ')}`,
    );
    throw new AppError('config.missing_credentials', `Missing SWAS credentials:\n${lines.join('\n')}`, {
      details: { variables: missing.flatMap((a) => a.credentialSources) },
    });
  }
  return selected;
}

function parseRegionList(text: string): 'all' | string[] | { error: string } {
  if (text.trim().toLowerCase() === 'all') return 'all';
  const ids = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (ids.length === 0 || ids.some((id) => !isRegionId(id))) {
    return { error: `must be "all" or a comma list of region ids such as cn-hangzhou, got "${text}"` };
  }
  return [...new Set(ids)];
}

/**
 * A variable name as a message shows it. Names in an accounts file that are not upper case are
 * not shown: a secret pasted where its variable's name belongs would be echoed.
 */
const shownVariableName = (name: string): string =>
  /^[A-Z_][A-Z0-9_]*$/.test(name) ? name : '(a variable whose name is not upper case: not shown)';

function parseShare(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const share = match ? Number(match[1]) / 100 : Number.NaN;
  return share >= 0.01 && share <= 1 ? share : undefined;
}

function isUrlWithProtocol(text: string, protocols: readonly string[]): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return protocols.includes(url.protocol) && url.host !== '';
}

/**
 * One `@` at most: a second means a password with `@`, `?`, `#` or `/` that was not
 * percent-encoded, and the URL parser would take part of it for the host (a connection error
 * would then show it).
 */
const oneUserinfo = (text: string) => text.indexOf('@') === text.lastIndexOf('@');

/** A postgres URL with a host, or with a socket directory as `?host=` (`postgres:///db?host=/run/postgresql`). */
function isDatabaseUrl(text: string): boolean {
  if (!URL.canParse(text) || !oneUserinfo(text)) return false;
  const url = new URL(text);
  return (
    (url.protocol === 'postgres:' || url.protocol === 'postgresql:') &&
    (url.host !== '' || (url.searchParams.get('host') ?? '') !== '')
  );
}

/** A redis URL whose path, if any, is a database number (ioredis would SELECT anything else at run time). */
function isRedisUrl(text: string): boolean {
  return (
    oneUserinfo(text) &&
    isUrlWithProtocol(text, ['redis:', 'rediss:']) &&
    /^\/?(\d{1,5})?$/.test(new URL(text).pathname)
  );
}

function isEndpointUrl(text: string): boolean {
  if (!isUrlWithProtocol(text, ['http:', 'https:'])) return false;
  const url = new URL(text);
  return url.pathname === '/' && url.search === '' && url.hash === '';
}

function formatPath(path: readonly v.IssuePathItem[]): string {
  if (path.length === 0) return '';
  return `${path.map(({ key }) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`)).join('')}: `;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
