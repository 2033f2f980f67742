import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { BIN, runCli } from '../support/cli.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';

const SECRET = 'hardening-secret-value';
const TOKEN = 'STS.hardening-token-value';

interface Running {
  child: ChildProcess;
  exited: Promise<number | null>;
  output: () => { stdout: string; stderr: string };
}

// `sync --once` under a hostile network and an impatient operator, as a user runs it: the real
// executable against the simulator and real PostgreSQL (connections killed with
// pg_terminate_backend, processes killed with signals).
describe('sync --once hardening', () => {
  let simulator: Simulator;
  let databaseUrl: string;
  let sql: pg.Client;
  let env: Record<string, string>;

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 5,
      quota: null,
      accounts: [{ accessKeyId: 'testid', accessKeySecret: SECRET }],
      regions: [],
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

  const start = (args: string[], extra: Record<string, string> = {}): Running => {
    const child = spawn(BIN, args, {
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'warn',
        ...env,
        ...extra,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => {
      stdout += String(chunk);
    });
    child.stderr?.on('data', (chunk) => {
      stderr += String(chunk);
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    return { child, exited, output: () => ({ stdout, stderr }) };
  };
  const runsOf = async (regionId: string) =>
    (
      await sql.query<{ id: string; status: string; error: string | null }>(
        'select id, status, error from sync_runs where region_id = $1 order by started_at',
        [regionId],
      )
    ).rows;
  /** Holds the scope's commit lock from another session, as a slow committer would. */
  const holdRegionLock = async (regionId: string) => {
    const holder = new pg.Client({ connectionString: databaseUrl });
    await holder.connect();
    await holder.query('begin');
    await holder.query('select pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `swas-sync:default:${regionId}`,
    ]);
    return async () => {
      await holder.query('rollback').catch(() => undefined);
      await holder.end();
    };
  };
  const waitingBackend = (regionId: string) =>
    waitFor(`a sync of ${regionId} waiting for the region lock`, async () => {
      const { rows } = await sql.query<{ pid: number }>(
        `select pid from pg_stat_activity
         where application_name = 'swas-inventory' and datname = current_database() and query like '%pg_try_advisory_xact_lock%'
           and state = 'idle in transaction'`,
      );
      void regionId;
      return rows[0]?.pid;
    });

  it('survives a connection killed mid-transaction: the region fails, recorded, with a summary and no crash', async () => {
    simulator.admin.setRegion('cn-hangzhou', 3);
    const release = await holdRegionLock('cn-hangzhou');
    const sync = start(['sync', '--once', '--region', 'cn-hangzhou']);
    try {
      const pid = await waitingBackend('cn-hangzhou');
      await sql.query('select pg_terminate_backend($1)', [pid]);
    } finally {
      await release();
    }
    expect(await sync.exited).toBe(1);
    const { stdout, stderr } = sync.output();
    expect(stdout).toMatch(/default\s+cn-hangzhou\s+failed/);
    expect(stdout).toMatch(/db\.unreachable/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(await runsOf('cn-hangzhou')).toEqual([
      { id: expect.any(String), status: 'failed', error: expect.stringContaining('db.unreachable') },
    ]);
    expect((await sql.query('select 1 from custom_images')).rowCount).toBe(0);
  });

  it('shrugs off pooled connections killed while it lists', async () => {
    simulator.admin.setRegion('cn-shanghai', 120);
    const hold = simulator.admin.injectFault({ kind: 'hold', regionId: 'cn-shanghai', pageNumber: 2 });
    const sync = start(['sync', '--once', '--region', 'cn-shanghai'], { SYNC_RUN_HEARTBEAT: '100ms' });
    await waitFor('page 2 held', () => simulator.admin.heldCalls(hold) > 0);
    // Every connection of the process: idle pooled ones and the heartbeat's.
    await waitFor('a pooled connection to kill', async () => {
      const { rows } = await sql.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
         where application_name = 'swas-inventory' and datname = current_database()`,
      );
      return (rows[0]?.n ?? 0) > 0;
    });
    simulator.admin.releaseFault(hold);
    const code = await sync.exited;
    expect(code, JSON.stringify(sync.output())).toBe(0);
    expect(sync.output().stdout).toMatch(/default\s+cn-shanghai\s+succeeded/);
    expect(sync.output().stderr).not.toMatch(/\n\s+at /);
  });

  it('bounds the wait for another process commit of the region, and Ctrl-C ends the wait', async () => {
    simulator.admin.setRegion('cn-beijing', 2);
    const release = await holdRegionLock('cn-beijing');
    try {
      const bounded = await runCli(['sync', '--once', '--region', 'cn-beijing'], {
        ...env,
        SYNC_LOCK_TIMEOUT: '500ms',
      });
      expect(bounded.exitCode).toBe(1);
      expect(bounded.stdout).toMatch(
        /db\.lock_timeout: another process has been committing default\/cn-beijing/,
      );

      const waiting = start(['sync', '--once', '--region', 'cn-beijing']);
      await waitingBackend('cn-beijing');
      waiting.child.kill('SIGINT');
      expect(await waiting.exited).toBe(1);
      expect(waiting.output().stdout).toMatch(/default\s+cn-beijing\s+failed/);
    } finally {
      await release();
    }
    expect((await runsOf('cn-beijing')).map((r) => r.status)).toEqual(['failed', 'failed']);
  });

  it('never closes a live run that lists for long, and closes the run of a killed process', async () => {
    simulator.admin.setRegion('cn-qingdao', 4);
    const heartbeat = { SYNC_RUN_HEARTBEAT: '100ms' }; // abandoned after 4 silent heartbeats: 400 ms
    const hold = simulator.admin.injectFault({ kind: 'hold', regionId: 'cn-qingdao' });
    const slow = start(['sync', '--once', '--region', 'cn-qingdao'], heartbeat);
    await waitFor('page 1 held', () => simulator.admin.heldCalls(hold) > 0);
    const [live] = await runsOf('cn-qingdao');
    // Older than the bound, many times over, and still alive.
    await waitFor(
      'the live run to be older than 2 s',
      async () => {
        const { rows } = await sql.query<{ old: boolean }>(
          `select started_at < clock_timestamp() - interval '2 seconds' as old from sync_runs where id = $1`,
          [live?.id],
        );
        return rows[0]?.old === true;
      },
      { timeoutMs: 10_000 },
    );
    const other = await runCli(['sync', '--once', '--region', 'cn-qingdao'], { ...env, ...heartbeat });
    expect(other.exitCode, other.stdout).toBe(0);
    expect((await runsOf('cn-qingdao')).find((r) => r.id === live?.id)?.status).toBe('running');

    slow.child.kill('SIGKILL');
    await slow.exited;
    simulator.admin.releaseFault(hold);
    await waitFor('the killed run to fall silent past the bound', async () => {
      const { rows } = await sql.query<{ silent: boolean }>(
        `select heartbeat_at < clock_timestamp() - interval '500 milliseconds' as silent from sync_runs where id = $1`,
        [live?.id],
      );
      return rows[0]?.silent === true;
    });
    const next = await runCli(['sync', '--once', '--region', 'cn-qingdao'], { ...env, ...heartbeat });
    expect(next.exitCode).toBe(0);
    const closed = (await runsOf('cn-qingdao')).find((r) => r.id === live?.id);
    expect(closed).toMatchObject({ status: 'failed', error: expect.stringMatching(/^abandoned/) });
    expect((await runsOf('cn-qingdao')).filter((r) => r.status === 'running')).toEqual([]);
  });

  it('prints no secret and no terminal escape, and caps what a hostile API says', async () => {
    simulator.admin.setRegion('cn-chengdu', 1);
    simulator.admin.injectFault({
      kind: 'error',
      regionId: 'cn-chengdu',
      status: 400,
      code: `Evil\u001b[2J${'C'.repeat(200_000)}`,
      message: `\u001b]0;pwned\u0007bad things ${TOKEN.slice(0, 8)}\u001b[31m`,
      times: Number.POSITIVE_INFINITY,
    });
    const result = await runCli(['sync', '--once', '--region', 'cn-chengdu'], {
      ...env,
      ALIBABA_CLOUD_SECURITY_TOKEN: TOKEN,
      LOG_LEVEL: 'debug',
    });
    simulator.admin.clearFaults();
    expect(result.exitCode).toBe(1);
    const printed = result.stdout + result.stderr;
    expect(printed).not.toContain('\u001b');
    expect(printed).not.toContain('\u0007');
    expect(printed).not.toContain(SECRET);
    expect(printed).not.toContain(TOKEN);
    expect(result.stdout.length).toBeLessThan(5_000);
    const [run] = (await runsOf('cn-chengdu')).slice(-1);
    expect(run?.error?.length).toBeLessThan(1_000);
    expect(run?.error).not.toContain('\u001b');

    const badUrl = await runCli(['sync', '--once'], {
      ...env,
      DATABASE_URL: 'postgres://me:pa55word@db:port/x',
    });
    expect(badUrl.exitCode).toBe(2);
    expect(badUrl.stdout + badUrl.stderr).toContain('DATABASE_URL');
    expect(badUrl.stdout + badUrl.stderr).not.toContain('pa55word');
  });
});
