import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { BIN, runCli } from '../support/cli.ts';
import { databaseUrlWithName } from '../support/database-url.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

const SECRET = 'testsecret';

// `sync --once`, `migrate` and `demo` as a user runs them: child processes of the real executable,
// the simulator over HTTP, this file's own databases.
describe('sync --once', () => {
  let simulator: Simulator;
  let databaseUrl: string;
  let sql: pg.Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 3,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 150 },
        { regionId: 'cn-shanghai', images: 3 },
      ],
    });
    databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    env = {
      DATABASE_URL: databaseUrl,
      SWAS_ENDPOINT: simulator.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: SECRET,
      SWAS_RATE_LIMIT: '100/1s',
    };
  });
  afterAll(async () => {
    await sql?.end();
    await simulator?.close();
  });

  const count = async (query: string, values: unknown[] = []) =>
    Number((await sql.query<{ n: string }>(query, values)).rows[0]?.n);

  it('syncs every region ListRegions reports and prints a per-region summary', async () => {
    const result = await runCli(['sync', '--once'], { ...env, LOG_LEVEL: 'trace' });
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    expect(lines[0]).toMatch(
      /^ACCOUNT\s+REGION\s+STATUS\s+PAGES\s+CALLS\s+IMAGES\s+CREATED\s+UPDATED\s+DELETED\s+EVENTS\s+TIME/,
    );
    expect(result.stdout).toMatch(/default\s+cn-hangzhou\s+succeeded\s+2\s+2\s+150\s+150\s+0\s+0\s+150\s/);
    expect(result.stdout).toMatch(/default\s+cn-shanghai\s+succeeded\s+1\s+1\s+3\s+3\s+0\s+0\s+3\s/);
    expect(result.stdout).toMatch(/no failures/);
    // The most verbose logs of a real sync carry no secret.
    expect(result.stderr).toContain('"level":"debug"');
    expect(`${result.stdout}${result.stderr}`).not.toContain(SECRET);
    expect(await count('select count(*) as n from custom_images')).toBe(153);
  });

  it('writes no events when nothing changed, and syncs only the regions asked for', async () => {
    const result = await runCli(['sync', '--once', '--region', 'cn-shanghai'], env);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/default\s+cn-shanghai\s+succeeded\s+1\s+1\s+3\s+0\s+0\s+0\s+0\s/);
    expect(result.stdout).not.toContain('cn-hangzhou');
    expect(await count('select count(*) as n from image_events')).toBe(153);
  });

  it('refuses an empty or malformed --region with exit 2, syncing nothing', async () => {
    const runsBefore = await count('select count(*) as n from sync_runs');
    for (const value of ['', 'cn hangzhou']) {
      const result = await runCli(['sync', '--once', '--region', value], env);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`--region must be a region id such as cn-hangzhou, got "${value}"`);
    }
    // Every bad one, in one message.
    const both = await runCli(['sync', '--once', '--region', 'X', '--region', 'Y'], env);
    expect(both.stderr).toContain('got "X", "Y"');
    expect(await count('select count(*) as n from sync_runs')).toBe(runsBefore);
  });

  it('syncs only the --region asked for, also for an account whose accounts-file entry lists its own', async () => {
    const accountsPath = join(tmpdir(), `swas-accounts-${randomBytes(4).toString('hex')}.yaml`);
    await writeFile(
      accountsPath,
      [
        '- name: listed',
        '  credentials: { accessKeyIdEnv: E2E_ID, accessKeySecretEnv: E2E_SECRET }',
        '  regions: [cn-hangzhou, cn-shanghai]',
      ].join('\n'),
    );
    const ownDatabase = await createTestDatabase();
    try {
      const result = await runCli(['sync', '--once', '--no-deliver', '--region', 'cn-shanghai'], {
        DATABASE_URL: ownDatabase,
        SWAS_ENDPOINT: simulator.url,
        SWAS_RATE_LIMIT: '100/1s',
        SWAS_ACCOUNTS_FILE: accountsPath,
        E2E_ID: 'testid',
        E2E_SECRET: SECRET,
      });
      expect(result.exitCode, result.stderr).toBe(0);
      expect(result.stdout).toMatch(/listed\s+cn-shanghai\s+succeeded\s/);
      expect(result.stdout).not.toContain('cn-hangzhou');
      const own = new pg.Client({ connectionString: ownDatabase });
      await own.connect();
      try {
        const { rows } = await own.query<{ region_id: string }>('select distinct region_id from sync_runs');
        expect(rows.map((row) => row.region_id)).toEqual(['cn-shanghai']);
      } finally {
        await own.end();
      }
    } finally {
      await rm(accountsPath, { force: true });
    }
  });

  it('exits 1 when a region fails, recording the API code, and still syncs the others', async () => {
    simulator.admin.addImage('cn-hangzhou', { Name: '失败测试镜像', Status: '3' });
    const fault = simulator.admin.injectFault({
      kind: 'error',
      status: 503,
      code: 'ServiceUnavailable',
      regionId: 'cn-shanghai',
      times: Number.POSITIVE_INFINITY,
    });
    const result = await runCli(['sync', '--once'], env, { timeoutMs: 120_000 });
    simulator.admin.removeFault(fault);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).toMatch(/default\s+cn-shanghai\s+failed/);
    expect(result.stdout).toMatch(/cn-shanghai failed: swas\.unavailable: .*ServiceUnavailable/);
    expect(result.stdout).toMatch(/default\s+cn-hangzhou\s+succeeded\s+2\s+2\s+151\s+1\s+0\s+0\s+2\s/);
    expect(result.stdout).toMatch(/1 failed/);
    const failed = await sql.query<{ error: string }>(
      "select error from sync_runs where region_id = 'cn-shanghai' and status = 'failed'",
    );
    expect(failed.rows[0]?.error).toContain('ServiceUnavailable');
    expect(
      await count(
        "select count(*) as n from custom_images where region_id = 'cn-shanghai' and deleted_at is null",
      ),
    ).toBe(3);
  });

  it('gives two concurrent processes syncing one region one set of events', async () => {
    simulator.admin.setRegion('cn-qingdao', 120);
    const [a, b] = await Promise.all([
      runCli(['sync', '--once', '--region', 'cn-qingdao'], env),
      runCli(['sync', '--once', '--region', 'cn-qingdao'], env),
    ]);
    expect([a.exitCode, b.exitCode]).toEqual([0, 0]);
    expect(await count("select count(*) as n from image_events where region_id = 'cn-qingdao'")).toBe(120);
    expect(
      await count("select count(*) as n from custom_image_versions where region_id = 'cn-qingdao'"),
    ).toBe(120);
    // The run that began later and committed first makes the other's listing stale: that one is
    // `superseded` and writes nothing, which is just as right as both succeeding in turn.
    expect(
      await count(
        "select count(*) as n from sync_runs where region_id = 'cn-qingdao' and status in ('succeeded', 'superseded')",
      ),
    ).toBe(2);
    expect(
      await count(
        "select count(*) as n from sync_runs where region_id = 'cn-qingdao' and status = 'succeeded'",
      ),
    ).toBeGreaterThanOrEqual(1);
  });

  it('exits 1 with one clear line when the database is unreachable, a stack trace only at debug', async () => {
    const down = { ...env, DATABASE_URL: 'postgres://postgres:hunter2@127.0.0.1:1/swas' };
    const result = await runCli(['sync', '--once'], down);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      /error \[db\.unreachable\]: PostgreSQL at 127\.0\.0\.1:1\/swas is unreachable/,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
    expect(result.stderr).not.toContain('hunter2');
    const debug = await runCli(['sync', '--once'], { ...down, LOG_LEVEL: 'debug' });
    expect(debug.exitCode).toBe(1);
    expect(debug.stderr).toMatch(/\n\s+at /);
    expect(debug.stderr).not.toContain('hunter2');
  });

  it('refuses a database that is behind, naming migrate', async () => {
    const name = `swas_e2e_empty_${randomBytes(4).toString('hex')}`;
    const admin = new pg.Client({ connectionString: databaseUrlWithName(inject('databaseUrl'), 'postgres') });
    await admin.connect();
    await admin.query(`create database "${name}"`);
    try {
      const result = await runCli(['sync', '--once'], {
        ...env,
        DATABASE_URL: databaseUrlWithName(databaseUrl, name),
      });
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain('db.behind');
      expect(result.stderr).toContain('swas-inventory migrate');
    } finally {
      await admin.query(`drop database if exists "${name}" with (force)`);
      await admin.end();
    }
  });
});

describe('migrate and demo', () => {
  const names: string[] = [];
  const serverUrl = () => inject('databaseUrl');
  const freshName = () => {
    const name = `swas_e2e_${randomBytes(4).toString('hex')}`;
    names.push(name);
    return name;
  };
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: databaseUrlWithName(serverUrl(), 'postgres') });
    await admin.connect();
    for (const name of names) await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.end();
  });

  it('creates and migrates a database, safely when two replicas start together, and again as a no-op', async () => {
    const url = databaseUrlWithName(serverUrl(), freshName());
    const [a, b] = await Promise.all([
      runCli(['migrate'], { DATABASE_URL: url }),
      runCli(['migrate'], { DATABASE_URL: url }),
    ]);
    expect([a.exitCode, b.exitCode], `${a.stderr}${b.stderr}`).toEqual([0, 0]);
    const applied = [a.stdout, b.stdout].map((out) =>
      Number(/(\d+) migration\(s\) applied now/.exec(out)?.[1]),
    );
    expect(applied.sort()).toEqual([0, applied[1]]);
    expect(applied[1]).toBeGreaterThan(0);
    const again = await runCli(['migrate'], { DATABASE_URL: url });
    expect(again.stdout).toMatch(/0 migration\(s\) applied now/);
  });

  it('demo migrates and syncs against the built-in simulator when no credentials are set', async () => {
    const url = databaseUrlWithName(serverUrl(), freshName());
    const result = await runCli(['demo'], { DATABASE_URL: url }, { timeoutMs: 120_000 });
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain('built-in simulator');
    expect(result.stdout).toMatch(/default\s+cn-hangzhou\s+succeeded/);
    expect(result.stdout).toMatch(/no failures/);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query<{ n: string }>('select count(*) as n from custom_images');
      expect(Number(rows[0]?.n)).toBeGreaterThan(100);
    } finally {
      await client.end();
    }
  });
});

describe('sync --once interrupted', () => {
  it('records the runs in flight as failed (aborted) on SIGINT and exits 1', async () => {
    const simulator = await startSimulator({
      port: 0,
      quota: null,
      regions: [{ regionId: 'cn-hangzhou', images: 5 }],
    });
    const databaseUrl = await createTestDatabase();
    const sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    try {
      simulator.admin.injectFault({
        kind: 'hang',
        action: 'ListCustomImages',
        times: Number.POSITIVE_INFINITY,
      });
      const child = spawn(BIN, ['sync', '--once', '--region', 'cn-hangzhou'], {
        env: {
          PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
          HOME: process.env.HOME ?? '',
          LOG_LEVEL: 'warn',
          DATABASE_URL: databaseUrl,
          SWAS_ENDPOINT: simulator.url,
          ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
          // The account's budget is shared in Redis with the tests before this one, whose calls
          // at the default 10 a minute would hold this listing back past the wait below.
          SWAS_RATE_LIMIT: '100/1s',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      child.stdout?.on('data', (chunk) => {
        stdout += String(chunk);
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      await waitFor('the listing to hang', () =>
        simulator.admin.calls().some((c) => c.action === 'ListCustomImages'),
      );
      child.kill('SIGINT');
      expect(await exited).toBe(1);
      expect(stdout).toMatch(/default\s+cn-hangzhou\s+failed/);
      const runs = await sql.query<{ status: string; error: string }>('select status, error from sync_runs');
      expect(runs.rows).toEqual([{ status: 'failed', error: expect.stringContaining('swas.aborted') }]);
      expect((await sql.query('select 1 from custom_images')).rowCount).toBe(0);
    } finally {
      await sql.end();
      await simulator.close();
    }
  });
});
