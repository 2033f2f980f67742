import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { runCli } from '../support/cli.ts';
import { createTestDatabase } from '../support/test-database.ts';

// `report` and `events` as a user runs them: the real executable over a database that
// `sync --once` filled from the simulator, with a failed image and a failing region.
describe('report and events', () => {
  let simulator: Simulator;
  let env: Record<string, string>;
  let failedId = '';
  let hostileId = '';
  const HOSTILE_NAME = '\u001b[31m红色\u001b[0m\u0007 name\u009b2J';

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 0 },
        { regionId: 'cn-shanghai', images: 0 },
      ],
    });
    env = {
      DATABASE_URL: await createTestDatabase(),
      SWAS_ENDPOINT: simulator.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '100/1s',
      SWAS_REGIONS: 'cn-hangzhou,cn-shanghai',
    };
    const add = (regionId: string, name: string) =>
      simulator.admin.addImage(regionId, { Name: name, Status: '1', InShare: false, InShareUser: false })
        .ImageId;
    failedId = add('cn-hangzhou', 'web-2026');
    hostileId = add('cn-hangzhou', HOSTILE_NAME);
    add('cn-hangzhou', 'db-2026');
    add('cn-shanghai', 'cache-2026');
    expect((await runCli(['sync', '--once'], env)).exitCode).toBe(0);

    // Then the image fails, and cn-shanghai starts failing: two syncs, two failures in a row.
    simulator.admin.updateImage('cn-hangzhou', failedId, { Status: '3' });
    simulator.admin.updateImage('cn-hangzhou', hostileId, { Status: '2' });
    simulator.admin.injectFault({
      kind: 'error',
      status: 400,
      code: 'InvalidParameter',
      regionId: 'cn-shanghai',
      times: Number.POSITIVE_INFINITY,
    });
    for (let sync = 0; sync < 2; sync++) expect((await runCli(['sync', '--once'], env)).exitCode).toBe(1);
    // Three whole processes: generous on a loaded machine.
  }, 180_000);
  afterAll(async () => {
    await simulator?.close();
  });

  it('report failures --format json names the failed image', async () => {
    const result = await runCli(['report', 'failures', '--format', 'json'], env);
    expect(result.exitCode, result.stderr).toBe(0);
    const failures = JSON.parse(result.stdout) as Record<string, unknown>[];
    const failed = failures.find((f) => f.imageId === failedId);
    expect(failed).toMatchObject({
      account: 'default',
      regionId: 'cn-hangzhou',
      imageId: failedId,
      name: 'web-2026',
      status: '3',
      statusLabel: 'create_failed',
      leftAt: null,
      isCurrent: true,
      currentStatus: '3',
      currentStatusLabel: 'create_failed',
      deletedAt: null,
    });
    expect(typeof failed?.enteredAt).toBe('string');
    expect(new Date(String(failed?.enteredAt)).toISOString()).toBe(failed?.enteredAt);
    expect(typeof failed?.durationSeconds).toBe('number');
    // JSON keeps the API's text exactly, with what a terminal would act on escaped.
    const hostile = failures.find((f) => f.imageId === hostileId);
    expect(hostile?.name).toBe(HOSTILE_NAME);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(result.stdout).not.toMatch(/[\u001b\u0007\u009b]/);
    expect(failures.map((f) => f.imageId).sort()).toEqual([failedId, hostileId].sort());
  });

  it('report sync-health shows the failed region failing with its consecutive failures', async () => {
    const json = await runCli(['report', 'sync-health', '--format', 'json'], env);
    expect(json.exitCode, json.stderr).toBe(0);
    const health = JSON.parse(json.stdout) as Record<string, unknown>[];
    expect(health.map((h) => [h.regionId, h.state, h.consecutiveFailures, h.lastRunStatus])).toEqual([
      ['cn-hangzhou', 'ok', 0, 'succeeded'],
      ['cn-shanghai', 'failing', 2, 'failed'],
    ]);
    expect(String(health[1]?.lastRunError)).toContain('InvalidParameter');

    const table = await runCli(
      ['report', 'sync-health', '--format', 'table', '--region', 'cn-shanghai'],
      env,
    );
    expect(table.exitCode).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(
      /^ACCOUNT\s+REGION\s+STATE\s+FAILURES\s+LAST RUN\s+STARTED\s+LAST COMPLETE\s+STALE FOR\s+ERROR$/,
    );
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatch(/^default\s+cn-shanghai\s+failing\s+2\s+failed\s+\d{4}-\d\d-\d\dT[\d:]{8}Z\s/);
  });

  it('strips control characters from API text in a table', async () => {
    const result = await runCli(['report', 'failures', '--format', 'table'], env);
    expect(result.exitCode).toBe(0);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: asserting their absence
    expect(result.stdout).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/);
    expect(result.stdout).toContain('红色 name2J');
    expect(result.stdout).toMatch(/web-2026\s+create_failed\s/);
  });

  it('prints the inventory as CSV and the inventory before the first sync as an empty list', async () => {
    const csv = await runCli(['report', 'inventory', '--format', 'csv'], env);
    expect(csv.exitCode).toBe(0);
    expect(csv.stdout.trimEnd().split('\n')).toEqual([
      'account,regionId,status,statusLabel,images,sharedImages',
      'default,cn-hangzhou,1,available,1,0',
      'default,cn-hangzhou,2,unavailable,1,0',
      'default,cn-hangzhou,3,create_failed,1,0',
      'default,cn-shanghai,1,available,1,0',
    ]);
    const before = await runCli(['report', 'as-of', '--at', '2020-01-01', '--format', 'json'], env);
    expect(before.exitCode).toBe(0);
    expect(JSON.parse(before.stdout)).toEqual([]);
    const now = await runCli(['report', 'as-of', '--at', 'now', '--region', 'cn-hangzhou'], env);
    // Not a terminal: JSON by default.
    expect((JSON.parse(now.stdout) as { imageId: string }[]).map((r) => r.imageId)).toContain(failedId);
  });

  it('lists events by type and image', async () => {
    const result = await runCli(['events', '--type', 'image.failed', '--format', 'json'], env);
    expect(result.exitCode, result.stderr).toBe(0);
    const events = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(events.map((e) => [e.type, e.imageId, e.baseline])).toEqual([['image.failed', failedId, false]]);
    const ofImage = await runCli(['events', '--image', failedId, '--format', 'table'], env);
    expect(ofImage.stdout).toMatch(/image\.created\s+default\s+cn-hangzhou\s+\S+\s+true/);
    expect(ofImage.stdout).toMatch(
      /image\.status_changed\s+default\s+cn-hangzhou\s+\S+\s+false\s+available → create_failed/,
    );
  });

  it('prints help, and exits 2 naming every bad variable before touching the database', async () => {
    const help = await runCli(['report', '--help']);
    expect(help.exitCode).toBe(0);
    expect(help.stdout).toContain('Usage: swas-inventory report [options] <name>');
    for (const name of ['inventory', 'failures', 'status-timeline', 'shares', 'sync-health', 'as-of']) {
      expect(help.stdout).toContain(name);
    }
    const events = await runCli(['events', '--help']);
    expect(events.exitCode).toBe(0);
    expect(events.stdout).toContain('Usage: swas-inventory events [options]');
    const config = await runCli(['report', 'inventory'], {
      ...env,
      DATABASE_URL: 'not a url',
      SYNC_SCHEDULE: 'sometimes',
    });
    expect(config.exitCode).toBe(2);
    expect(config.stderr).toContain('DATABASE_URL');
    expect(config.stderr).toContain('SYNC_SCHEDULE');
  });

  it('exits 2 naming every bad flag', async () => {
    const result = await runCli(
      ['report', 'failures', '--format', 'xml', '--since', 'yesterday', '--at', '2026-01-01'],
      env,
    );
    expect(result.exitCode).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain('--format must be one of table, json, csv, got "xml"');
    expect(result.stderr).toContain('--since must be a date');
    expect(result.stderr).toContain('--at does not apply to report failures');
    const unknown = await runCli(['report', 'everything'], env);
    expect(unknown.exitCode).toBe(2);
    expect(unknown.stderr).toContain('unknown report "everything"');
    const asOf = await runCli(['report', 'as-of'], env);
    expect(asOf.exitCode).toBe(2);
    expect(asOf.stderr).toContain('--at is required');
    const events = await runCli(['events', '--type', 'image.exploded', '--limit', '0'], env);
    expect(events.exitCode).toBe(2);
    expect(events.stderr).toContain('--type must be one of');
    expect(events.stderr).toContain('--limit must be a whole number');
  });
});
