import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readEnvironment } from './environment.ts';
import { loadConfig } from './load-config.ts';

describe('readEnvironment', () => {
  it('layers defaults < .env < process environment < flags', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'swas-env-'));
    writeFileSync(
      join(cwd, '.env'),
      [
        'SYNC_CONCURRENCY=8',
        'SYNC_SCHEDULE=30m',
        'SWAS_REGIONS=cn-beijing',
        '# a comment',
        'LOG_LEVEL=debug',
      ].join('\n'),
    );
    const env = readEnvironment(
      { SWAS_REGIONS: 'cn-hangzhou,cn-shanghai', HTTP_PORT: undefined },
      { cwd, processEnv: { SYNC_SCHEDULE: '5m', HTTP_PORT: '9000' } },
    );
    const config = loadConfig(env, { readFile: () => '' });
    expect(config.sync.concurrency).toBe(8); // from .env
    expect(config.log.level).toBe('debug'); // from .env
    expect(config.sync.schedule).toEqual({ kind: 'interval', everyMs: 300_000 }); // process env beats .env
    expect(config.http.port).toBe(9000); // an undefined flag does not erase it
    expect(config.regions).toEqual(['cn-hangzhou', 'cn-shanghai']); // flags beat everything
    expect(config.sync.deleteBrake).toBe(0.5); // default
  });

  it('reads the first line of a .env that starts with a byte-order mark, and keeps its values from empty ones', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'swas-env-'));
    writeFileSync(
      join(cwd, '.env'),
      '\uFEFFDATABASE_URL=postgres://postgres@db:5432/mine\r\nREDIS_URL=redis://cache:6379\r\n',
    );
    // DATABASE_URL set empty in the environment (a compose file's ${DATABASE_URL:-}).
    const config = loadConfig(readEnvironment({}, { cwd, processEnv: { DATABASE_URL: '' } }), {
      readFile: () => '',
    });
    expect(config.databaseUrl).toBe('postgres://postgres@db:5432/mine');
    expect(config.redisUrl).toBe('redis://cache:6379');
  });

  it('works without a .env file', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'swas-env-'));
    expect(readEnvironment({}, { cwd, processEnv: { LOG_LEVEL: 'warn' } })).toEqual({ LOG_LEVEL: 'warn' });
  });
});
