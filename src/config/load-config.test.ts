import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { type LoadConfigDeps, loadConfig, requireCredentials } from './load-config.ts';

const noFiles: LoadConfigDeps = {
  readFile: (path: string) => {
    throw new Error(`ENOENT: no such file ${path}`);
  },
};
const configError = (env: Record<string, string>, deps = noFiles): AppError => {
  try {
    loadConfig(env, deps);
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected loadConfig to fail');
};

describe('loadConfig', () => {
  it('applies every documented default', () => {
    const config = loadConfig({}, noFiles);
    expect(config.databaseUrl).toBe('postgres://postgres@127.0.0.1:5432/swas_inventory');
    expect(config.redisUrl).toBe('redis://127.0.0.1:6379');
    expect(config.regions).toBe('all');
    expect(config.swas).toEqual({
      endpoint: 'https://swas.{region}.aliyuncs.com',
      rateLimit: { limit: 10, intervalMs: 60_000 },
    });
    expect(config.sync).toEqual({
      schedule: { kind: 'interval', everyMs: 900_000 },
      tz: 'UTC',
      watchIntervalMs: 60_000,
      concurrency: 4,
      deleteBrake: 0.5,
      heartbeatMs: 15_000,
      lockTimeoutMs: 120_000,
    });
    expect(config.webhook.retryScheduleMs).toEqual([
      5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000,
    ]);
    expect(config.webhook.timeoutMs).toBe(10_000);
    expect(config.webhook.bootstrap).toBeNull();
    expect(config.http.port).toBe(9464);
    expect(config.log.level).toBe('info');
    expect(config.accounts).toHaveLength(1);
    expect(config.accounts[0]?.name).toBe('default');
    expect(config.accounts[0]?.credentials).toBeNull();
    // No component can change the configuration another one reads.
    expect(() => {
      (config.sync as { concurrency: number }).concurrency = 64;
    }).toThrow(TypeError);
    expect(config.sync.concurrency).toBe(4);
  });

  it('reads intervals, cron of 5 and 6 fields, rates, shares and lists', () => {
    const config = loadConfig(
      {
        SYNC_SCHEDULE: '*/5 * * * *',
        SYNC_TZ: 'Asia/Shanghai',
        SWAS_RATE_LIMIT: '5/30s',
        SYNC_DELETE_BRAKE: '100%',
        SYNC_WATCH_INTERVAL: 'off',
        SWAS_REGIONS: 'cn-hangzhou, ap-southeast-1,cn-hangzhou',
        HTTP_PORT: '0',
        WEBHOOK_URL: 'https://hooks.example.com/swas',
        WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        WEBHOOK_EVENTS: 'image.failed,image.deleted',
      },
      noFiles,
    );
    expect(config.sync.schedule).toEqual({ kind: 'cron', pattern: '*/5 * * * *', tz: 'Asia/Shanghai' });
    expect(config.swas.rateLimit).toEqual({ limit: 5, intervalMs: 30_000 });
    expect(config.sync.deleteBrake).toBe(1);
    expect(config.sync.watchIntervalMs).toBeNull();
    expect(config.regions).toEqual(['cn-hangzhou', 'ap-southeast-1']);
    expect(config.http.port).toBe(0);
    expect(config.webhook.bootstrap?.events).toEqual(['image.failed', 'image.deleted']);
    expect(loadConfig({ SYNC_SCHEDULE: '0 */10 * * * *' }, noFiles).sync.schedule.kind).toBe('cron');
    expect(loadConfig({ SYNC_SCHEDULE: '1h30m' }, noFiles).sync.schedule).toEqual({
      kind: 'interval',
      everyMs: 5_400_000,
    });
  });

  it('names every bad variable in one error', () => {
    const error = configError({
      SWAS_ENDPOINT: 'not-a-url',
      SYNC_SCHEDULE: 'sometimes',
      SYNC_CONCURRENCY: '0',
      SWAS_RATE_LIMIT: 'fast',
      SYNC_DELETE_BRAKE: '150%',
      LOG_LEVEL: 'loud',
      HTTP_PORT: '70000',
      WEBHOOK_EVENTS: 'image.exploded',
    });
    expect(error.code).toBe('config.invalid');
    for (const name of [
      'SWAS_ENDPOINT',
      'SYNC_SCHEDULE',
      'SYNC_CONCURRENCY',
      'SWAS_RATE_LIMIT',
      'SYNC_DELETE_BRAKE',
      'LOG_LEVEL',
      'HTTP_PORT',
      'WEBHOOK_EVENTS',
      'WEBHOOK_URL',
    ]) {
      expect(error.message).toContain(`${name}:`);
    }
    expect(error.message).toContain('Invalid configuration (9 problems)');
    expect(error.message).toContain('"sometimes"');
    expect(error.details.variables).toContain('SYNC_SCHEDULE');
  });

  it('never echoes a secret or a URL password in its errors', () => {
    const error = configError({
      DATABASE_URL: 'mysql://app:hunter2-pass@db/x',
      WEBHOOK_URL: 'https://hooks.example.com',
      WEBHOOK_SECRET: 'plain-secret-value',
    });
    expect(error.message).toContain('DATABASE_URL');
    expect(error.message).toContain('WEBHOOK_SECRET');
    expect(error.message).not.toContain('hunter2-pass');
    expect(error.message).not.toContain('plain-secret-value');
  });

  it('rejects a cron expression with a bad field', () => {
    const error = configError({ SYNC_SCHEDULE: '61 * * * *' });
    expect(error.message).toMatch(/SYNC_SCHEDULE: invalid cron expression "61 \* \* \* \*"/);
  });

  it('wraps credentials as secrets that never serialise', () => {
    const config = loadConfig(
      {
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'LTAI-id',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'very-secret-value',
        ALIBABA_CLOUD_SECURITY_TOKEN: 'sts-token-value',
      },
      noFiles,
    );
    const credentials = config.accounts[0]?.credentials;
    expect(credentials?.accessKeySecret.reveal()).toBe('very-secret-value');
    expect(credentials?.securityToken?.reveal()).toBe('sts-token-value');
    const rendered = `${JSON.stringify(config)} ${String(credentials?.accessKeySecret)}`;
    expect(rendered).not.toContain('very-secret-value');
    expect(rendered).not.toContain('sts-token-value');
    expect(rendered).toContain('LTAI-id');
  });

  it('reads a YAML accounts file whose credentials come from named variables', () => {
    const yaml = [
      '- name: prod',
      '  credentials: { accessKeyIdEnv: PROD_ID, accessKeySecretEnv: PROD_SECRET }',
      '  regions: [cn-hangzhou]',
      '  rateLimit: 20/1m',
      '- name: staging',
      '  credentials: { accessKeyIdEnv: STG_ID, accessKeySecretEnv: STG_SECRET }',
    ].join('\n');
    const config = loadConfig(
      { SWAS_ACCOUNTS_FILE: '/etc/swas/accounts.yaml', PROD_ID: 'p-id', PROD_SECRET: 'p-secret' },
      { readFile: () => yaml },
    );
    expect(config.accounts.map((a) => a.name)).toEqual(['prod', 'staging']);
    expect(config.accounts[0]?.regions).toEqual(['cn-hangzhou']);
    expect(config.accounts[0]?.rateLimit).toEqual({ limit: 20, intervalMs: 60_000 });
    expect(config.accounts[1]?.credentials).toBeNull();
    const missing = (() => {
      try {
        requireCredentials(config);
      } catch (error) {
        return error as AppError;
      }
      throw new Error('expected missing credentials');
    })();
    expect(missing.code).toBe('config.missing_credentials');
    expect(missing.message).toContain('account "staging": set STG_ID and STG_SECRET');
    expect(requireCredentials(config, ['prod']).map((a) => a.name)).toEqual(['prod']);
  });

  it('reports a broken accounts file with the path of each problem', () => {
    const error = configError(
      { SWAS_ACCOUNTS_FILE: 'accounts.json' },
      { readFile: () => '[{"name":"Bad Name","credentials":{"accessKeyIdEnv":"A"}}]' },
    );
    expect(error.message).toContain('SWAS_ACCOUNTS_FILE: accounts.json: [0].name:');
    expect(error.message).toContain(
      '[0].credentials: must name accessKeyIdEnv and accessKeySecretEnv (optionally securityTokenEnv), or a profile, or a ramRoleArn',
    );
    const unknownField = configError(
      { SWAS_ACCOUNTS_FILE: 'accounts.json' },
      { readFile: () => '[{"name":"prod","credentials":{"profile":"p"},"region":"cn-hangzhou"}]' },
    );
    expect(unknownField.message).toContain('SWAS_ACCOUNTS_FILE: accounts.json: [0].region: unknown field');
    const badRegion = configError(
      { SWAS_ACCOUNTS_FILE: 'accounts.yaml' },
      {
        readFile: () =>
          '- name: prod\n  credentials: { accessKeyIdEnv: A, accessKeySecretEnv: B }\n  regions: [cn-hangzhou, "Hangzhou!"]',
      },
    );
    expect(badRegion.message).toContain('[0].regions[1]: expected a region id such as cn-hangzhou');
    const unreadable = configError({ SWAS_ACCOUNTS_FILE: '/nope.yaml' });
    expect(unreadable.message).toContain('SWAS_ACCOUNTS_FILE: cannot read "/nope.yaml"');
  });

  it('bounds what must be bounded, ignores a trailing comma, and never echoes a secret pasted as a variable name', () => {
    const error = configError({ WEBHOOK_TIMEOUT: '30d', SYNC_DELETE_BRAKE: '0.5%' }, noFiles);
    expect(error.message).toContain('WEBHOOK_TIMEOUT: must be a duration from 100ms to 1h');
    expect(error.message).toContain('SYNC_DELETE_BRAKE: must be a percentage from 1% to 100%');
    const events = loadConfig(
      {
        WEBHOOK_URL: 'https://hooks.example.com/swas',
        WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
        WEBHOOK_EVENTS: 'image.failed,',
      },
      noFiles,
    );
    expect(events.webhook.bootstrap?.events).toEqual(['image.failed']);
    const pasted = loadConfig(
      { SWAS_ACCOUNTS_FILE: 'accounts.yaml' },
      {
        readFile: () =>
          '- name: prod\n  credentials: { accessKeyIdEnv: PROD_ID, accessKeySecretEnv: Zx9FakeSecretValue1234567890 }',
      },
    );
    expect(() => requireCredentials(pasted)).toThrow(
      'set PROD_ID and (a variable whose name is not upper case',
    );
    expect(() => requireCredentials(pasted)).not.toThrow('Zx9FakeSecretValue');
  });

  it('reads a YAML accounts file in flow style, and names where a file breaks without quoting it', () => {
    const flow = loadConfig(
      { SWAS_ACCOUNTS_FILE: 'accounts.yaml', P_ID: 'id', P_SECRET: 's' },
      { readFile: () => '[{name: prod, credentials: {accessKeyIdEnv: P_ID, accessKeySecretEnv: P_SECRET}}]' },
    );
    expect(flow.accounts.map((a) => a.name)).toEqual(['prod']);
    const broken = (file: string, text: string) =>
      configError({ SWAS_ACCOUNTS_FILE: file }, { readFile: () => text });
    const yaml = broken(
      'accounts.yaml',
      '- name: prod\n  # accessKeySecret: Zx9RealSecretValue\n  credentials: {a: [}\n',
    );
    expect(yaml.message).toContain(
      'SWAS_ACCOUNTS_FILE: cannot parse "accounts.yaml": invalid YAML at line 3',
    );
    const json = broken('accounts.json', '[{"name": "prod"\n "secret": "Zx9RealSecretValue"}]');
    expect(json.message).toContain('cannot parse "accounts.json": invalid JSON at line 2, column 2');
    // V8 quotes the text around some errors, and then gives no position.
    const quoted = broken('accounts.json', '[{"secret": Zx9RealSecretValue}]');
    expect(quoted.message).toContain('cannot parse "accounts.json": invalid JSON');
    for (const error of [yaml, json, quoted]) expect(error.message).not.toContain('Zx9RealSecretValue');
  });

  it('never echoes the token of a rejected webhook URL or a password given as a parameter', () => {
    const error = configError(
      {
        WEBHOOK_URL: 'hooks.slack.com/services/T0AAAAAAA/B0BBBBBBB/slackTokenValue123456',
        REDIS_URL: 'http://cache:6379/?password=redis-pass-77',
      },
      noFiles,
    );
    expect(error.message).toContain(
      'WEBHOOK_URL: must be an http:// or https:// URL, got "hooks.slack.com/services/***/***/***"',
    );
    expect(error.message).toContain('REDIS_URL');
    expect(error.message).not.toContain('slackTokenValue123456');
    expect(error.message).not.toContain('redis-pass-77');
  });

  it('never echoes the password of an unparsable DATABASE_URL', () => {
    const error = configError({ DATABASE_URL: 'postgres://me:pa55word@db:port/x' }, noFiles);
    expect(error.message).toContain('DATABASE_URL');
    expect(error.message).not.toContain('pa55word');
    expect(error.message).not.toContain('me:');
  });

  it('takes a socket directory for the database, and refuses at start what would fail or be dropped later', () => {
    const socket = loadConfig({ DATABASE_URL: 'postgres:///inventory?host=/var/run/postgresql' }, noFiles);
    expect(socket.databaseUrl).toBe('postgres:///inventory?host=/var/run/postgresql');
    expect(loadConfig({ REDIS_URL: 'redis://cache:6379/3' }, noFiles).redisUrl).toBe('redis://cache:6379/3');
    const error = configError(
      {
        REDIS_URL: 'redis://127.0.0.1:6379/abc',
        SWAS_ENDPOINT: 'http://127.0.0.1:18931/swas-proxy/{region}/',
        // 12 bytes: the signer needs 16.
        WEBHOOK_URL: 'https://hooks.example.com/swas',
        WEBHOOK_SECRET: 'whsec_AAAAAAAAAAAAAAAA',
      },
      noFiles,
    );
    expect(error.message).toContain('REDIS_URL: must be a redis:// or rediss:// URL, with a database number');
    expect(error.message).toContain('SWAS_ENDPOINT: must be an http(s) URL of a host');
    expect(error.message).toContain('WEBHOOK_SECRET: must be a Standard Webhooks secret');
    const unencoded = configError({ DATABASE_URL: 'postgres://app:Tr0ub@dor?3xyz@db/inv' }, noFiles);
    expect(unencoded.message).toContain('DATABASE_URL: must be a postgres:// URL');
    expect(unencoded.message).not.toMatch(/Tr0ub|dor|3xyz/);
    expect(
      configError(
        {
          WEBHOOK_URL: 'https://x.example/h',
          WEBHOOK_SECRET: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
          WEBHOOK_EVENTS: ' , ',
        },
        noFiles,
      ).message,
    ).toContain('WEBHOOK_EVENTS: must name at least one event type');
    expect(configError({ WEBHOOK_URL: 'https://hooks.example.com/swas' }, noFiles).message).toContain(
      'WEBHOOK_SECRET: is required when WEBHOOK_URL is set',
    );
  });

  it('names every unknown account asked for, an empty name too', () => {
    const config = loadConfig(
      { ALIBABA_CLOUD_ACCESS_KEY_ID: 'id', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 's' },
      noFiles,
    );
    expect(() => requireCredentials(config, ['', 'prod'])).toThrow(
      'Unknown account(s): "", "prod" (configured: default)',
    );
  });

  it('asks for the default credentials by their variable names', () => {
    const config = loadConfig({ ALIBABA_CLOUD_ACCESS_KEY_ID: 'only-id' }, noFiles);
    expect(() => requireCredentials(config)).toThrow(
      /ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET/,
    );
  });
});
