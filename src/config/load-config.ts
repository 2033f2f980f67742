import { AppError } from '../shared/app-error.ts';
import { parseDuration, parseRate, type Rate } from '../shared/duration.ts';
import { type EventType, isEventType } from '../shared/event-types.ts';
import { Secret } from '../shared/secret.ts';
import { type AccountEntry, accountsFileSchema, parseAccountsText } from './accounts-file.ts';
import { isTimeZone, parseSchedule, type Schedule } from './schedule.ts';

/** Every variable of SPEC §4 with its default (`undefined`: no default). */
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

interface Problem {
  variable: string;
  message: string;
}

const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * Builds the frozen configuration from an environment (defaults < `.env` < process env < flags are
 * merged by the caller). Every invalid setting is collected, then one AppError `config.invalid`
 * names all of them; nothing is validated lazily later.
 */
export function loadConfig(env: Environment, deps: LoadConfigDeps): Config {
  const problems: Problem[] = [];
  const value = (name: ConfigVariable): string | undefined => {
    const given = env[name]?.trim();
    return given === undefined || given === '' ? CONFIG_DEFAULTS[name] : given;
  };
  const problem = (variable: string, message: string) => {
    problems.push({ variable, message });
  };

  const databaseUrl = value('DATABASE_URL') ?? '';
  if (!isUrlWithProtocol(databaseUrl, ['postgres:', 'postgresql:'])) {
    problem('DATABASE_URL', `must be a postgres:// URL, got ${redactUrl(databaseUrl)}`);
  }
  const redisUrl = value('REDIS_URL') ?? '';
  if (!isUrlWithProtocol(redisUrl, ['redis:', 'rediss:'])) {
    problem('REDIS_URL', `must be a redis:// or rediss:// URL, got ${redactUrl(redisUrl)}`);
  }

  const endpoint = value('SWAS_ENDPOINT') ?? '';
  if (!isUrlWithProtocol(endpoint.replaceAll('{region}', 'cn-hangzhou'), ['http:', 'https:'])) {
    problem('SWAS_ENDPOINT', `must be an http(s) URL, optionally with {region}, got "${endpoint}"`);
  }

  const rateText = value('SWAS_RATE_LIMIT') ?? '';
  const rateLimit = parseRate(rateText);
  if (!rateLimit) problem('SWAS_RATE_LIMIT', `must be N/duration such as 10/1m, got "${rateText}"`);

  const regionsText = value('SWAS_REGIONS') ?? 'all';
  const regions = parseRegionList(regionsText);
  if (regions === undefined) {
    problem(
      'SWAS_REGIONS',
      `must be "all" or a comma list of region ids such as cn-hangzhou, got "${regionsText}"`,
    );
  }

  const tz = value('SYNC_TZ') ?? 'UTC';
  if (!isTimeZone(tz))
    problem('SYNC_TZ', `must be an IANA time zone such as UTC or Asia/Shanghai, got "${tz}"`);
  const scheduleText = value('SYNC_SCHEDULE') ?? '';
  const schedule = parseSchedule(scheduleText, isTimeZone(tz) ? tz : 'UTC');
  if ('error' in schedule) problem('SYNC_SCHEDULE', schedule.error);

  const watchText = value('SYNC_WATCH_INTERVAL') ?? '';
  const watchIntervalMs = watchText === 'off' ? null : parseDuration(watchText);
  if (watchIntervalMs === undefined || (watchIntervalMs !== null && watchIntervalMs < 1_000)) {
    problem(
      'SYNC_WATCH_INTERVAL',
      `must be a duration of at least 1s (e.g. 1m) or "off", got "${watchText}"`,
    );
  }

  const concurrencyText = value('SYNC_CONCURRENCY') ?? '';
  const concurrency = Number(concurrencyText);
  if (!/^\d+$/.test(concurrencyText) || concurrency < 1 || concurrency > 64) {
    problem('SYNC_CONCURRENCY', `must be a whole number from 1 to 64, got "${concurrencyText}"`);
  }

  const brakeText = value('SYNC_DELETE_BRAKE') ?? '';
  const deleteBrake = parseShare(brakeText);
  if (deleteBrake === undefined) {
    problem(
      'SYNC_DELETE_BRAKE',
      `must be a percentage from 1% to 100% (100% disables it), got "${brakeText}"`,
    );
  }

  const webhookUrl = value('WEBHOOK_URL');
  const webhookSecret = value('WEBHOOK_SECRET');
  const webhookEventsText = value('WEBHOOK_EVENTS');
  if (webhookUrl !== undefined && !isUrlWithProtocol(webhookUrl, ['http:', 'https:'])) {
    problem('WEBHOOK_URL', `must be an http:// or https:// URL, got ${redactUrl(webhookUrl)}`);
  }
  if (webhookSecret !== undefined && !/^whsec_[A-Za-z0-9+/=]{16,}$/.test(webhookSecret)) {
    problem(
      'WEBHOOK_SECRET',
      'must be a Standard Webhooks secret: "whsec_" followed by base64 (at least 16 chars)',
    );
  }
  if (webhookUrl === undefined && (webhookSecret !== undefined || webhookEventsText !== undefined)) {
    problem('WEBHOOK_URL', 'is required when WEBHOOK_SECRET or WEBHOOK_EVENTS is set');
  }
  let webhookEvents: EventType[] | null = null;
  if (webhookEventsText !== undefined) {
    const names = webhookEventsText.split(',').map((name) => name.trim());
    const unknown = names.filter((name) => !isEventType(name));
    if (unknown.length > 0) problem('WEBHOOK_EVENTS', `unknown event type(s): ${unknown.join(', ')}`);
    else webhookEvents = names as EventType[];
  }

  const retryText = value('WEBHOOK_RETRY_SCHEDULE') ?? '';
  const retryScheduleMs = retryText.split(',').map((part) => parseDuration(part));
  if (retryScheduleMs.some((ms) => ms === undefined)) {
    problem(
      'WEBHOOK_RETRY_SCHEDULE',
      `must be a comma list of durations such as 5s,5m,30m, got "${retryText}"`,
    );
  }
  const timeoutText = value('WEBHOOK_TIMEOUT') ?? '';
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined || timeoutMs < 100) {
    problem('WEBHOOK_TIMEOUT', `must be a duration of at least 100ms such as 10s, got "${timeoutText}"`);
  }

  const portText = value('HTTP_PORT') ?? '';
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port > 65_535) {
    problem('HTTP_PORT', `must be a port number from 0 to 65535, got "${portText}"`);
  }

  const level = (value('LOG_LEVEL') ?? 'info').toLowerCase();
  if (!LOG_LEVELS.includes(level as LogLevel)) {
    problem('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }

  const accounts = loadAccounts(env, deps, rateLimit, problem);

  if (problems.length > 0) {
    const lines = problems.map((p) => `  ${p.variable}: ${p.message}`);
    throw new AppError(
      'config.invalid',
      `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${lines.join('\n')}`,
      { details: { variables: problems.map((p) => p.variable) } },
    );
  }

  return deepFreeze({
    databaseUrl,
    redisUrl,
    accounts,
    regions: regions ?? 'all',
    swas: { endpoint, rateLimit: rateLimit! },
    sync: {
      schedule: schedule as Schedule,
      tz,
      watchIntervalMs: watchIntervalMs ?? null,
      concurrency,
      deleteBrake: deleteBrake!,
    },
    webhook: {
      bootstrap:
        webhookUrl === undefined
          ? null
          : {
              url: webhookUrl,
              secret: webhookSecret ? new Secret(webhookSecret) : null,
              events: webhookEvents,
            },
      retryScheduleMs: retryScheduleMs as number[],
      timeoutMs: timeoutMs!,
    },
    http: { port },
    log: { level: level as LogLevel },
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

  let parsed: unknown;
  try {
    parsed = parseAccountsText(deps.readFile(file), file);
  } catch (error) {
    problem(
      'SWAS_ACCOUNTS_FILE',
      `cannot read "${file}": ${error instanceof Error ? error.message : String(error)}`,
    );
    return [];
  }
  const result = accountsFileSchema.safeParse(parsed);
  if (!result.success) {
    for (const issue of result.error.issues) {
      problem('SWAS_ACCOUNTS_FILE', `${file}: ${formatPath(issue.path)}${issue.message}`);
    }
    return [];
  }
  return result.data.map((entry, index) => accountFromEntry(env, entry, index, fallbackRate, file, problem));
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
      `Unknown account(s): ${unknown.join(', ')} (configured: ${config.accounts.map((a) => a.name).join(', ')})`,
    );
  }
  const selected =
    accountNames.length === 0
      ? [...config.accounts]
      : config.accounts.filter((a) => accountNames.includes(a.name));
  const missing = selected.filter((account) => account.credentials === null);
  if (missing.length > 0) {
    const lines = missing.map(
      (account) => `  account "${account.name}": set ${account.credentialSources.join(' and ')}`,
    );
    throw new AppError('config.missing_credentials', `Missing SWAS credentials:\n${lines.join('\n')}`, {
      details: { variables: missing.flatMap((a) => a.credentialSources) },
    });
  }
  return selected;
}

function parseRegionList(text: string): 'all' | string[] | undefined {
  if (text.trim().toLowerCase() === 'all') return 'all';
  const ids = text
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part !== '');
  if (ids.length === 0 || ids.some((id) => !/^[a-z]{2}-[a-z0-9-]+$/.test(id))) return undefined;
  return [...new Set(ids)];
}

function parseShare(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)%$/.exec(text.trim());
  const share = match ? Number(match[1]) / 100 : Number.NaN;
  return share > 0 && share <= 1 ? share : undefined;
}

function isUrlWithProtocol(text: string, protocols: readonly string[]): boolean {
  if (!URL.canParse(text)) return false;
  const url = new URL(text);
  return protocols.includes(url.protocol) && url.host !== '';
}

/** A URL for an error message, its password replaced. */
function redactUrl(text: string): string {
  if (!URL.canParse(text)) return `"${text}"`;
  const url = new URL(text);
  if (url.password) url.password = 'redacted';
  return `"${url.toString()}"`;
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '';
  return `${path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`)).join('')}: `;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Secret)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
