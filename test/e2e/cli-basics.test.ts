import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { runCli } from '../support/cli.ts';

const CREDENTIALS = { ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid', ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret' };
const COMMANDS = ['demo', 'migrate', 'regions', 'simulate', 'sync'];

describe('swas-inventory CLI', () => {
  let simulator: Simulator;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      regions: [
        { regionId: 'cn-hangzhou', images: 3 },
        { regionId: 'ap-southeast-1', images: 1 },
      ],
    });
  });
  afterAll(async () => {
    await simulator.close();
  });

  it('prints help for the program and every command, exit 0', async () => {
    const top = await runCli(['--help']);
    expect(top.exitCode).toBe(0);
    for (const command of COMMANDS) expect(top.stdout).toContain(command);
    for (const command of COMMANDS) {
      const help = await runCli([command, '--help']);
      expect(help.exitCode, command).toBe(0);
      expect(help.stdout).toContain(`Usage: swas-inventory ${command}`);
    }
    const asked = await runCli(['help', 'sync']);
    expect([asked.exitCode, asked.stdout.includes('Usage: swas-inventory sync')]).toEqual([0, true]);
  });

  it('lists the simulator regions', async () => {
    const result = await runCli(['regions'], { ...CREDENTIALS, SWAS_ENDPOINT: simulator.url });
    expect(result.stderr).toBe('');
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^ACCOUNT\s+REGION\s+NAME\s+ENDPOINT/);
    expect(result.stdout).toMatch(/default\s+cn-hangzhou\s+\S+\s+swas\.cn-hangzhou\.aliyuncs\.com/);
    expect(result.stdout).toContain('ap-southeast-1');
    const json = await runCli(['regions', '--format', 'json'], {
      ...CREDENTIALS,
      SWAS_ENDPOINT: simulator.url,
    });
    expect(JSON.parse(json.stdout).map((r: { regionId: string }) => r.regionId)).toEqual(
      expect.arrayContaining(['cn-hangzhou', 'ap-southeast-1']),
    );
  });

  it('exits 1 naming SignatureDoesNotMatch when the secret is wrong, and never prints the secret', async () => {
    const result = await runCli(['regions'], {
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'wrong-secret-4242',
      SWAS_ENDPOINT: simulator.url,
      LOG_LEVEL: 'trace',
    });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain('SignatureDoesNotMatch');
    expect(`${result.stdout}${result.stderr}`).not.toContain('wrong-secret-4242');
  });

  it('exits 2 naming both credential variables when there are none', async () => {
    const result = await runCli(['regions'], { SWAS_ENDPOINT: simulator.url });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('ALIBABA_CLOUD_ACCESS_KEY_ID');
    expect(result.stderr).toContain('ALIBABA_CLOUD_ACCESS_KEY_SECRET');
  });

  it.each(COMMANDS)('%s exits 2 naming every bad variable', async (command) => {
    const result = await runCli(command === 'sync' ? ['sync', '--once'] : [command], {
      ...CREDENTIALS,
      SWAS_ENDPOINT: 'not-a-url',
      SYNC_SCHEDULE: 'sometimes',
    });
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain('SWAS_ENDPOINT');
    expect(result.stderr).toContain('SYNC_SCHEDULE');
    expect(result.stderr.match(/error/g)).toHaveLength(1);
  });

  it('exits 2 on an unknown command or flag', async () => {
    expect((await runCli(['frobnicate'])).exitCode).toBe(2);
    expect((await runCli(['regions', '--bogus'])).exitCode).toBe(2);
    expect((await runCli(['regions', '--format', 'xml'], CREDENTIALS)).exitCode).toBe(2);
  });
});
