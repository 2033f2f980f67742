/**
 * `npm run bench` (part; alone: `npm run bench:worker`): whole `worker` processes against the
 * simulator enforcing per-account quotas (counted on arrival), each scenario with a fresh database
 * and a Redis of its own (a `redis-server` on a spare port). Writes the section "worker" of
 * RESULTS.md.
 *
 * 1. Two workers at SWAS_RATE_LIMIT=6/3s sync 6 regions of 250 images at start-up.
 * 2. A fleet of 50 accounts × 25 regions (BENCH_FLEET_IMAGES images each, default 20), the quota
 *    of 10 calls a minute scaled in time by BENCH_SCALE (default 2: 10 calls per 30 s), with 1 and
 *    3 replicas: the start-up cycle (every region synced once) against the quota-bound ideal.
 * 3. The same fleet with 3 replicas and watch polls on (SYNC_WATCH_INTERVAL 1m, scaled): in 3 of
 *    each account's 25 regions an image in status 4 turns 3 at a random moment during and after
 *    the start-up cycle; latency = when its `image.failed` was committed minus when the simulator
 *    changed it, scaled back to real time.
 *
 * Times: from the first API call the simulator answered to the last region's commit. Ideal:
 * (calls − burst) / rate per account, accounts in parallel.
 *
 * Diagnosis: BENCH_WORKER_ONLY=duo,fleet,watch picks scenarios, BENCH_REPLICAS=1,3 the fleet's
 * replica counts, BENCH_CALLS_DIR=<dir> keeps each scenario's API calls and sync runs as JSON (to
 * find where a cycle idles), BENCH_WORKER_NODE_OPTIONS passes NODE_OPTIONS (e.g. --cpu-prof) to
 * the workers.
 */
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { migrateDatabase } from '../src/db/migrate.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { startRedisServer } from '../test/support/redis-server.ts';
import { writeResultsSection } from './results-file.ts';
import { startBenchWorker } from './worker-child.ts';

const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SCALE = Number(process.env.BENCH_SCALE) || 2;
const FLEET_ACCOUNTS = Number(process.env.BENCH_FLEET_ACCOUNTS) || 50;
const FLEET_REGIONS = 25;
const FLEET_IMAGES = Number(process.env.BENCH_FLEET_IMAGES) || 20;
const FLEET_CONCURRENCY = process.env.BENCH_CONCURRENCY ?? '8';
const WATCHED_REGIONS = 3;
/** Transitional images in each watched region (every account sees them). */
const WATCHED_IMAGES = 10;

const urlFor = (name: string) => {
  const url = new URL(SERVER);
  url.pathname = `/${name}`;
  return url.toString();
};

async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: SERVER });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

interface Account {
  name: string;
  accessKeyId: string;
  regions: string[];
}

interface Scenario {
  label: string;
  accounts: Account[];
  /** Calls per interval, the simulator's and SWAS_RATE_LIMIT. */
  rate: { limit: number; intervalMs: number };
  replicas: number;
  env: Record<string, string>;
  simulator: Simulator;
  /** Runs while the workers sync; resolves when the scenario has what it measures. */
  during?(context: { sql: pg.Client; cycleDone: Promise<void> }): Promise<void>;
}

interface CycleFigure {
  seconds: number;
  fromSpawnSeconds: number;
  idealSeconds: number;
  /** The least time any client keeping the rate window (never more than N in any interval) could take. */
  boundSeconds: number;
  calls: number;
  throttles: number;
  regions: number;
  failed: number;
}

async function runScenario(scenario: Scenario): Promise<CycleFigure> {
  const database = `bench_worker_${randomBytes(4).toString('hex')}`;
  const databaseUrl = urlFor(database);
  await migrateDatabase({ databaseUrl });
  const redis = await startRedisServer();
  const accountsPath = join(os.tmpdir(), `bench-accounts-${randomBytes(4).toString('hex')}.json`);
  const credentials: Record<string, string> = {};
  await writeFile(
    accountsPath,
    JSON.stringify(
      scenario.accounts.map((account, index) => {
        credentials[`BENCH_ID_${index}`] = account.accessKeyId;
        credentials[`BENCH_SECRET_${index}`] = `${account.accessKeyId}-secret`;
        return {
          name: account.name,
          credentials: { accessKeyIdEnv: `BENCH_ID_${index}`, accessKeySecretEnv: `BENCH_SECRET_${index}` },
          regions: account.regions,
        };
      }),
    ),
  );
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  const spawnedAt = Date.now();
  const workers = Array.from({ length: scenario.replicas }, () =>
    startBenchWorker({
      DATABASE_URL: databaseUrl,
      REDIS_URL: redis.url,
      SWAS_ENDPOINT: scenario.simulator.url,
      SWAS_ACCOUNTS_FILE: accountsPath,
      SWAS_RATE_LIMIT: `${scenario.rate.limit}/${scenario.rate.intervalMs}ms`,
      HTTP_PORT: '0',
      ...(process.env.BENCH_WORKER_NODE_OPTIONS
        ? { NODE_OPTIONS: process.env.BENCH_WORKER_NODE_OPTIONS }
        : {}),
      ...credentials,
      ...scenario.env,
    }),
  );
  const total = scenario.accounts.reduce((sum, account) => sum + account.regions.length, 0);
  try {
    const fullRuns = async () =>
      (
        await sql.query<{ ok: string; failed: string; last: Date | null }>(
          `select count(distinct (account, region_id)) filter (where status = 'succeeded') as ok,
                  count(*) filter (where status = 'failed') as failed,
                  max(finished_at) filter (where status = 'succeeded') as last
             from sync_runs where trigger <> 'watch'`,
        )
      ).rows[0];
    const deadline = Date.now() + 15 * 60_000;
    const cycleDone = (async () => {
      for (;;) {
        const row = await fullRuns();
        if (Number(row?.ok) >= total) return;
        if (Date.now() > deadline) throw new Error(`${scenario.label}: cycle not done in 15 min`);
        for (const worker of workers) {
          if (worker.child.exitCode !== null) throw new Error(`a worker exited:\n${worker.stderr()}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();
    await Promise.all([cycleDone, scenario.during?.({ sql, cycleDone })]);
    const row = await fullRuns();
    const calls = scenario.simulator.admin.calls().filter((call) => call.action === 'ListCustomImages');
    if (process.env.BENCH_CALLS_DIR) {
      // Diagnosis: every call (time, account, answer) and every run, to look for the cycle's idle gaps.
      const { rows: runs } = await sql.query(
        'select account, region_id, trigger, status, started_at, finished_at from sync_runs order by started_at',
      );
      await writeFile(
        join(process.env.BENCH_CALLS_DIR, `${scenario.label.replace(/\W+/g, '-')}.json`),
        JSON.stringify({ calls, runs }),
      );
    }
    const first = Math.min(...calls.map((call) => call.at));
    const last = row?.last?.getTime() ?? Date.now();
    const perAccount = new Map<string, number>();
    for (const call of calls)
      perAccount.set(call.accessKeyId ?? '', (perAccount.get(call.accessKeyId ?? '') ?? 0) + 1);
    const spacing = scenario.rate.intervalMs / scenario.rate.limit;
    const { limit, intervalMs } = scenario.rate;
    const counts = [...perAccount.values()];
    const idealMs = Math.max(...counts.map((n) => Math.max(0, n - limit) * spacing));
    // Calls i and i + limit are at least an interval apart, so call n comes no sooner than this.
    const boundMs = Math.max(...counts.map((n) => Math.floor((n - 1) / limit) * intervalMs));
    return {
      seconds: (last - first) / 1_000,
      fromSpawnSeconds: (last - spawnedAt) / 1_000,
      idealSeconds: idealMs / 1_000,
      boundSeconds: boundMs / 1_000,
      calls: calls.length,
      throttles: calls.filter((call) => call.code?.startsWith('Throttling')).length,
      regions: Number(row?.ok),
      failed: Number(row?.failed),
    };
  } finally {
    for (const worker of workers) worker.child.kill('SIGTERM');
    await Promise.all(workers.map((worker) => worker.exited));
    await sql.end();
    await redis.stop();
    await rm(accountsPath, { force: true });
    await admin((client) => client.query(`drop database if exists "${database}" with (force)`));
  }
}

const regionIds = (count: number) =>
  Array.from({ length: count }, (_, i) => `xx-fleet-${String(i + 1).padStart(2, '0')}`);

function fleetAccounts(): Account[] {
  return Array.from({ length: FLEET_ACCOUNTS }, (_, i) => ({
    name: `fleet-${String(i + 1).padStart(2, '0')}`,
    accessKeyId: `fleet${String(i + 1).padStart(2, '0')}`,
    regions: regionIds(FLEET_REGIONS),
  }));
}

async function fleetSimulator(rate: { limit: number; intervalMs: number }) {
  const accounts = fleetAccounts();
  const simulator = await startSimulator({
    port: 0,
    seed: 21,
    quota: rate,
    accounts: accounts.map((account) => ({
      accessKeyId: account.accessKeyId,
      accessKeySecret: `${account.accessKeyId}-secret`,
    })),
    regions: regionIds(FLEET_REGIONS).map((regionId) => ({ regionId, images: FLEET_IMAGES })),
  });
  // Seeded regions hold some copying or creating images; in a real fleet those are rare and
  // transient, and every region holding one would be watch-polled each interval.
  for (const regionId of regionIds(FLEET_REGIONS)) {
    for (const image of simulator.admin.listImages(regionId)) {
      if (image.Status === '0' || image.Status === '4') {
        simulator.admin.updateImage(regionId, image.ImageId, { Status: '1' });
      }
    }
  }
  return { accounts, simulator };
}

const scaled = (realMs: number) => Math.round(realMs / SCALE);
const FLEET_RATE = { limit: 10, intervalMs: scaled(60_000) };
const loadBefore = os.loadavg();
const started = Date.now();
const rows: string[] = [];
const ratioCells = (figure: CycleFigure, target: number) => {
  const ideal = figure.seconds / figure.idealSeconds;
  const bound = figure.seconds / figure.boundSeconds;
  const pass = bound <= target && figure.throttles === 0 && figure.failed === 0;
  return `${figure.idealSeconds.toFixed(1)} s | ${ideal.toFixed(2)}× | ${figure.boundSeconds.toFixed(1)} s | ${bound.toFixed(2)}× | ≤ ${target}× | ${pass ? 'PASS' : 'MISS'}`;
};
const row = (label: string, figure: CycleFigure, target: number) => {
  const line = `| ${label} | ${figure.regions} | ${figure.calls} | ${figure.throttles} | ${figure.failed} | ${figure.seconds.toFixed(1)} s | ${figure.fromSpawnSeconds.toFixed(1)} s | ${ratioCells(figure, target)} |`;
  rows.push(line);
  console.log(line);
};

const ONLY = process.env.BENCH_WORKER_ONLY?.split(',');
const runs = (name: string) => ONLY === undefined || ONLY.includes(name);

// 1. Two workers at 6 calls per 3 s.
if (runs('duo')) {
  const regions = ['cn-hangzhou', 'cn-shanghai', 'cn-beijing', 'cn-shenzhen', 'ap-southeast-1', 'us-west-1'];
  const rate = { limit: 6, intervalMs: 3_000 };
  const simulator = await startSimulator({
    port: 0,
    seed: 5,
    quota: rate,
    accounts: [{ accessKeyId: 'duo', accessKeySecret: 'duo-secret' }],
    regions: regions.map((regionId) => ({ regionId, images: 250 })),
  });
  try {
    const figure = await runScenario({
      label: 'two workers',
      accounts: [{ name: 'duo', accessKeyId: 'duo', regions }],
      rate,
      replicas: 2,
      env: { SYNC_SCHEDULE: '1h', SYNC_WATCH_INTERVAL: 'off' },
      simulator,
    });
    row('2 workers, 1 account × 6 regions × 250 images, 6 calls / 3 s', figure, 1.3);
  } finally {
    await simulator.close();
  }
}

// 2. The fleet's start-up cycle with 1 and 3 replicas.
for (const replicas of runs('fleet') ? (process.env.BENCH_REPLICAS ?? '1,3').split(',').map(Number) : []) {
  const { accounts, simulator } = await fleetSimulator(FLEET_RATE);
  try {
    const figure = await runScenario({
      label: `fleet, ${replicas} replica(s)`,
      accounts,
      rate: FLEET_RATE,
      replicas,
      env: { SYNC_SCHEDULE: '1h', SYNC_WATCH_INTERVAL: 'off', SYNC_CONCURRENCY: FLEET_CONCURRENCY },
      simulator,
    });
    row(
      `fleet ${FLEET_ACCOUNTS} × ${FLEET_REGIONS} × ${FLEET_IMAGES} images, ${replicas} replica(s)`,
      figure,
      1.1,
    );
  } finally {
    await simulator.close();
  }
}

// 3. Failure detection with watch polls, 3 replicas, failures during and after the start-up cycle.
const latencies: number[] = [];
let latencyFigure: CycleFigure | undefined;
if (runs('watch')) {
  const { accounts, simulator } = await fleetSimulator(FLEET_RATE);
  // Every account sees every region's images, so these are transitional images of every account.
  const watchedImages = regionIds(WATCHED_REGIONS).flatMap((regionId) =>
    Array.from({ length: WATCHED_IMAGES }, (_, i) => ({
      regionId,
      imageId: simulator.admin.addImage(regionId, { Status: '4', Name: `creating-${i}` }).ImageId,
    })),
  );
  const changedAt = new Map<string, number>();
  try {
    latencyFigure = await runScenario({
      label: 'fleet with watch polls',
      accounts,
      rate: FLEET_RATE,
      replicas: 3,
      env: {
        SYNC_SCHEDULE: `${scaled(15 * 60_000)}ms`,
        SYNC_WATCH_INTERVAL: `${scaled(60_000)}ms`,
        SYNC_CONCURRENCY: FLEET_CONCURRENCY,
      },
      simulator,
      async during({ sql }) {
        // The watched regions are the first of each account, synced in the first turns: wait for
        // their baselines, then fail the images at random moments over the next two minutes (real).
        await waitUntil(async () => {
          const { rows: done } = await sql.query<{ n: string }>(
            `select count(distinct (account, region_id)) as n from sync_runs
              where status = 'succeeded' and trigger <> 'watch' and region_id = any($1)`,
            [regionIds(WATCHED_REGIONS)],
          );
          return Number(done[0]?.n) >= accounts.length * WATCHED_REGIONS;
        });
        const windowMs = scaled(120_000);
        await Promise.all(
          watchedImages.map(async ({ regionId, imageId }) => {
            await new Promise((resolve) => setTimeout(resolve, Math.random() * windowMs));
            simulator.admin.updateImage(regionId, imageId, { Status: '3' });
            changedAt.set(imageId, Date.now());
          }),
        );
        await waitUntil(async () => {
          const { rows: seen } = await sql.query<{ n: string }>(
            "select count(*) as n from image_events where type = 'image.failed'",
          );
          return Number(seen[0]?.n) >= watchedImages.length * accounts.length;
        }, 10 * 60_000);
        const { rows: events } = await sql.query<{ image_id: string; recorded: Date }>(
          `select e.image_id, r.finished_at as recorded from image_events e
             join sync_runs r on r.id = e.sync_run_id where e.type = 'image.failed'`,
        );
        for (const event of events) {
          const at = changedAt.get(event.image_id);
          if (at !== undefined) latencies.push((event.recorded.getTime() - at) * SCALE);
        }
      },
    });
  } finally {
    await simulator.close();
  }
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 5 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('bench: a condition was not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

latencies.sort((a, b) => a - b);
const percentile = (p: number) =>
  latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? Number.NaN;
const p95 = percentile(95) / 1_000;
const loadAfter = os.loadavg();
const markdown = `## Worker: shared budget, fleet cycle and failure detection${ONLY || process.env.BENCH_SCALE ? ` (only ${ONLY?.join(', ') ?? 'all'}, time scaled ${SCALE}×)` : ''}

Run with \`npm run bench:worker\` (or \`npm run bench\`); PostgreSQL from \`DATABASE_URL\` (default
\`postgres://postgres@127.0.0.1:5432/postgres\`), \`redis-server\` on PATH (each scenario starts its
own); about ${Math.ceil((Date.now() - started) / 60_000)} minutes. The script rewrites this section on each run.

Real \`worker\` processes (\`bin/swas-inventory worker\`) against the simulator, which enforces each
account's quota on arrival. Time: first API call to the last region's commit ("from spawn" adds
process start-up). Ideal: (calls − burst) / rate for each account, accounts in parallel. Window
bound: the least time under the rate rule (never more than N calls in any interval), where
calls i and i + N are an interval apart: ⌊(calls − 1) / N⌋ × interval. The two agree when an
account's calls are a multiple of N; with 25 calls at 10 per interval the ideal (1.5 intervals)
cannot be reached by any client that keeps the rule (2 intervals), so the target applies to the
bound. Fleet:
${FLEET_ACCOUNTS} accounts × ${FLEET_REGIONS} regions × ${FLEET_IMAGES} images (one page each), time scaled
${SCALE}×: the quota is 10 calls per ${FLEET_RATE.intervalMs / 1_000} s standing for 10 per minute, so the fleet
runs ${SCALE}× the real load; \`SYNC_CONCURRENCY=${FLEET_CONCURRENCY}\` per replica.

| scenario | regions | calls | Throttling | failed runs | time | from spawn | ideal | ratio | window bound | ratio | target | result |
| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
${rows.join('\n')}

${
  runs('watch')
    ? `Failure detection, 3 replicas, watch polls every ${scaled(60_000) / 1_000} s (1 min real), schedule ${scaled(15 * 60_000) / 1_000} s
(15 min real): ${latencies.length} \`image.failed\` events (${WATCHED_REGIONS} regions of every account hold an image
in status 4 that turns 3 at a random moment within 2 min (real; ${WATCHED_IMAGES} such images a region) of those regions' baselines,
partly while the start-up cycle is still quota-bound). Latency = commit of the event's run minus
the change, × ${SCALE}:

| p50 | p95 | max | target p95 | result |
| ---: | ---: | ---: | ---: | ---: |
| ${(percentile(50) / 1_000).toFixed(1)} s | ${p95.toFixed(1)} s | ${((latencies.at(-1) ?? Number.NaN) / 1_000).toFixed(1)} s | ≤ 90 s | ${p95 <= 90 && (latencyFigure?.throttles ?? 1) === 0 ? 'PASS' : 'MISS'} |

(That run: ${latencyFigure?.calls} calls, ${latencyFigure?.throttles} Throttling, start-up cycle ${latencyFigure?.seconds.toFixed(1)} s against a window bound of ${latencyFigure?.boundSeconds.toFixed(1)} s, watch calls included.)`
    : '(Failure detection: not run.)'
}

- date: ${new Date().toISOString()}
- machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; load average before ${loadBefore.map((l) => l.toFixed(2)).join(' ')}, after ${loadAfter.map((l) => l.toFixed(2)).join(' ')} (the machine is shared)
- Node ${process.version}
`;
// The default run keeps section "worker"; a partial or rescaled one writes a section of its own.
const section =
  ONLY === undefined && !process.env.BENCH_SCALE
    ? 'worker'
    : `worker-${(ONLY ?? ['all']).join('-')}-scale-${SCALE}`;
await writeResultsSection(section, markdown);
console.log(markdown);
