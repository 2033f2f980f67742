import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.ts';
import { waitFor } from '../support/wait-for.ts';

// `swas-inventory simulate` as an operator runs it: a long-lived process other commands talk to.
describe('simulate', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it('serves the API and the admin API until SIGTERM, and regions lists its regions', async () => {
    child = spawn(BIN, ['simulate', '--port', '0', '--seed', '5'], {
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += String(chunk);
    });
    const url = await waitFor('the simulator URL', () => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], {
      timeoutMs: 20_000,
    });

    const regions = await runCli(['regions', '--format', 'json'], {
      SWAS_ENDPOINT: url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
    });
    expect(regions.exitCode, regions.stderr).toBe(0);
    expect(JSON.parse(regions.stdout).length).toBeGreaterThan(0);

    const admin = await fetch(`${url}/_admin/regions`);
    expect(admin.status).toBe(200);
    const { regions: summaries } = (await admin.json()) as {
      regions: Array<{ regionId: string; imageCount: number }>;
    };
    expect(summaries.some((region) => region.imageCount > 0)).toBe(true);
    const added = await fetch(`${url}/_admin/regions/cn-hangzhou/images`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Name: '命令行测试镜像', Status: '4' }),
    });
    expect(added.status).toBe(201);
    expect(await added.json()).toMatchObject({ Name: '命令行测试镜像', Status: '4' });

    const exited = new Promise<number | null>((resolve) => child?.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
