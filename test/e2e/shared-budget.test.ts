import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase } from '../support/test-database.ts';

// Two `sync --once` processes spend one quota through the Redis budget: the simulator enforces
// the same 6 calls per 3 s (counted on arrival) and its call log tells whether it ever throttled.

const REGIONS = ['cn-hangzhou', 'cn-shanghai', 'cn-beijing', 'cn-shenzhen', 'ap-southeast-1', 'us-west-1'];

describe('sync --once with the shared rate budget', () => {
  let simulator: Simulator;
  let env: Record<string, string>;
  const accountsPath = join(tmpdir(), `swas-accounts-${randomBytes(4).toString('hex')}.json`);

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 5,
      quota: { limit: 6, intervalMs: 3_000 },
      regions: REGIONS.map((regionId) => ({ regionId, images: 250 })),
    });
    // An account name of this file's own keeps its Redis keys apart from every other run.
    const account = `e2e-${randomBytes(4).toString('hex')}`;
    await writeFile(
      accountsPath,
      JSON.stringify([
        { name: account, credentials: { accessKeyIdEnv: 'E2E_ID', accessKeySecretEnv: 'E2E_SECRET' } },
      ]),
    );
    env = {
      DATABASE_URL: await createTestDatabase(),
      REDIS_URL: inject('redisUrl'),
      SWAS_ENDPOINT: simulator.url,
      SWAS_ACCOUNTS_FILE: accountsPath,
      E2E_ID: 'testid',
      E2E_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '6/3s',
    };
  });
  afterAll(async () => {
    await simulator?.close();
    await rm(accountsPath, { force: true });
  });

  it('gives two concurrent processes at the quota zero Throttling answers', async () => {
    const regionFlags = (regions: string[]) => regions.flatMap((region) => ['--region', region]);
    const [a, b] = await Promise.all([
      runCli(['sync', '--once', '--no-deliver', ...regionFlags(REGIONS.slice(0, 3))], env),
      runCli(['sync', '--once', '--no-deliver', ...regionFlags(REGIONS.slice(3))], env),
    ]);

    expect([a.exitCode, b.exitCode], `${a.stderr}\n${b.stderr}`).toEqual([0, 0]);
    const calls = simulator.admin.calls();
    expect(calls.filter((call) => call.code?.startsWith('Throttling'))).toEqual([]);
    // 6 regions of 250 images: 3 pages each, every one answered at the first attempt.
    expect(calls.filter((call) => call.action === 'ListCustomImages' && call.status === 200)).toHaveLength(
      18,
    );
    expect(calls).toHaveLength(18);
    expect(`${a.stderr}${b.stderr}`).not.toContain('Redis is unreachable');
  });

  it('falls back to a local budget with one warning when Redis is unreachable', async () => {
    simulator.admin.resetQuota();
    const result = await runCli(['sync', '--once', '--no-deliver', '--region', 'cn-hangzhou'], {
      ...env,
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr.match(/Redis is unreachable/g)).toHaveLength(1);
    expect(result.stdout).toMatch(/cn-hangzhou\s+succeeded/);
  });
});
