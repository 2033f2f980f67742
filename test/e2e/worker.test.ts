import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { runCli } from '../support/cli.ts';
import { startRedisServer, type TestRedisServer } from '../support/redis-server.ts';
import { createTestDatabase } from '../support/test-database.ts';
import { waitFor } from '../support/wait-for.ts';
import { randomWebhookSecret, startWebhookReceiver } from '../support/webhook-receiver.ts';
import { startWorker, type WorkerProcess } from '../support/worker-process.ts';

// The `worker` command as an operator runs it: child processes of the real executable, the
// simulator over HTTP, a database and a Redis of each test's own (so Redis can be stopped).
describe('worker', () => {
  let simulator: Simulator;
  let redis: TestRedisServer;
  let sql: pg.Client;
  let env: Record<string, string>;
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    simulator = await startSimulator({
      port: 0,
      seed: 5,
      quota: null,
      regions: [
        { regionId: 'cn-hangzhou', images: 120 },
        { regionId: 'cn-shanghai', images: 6 },
      ],
    });
  });
  afterAll(async () => {
    await simulator?.close();
  });

  beforeEach(async () => {
    simulator.admin.clearFaults();
    const databaseUrl = await createTestDatabase();
    sql = new pg.Client({ connectionString: databaseUrl });
    await sql.connect();
    redis = await startRedisServer();
    env = {
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      SWAS_ENDPOINT: simulator.url,
      ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
      ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
      SWAS_RATE_LIMIT: '100/1s',
      SWAS_REGIONS: 'cn-hangzhou,cn-shanghai',
      SYNC_SCHEDULE: '1h',
      SYNC_WATCH_INTERVAL: 'off',
      // Several workers per test: each its own free port for the operations endpoint.
      HTTP_PORT: '0',
    };
  });
  afterEach(async () => {
    for (const worker of workers.splice(0)) {
      worker.kill('SIGKILL');
      await worker.exited;
    }
    await redis?.stop();
    await sql?.end();
  });

  const spawnWorker = (extra: Record<string, string> = {}) => {
    const worker = startWorker({ ...env, ...extra });
    workers.push(worker);
    return worker;
  };
  const count = async (query: string, values: unknown[] = []) =>
    Number((await sql.query<{ n: string }>(query, values)).rows[0]?.n);
  const runsOf = (regionId: string, status = 'succeeded') =>
    count("select count(*) as n from sync_runs where region_id = $1 and trigger <> 'watch' and status = $2", [
      regionId,
      status,
    ]);
  /** Exits within `ms` of the signal, or fails. */
  const exitWithin = async (worker: WorkerProcess, ms: number) => {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        worker.exited,
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => reject(new Error(`no exit within ${ms} ms:\n${worker.stderr()}`)), ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  };

  it('is listed by --help and has its own --help', async () => {
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/^\s+worker\s+run the long-running worker/m);
    const own = await runCli(['worker', '--help']);
    expect(own.exitCode).toBe(0);
    expect(own.stdout).toContain('Usage: swas-inventory worker');
    expect(own.stdout).toContain('SYNC_SCHEDULE');
  });

  it('two workers sync two regions repeatedly, never overlapping a region, one event per change', async () => {
    const schedule = { SYNC_SCHEDULE: '*/2 * * * * *' };
    const [a, b] = [spawnWorker(schedule), spawnWorker(schedule)];
    for (const region of ['cn-hangzhou', 'cn-shanghai']) {
      await waitFor(`3 syncs of ${region}`, async () => (await runsOf(region)) >= 3, { timeoutMs: 60_000 });
    }
    const [image] = simulator.admin.listImages('cn-shanghai').filter((i) => i.Status === '1');
    expect(image).toBeDefined();
    const imageId = image?.ImageId ?? '';
    simulator.admin.updateImage('cn-shanghai', imageId, { Status: '2' });
    const changedAt = Date.now();
    const startedAfter = (region: string) =>
      count(
        "select count(*) as n from sync_runs where region_id = $1 and trigger <> 'watch' and status = 'succeeded' and started_at > $2",
        [region, new Date(changedAt)],
      );
    for (const region of ['cn-hangzhou', 'cn-shanghai']) {
      await waitFor(`3 more syncs of ${region}`, async () => (await startedAfter(region)) >= 3, {
        timeoutMs: 60_000,
      });
    }
    expect(
      await count(
        "select count(*) as n from image_events where type = 'image.status_changed' and image_id = $1",
        [imageId],
      ),
    ).toBe(1);
    // No two full syncs of one region ran at the same time, whichever process ran them.
    expect(
      await count(
        `select count(*) as n from sync_runs x join sync_runs y
           on x.account = y.account and x.region_id = y.region_id and x.id < y.id
          where x.trigger <> 'watch' and y.trigger <> 'watch'
            and x.started_at < coalesce(y.finished_at, 'infinity') and y.started_at < coalesce(x.finished_at, 'infinity')`,
      ),
    ).toBe(0);
    expect(await count("select count(*) as n from sync_runs where status = 'failed'")).toBe(0);
    // Both replicas took part.
    for (const worker of [a, b]) expect(worker.stderr()).toContain('"msg":"region synced"');
    a.kill('SIGTERM');
    b.kill('SIGTERM');
    expect(await exitWithin(a, 10_000)).toEqual({ code: 0, signal: null });
    expect(await exitWithin(b, 10_000)).toEqual({ code: 0, signal: null });
  });

  it('a watch poll reports an image that turns failed long before the next full sync', async () => {
    const creating = simulator.admin.addImage('cn-shanghai', { Status: '4', Name: 'watch-me' });
    const receiver = await startWebhookReceiver();
    const worker = spawnWorker({
      SYNC_WATCH_INTERVAL: '1s',
      WEBHOOK_URL: `${receiver.url}/alerts`,
      WEBHOOK_SECRET: randomWebhookSecret(),
    });
    await waitFor('the start-up sync of cn-shanghai', async () => (await runsOf('cn-shanghai')) === 1, {
      timeoutMs: 30_000,
    });
    // Watch polls run while the image is creating, and find nothing to report.
    await waitFor(
      'a watch poll',
      async () =>
        (await count(
          "select count(*) as n from sync_runs where trigger = 'watch' and status = 'succeeded'",
        )) > 0,
      { timeoutMs: 15_000 },
    );
    simulator.admin.updateImage('cn-shanghai', creating.ImageId, { Status: '3' });
    const failedAt = Date.now();
    const event = await waitFor(
      'image.failed',
      async () =>
        (
          await sql.query<{ trigger: string; occurred_at: Date }>(
            `select r.trigger, e.occurred_at from image_events e join sync_runs r on r.id = e.sync_run_id
              where e.type = 'image.failed' and e.image_id = $1`,
            [creating.ImageId],
          )
        ).rows[0],
      { timeoutMs: 15_000 },
    );
    expect(event.trigger).toBe('watch');
    // SYNC_WATCH_INTERVAL (1 s) plus a bound for the poll itself on a loaded machine.
    expect(Date.now() - failedAt).toBeLessThan(8_000);
    // Only the start-up full syncs ran (the schedule is hourly), and nothing was deleted.
    expect(await runsOf('cn-shanghai')).toBe(1);
    expect(await count("select count(*) as n from image_events where type = 'image.deleted'")).toBe(0);
    expect(
      await count(
        "select count(*) as n from image_events where type = 'image.status_changed' and image_id = $1",
        [creating.ImageId],
      ),
    ).toBe(1);
    // The operations endpoint: ready, and the metrics of what it just did.
    const port = await waitFor('the operations endpoint', () => {
      const match = /"port":(\d+),"msg":"operations endpoint listening/.exec(worker.stderr());
      return match ? Number(match[1]) : undefined;
    });
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
    expect(ready.status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(
      /swas_inventory_sync_runs_total\{account="default",trigger="watch",status="succeeded"\} [1-9]/,
    );
    expect(metrics).toMatch(/swas_inventory_events_total\{type="image.failed",baseline="false"\} 1/);
    expect(metrics).toMatch(
      /swas_inventory_watch_detection_latency_seconds_count\{status="create_failed"\} 1/,
    );
    // The worker also delivers: the failure reaches the WEBHOOK_URL subscriber.
    const delivered = await waitFor('the image.failed webhook', () =>
      receiver.requests.find((r) => JSON.parse(r.body).type === 'image.failed'),
    );
    expect(JSON.parse(delivered.body).data.imageId).toBe(creating.ImageId);
    worker.kill('SIGTERM');
    expect((await exitWithin(worker, 10_000)).code).toBe(0);
    await receiver.close();
  });

  it('another replica re-runs the region of a worker killed mid-sync, and the abandoned run is closed', async () => {
    const hold = simulator.admin.injectFault({ kind: 'hold', regionId: 'cn-hangzhou', times: 1 });
    const fast = { SYNC_RUN_HEARTBEAT: '200ms' };
    const first = spawnWorker(fast);
    await waitFor('a held listing of cn-hangzhou', () => simulator.admin.heldCalls(hold) > 0, {
      timeoutMs: 30_000,
    });
    await waitFor(
      'the running run',
      async () =>
        (await count(
          "select count(*) as n from sync_runs where region_id = 'cn-hangzhou' and status = 'running'",
        )) === 1,
    );
    first.kill('SIGKILL');
    await first.exited;
    simulator.admin.releaseFault(hold);
    const second = spawnWorker(fast);
    await waitFor('a completed sync of cn-hangzhou', async () => (await runsOf('cn-hangzhou')) === 1, {
      timeoutMs: 60_000,
    });
    await waitFor(
      'no run left running',
      async () => (await count("select count(*) as n from sync_runs where status = 'running'")) === 0,
    );
    const abandoned = await sql.query<{ error: string }>(
      "select error from sync_runs where region_id = 'cn-hangzhou' and status = 'failed'",
    );
    expect(abandoned.rows).toHaveLength(1);
    expect(abandoned.rows[0]?.error).toMatch(/^abandoned/);
    // One baseline, written once: no duplicate events.
    expect(await count("select count(*) as n from image_events where region_id = 'cn-hangzhou'")).toBe(
      simulator.admin.listImages('cn-hangzhou').length,
    );
    expect(
      await count(
        "select count(*) as n from (select image_id from image_events where region_id = 'cn-hangzhou' group by image_id, type having count(*) > 1) d",
      ),
    ).toBe(0);
    second.kill('SIGTERM');
    expect((await exitWithin(second, 10_000)).code).toBe(0);
  });

  it('on SIGTERM aborts a sync that cannot finish in time, records it failed and exits 0 within 10 s', async () => {
    const hold = simulator.admin.injectFault({ kind: 'hold', regionId: 'cn-hangzhou', times: 1 });
    const worker = spawnWorker();
    await waitFor('a held listing of cn-hangzhou', () => simulator.admin.heldCalls(hold) > 0, {
      timeoutMs: 30_000,
    });
    const signalledAt = Date.now();
    worker.kill('SIGTERM');
    const exit = await exitWithin(worker, 10_000);
    simulator.admin.releaseFault(hold);
    expect(exit, worker.stderr()).toEqual({ code: 0, signal: null });
    expect(Date.now() - signalledAt).toBeLessThan(10_000);
    expect(await count("select count(*) as n from sync_runs where status = 'running'")).toBe(0);
    const failed = await sql.query<{ error: string }>(
      "select error from sync_runs where region_id = 'cn-hangzhou' and status = 'failed'",
    );
    expect(failed.rows[0]?.error).toMatch(/aborted/);
  });

  it('recovers when its Redis is stopped and comes back empty, with one log line for the outage', async () => {
    const worker = spawnWorker({ SYNC_SCHEDULE: '1s' });
    await waitFor('a sync of cn-shanghai', async () => (await runsOf('cn-shanghai')) >= 1, {
      timeoutMs: 30_000,
    });
    await redis.stop();
    await waitFor('the outage line', () => /Redis at [^ ]+ is unreachable/.test(worker.stderr()), {
      timeoutMs: 20_000,
    });
    const restartedAt = new Date();
    await redis.start();
    await waitFor(
      'a sync after Redis came back',
      async () =>
        (await count(
          "select count(*) as n from sync_runs where region_id = 'cn-shanghai' and status = 'succeeded' and started_at > $1",
          [restartedAt],
        )) >= 2,
      { timeoutMs: 60_000 },
    );
    expect(worker.stderr()).toMatch(/Redis at [^ ]+ answers again/);
    expect(worker.stderr().match(/Redis at [^ ]+ is unreachable/g)).toHaveLength(1);
    worker.kill('SIGTERM');
    expect((await exitWithin(worker, 10_000)).code).toBe(0);
  });
});
