/**
 * `npm run bench` (part): whole `sync --once` processes, cold, as a user runs them, next to floors
 * measured in the same run (see RESULTS.md, section "sync --once processes").
 *
 * For each region size (BENCH_SIZES, default 20000,100000) the simulator (in this process, no
 * quota) serves one region; every figure is a child process timed by `/usr/bin/time` (wall time
 * and peak RSS):
 * - floors: our own `sync --once` over an empty region (the fixed cost of a process), a minimal
 *   signed client fetching and parsing the same pages (bench/floor-client.ts), and `COPY` of the
 *   rows a baseline writes into the three tables (timed in this process, server side);
 * - syncs, each in a fresh process: the baseline (first sync into a fresh database), a no-op, a
 *   second no-op (its WAL measured with `pg_current_wal_lsn`), and a 1% change;
 * - cold against warm: processes that sync the unchanged region twice (bench/noop-twice.ts),
 *   judged by the median of each process's own ratio, beside one process a run of the minimal
 *   client reading the region twice (the floor's own gap); up to 20,000 images, also one process
 *   a run that syncs another unchanged region of the same size first (what is left of the gap then),
 *   and one that syncs the region twice with every page answered 25 ms later (the gap a caller
 *   one network hop from the API sees).
 * Medians of BENCH_RUNS (default 3) repetitions; regions above 20,000 images BENCH_RUNS_LARGE
 * (default 3). The fixed cost, the listing floor and cold against warm take several processes per
 * repetition.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrateDatabase } from '../src/db/migrate.ts';
import { type Simulator, startSimulator } from '../src/simulator/index.ts';
import { copyField, copyFromStdin } from './copy-in.ts';
import { withDatabase } from './databases.ts';
import { binNodeFlags } from './node-flags.ts';

const SIZES = (process.env.BENCH_SIZES ?? '20000,100000').split(',').map(Number);
const RUNS = Number(process.env.BENCH_RUNS) || 3;
/**
 * Regions above 20,000 images take about a minute per repetition; a single one let one fast floor
 * process and one slow sync decide a verdict (a 100,000-image no-op once read 1.41× that way).
 */
const runsFor = (size: number) => (size > 20_000 ? Number(process.env.BENCH_RUNS_LARGE) || 3 : RUNS);
/** Processes per run for the fixed cost (under a second each) and for cold against warm. */
const FIXED_PER_RUN = 3;
const TWICE_PER_RUN = 2;
/** Minimal-client processes per run: the listing floor divides every sync ratio, as the fixed cost does. */
const FLOOR_PER_RUN = 3;
const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const BIN = fileURLToPath(new URL('../bin/swas-inventory', import.meta.url));
const FLOOR_CLIENT = fileURLToPath(new URL('./floor-client.ts', import.meta.url));
const NOOP_TWICE = fileURLToPath(new URL('./noop-twice.ts', import.meta.url));
/** The preload that enables the compile cache, as bin/swas-inventory loads it first. */
const COMPILE_CACHE = fileURLToPath(new URL('../bin/compile-cache.mjs', import.meta.url));
const RESULTS_FILE = new URL('./RESULTS.md', import.meta.url);
const TIME = '/usr/bin/time';
const REGION = 'cn-bench';
/** A second region of the same size, synced first by the cold-against-warm processes that measure it. */
const OTHER_REGION = 'cn-bench-other';
/** Sizes up to this also measure a region's first sync after another region's (its baseline is a minute above). */
const AFTER_OTHER_MAX_SIZE = 20_000;
/**
 * For the same sizes, cold against warm once more with every page answered this much later (ms):
 * an endpoint one network hop away, as the API is to any real caller, rather than loopback.
 */
const API_LATENCY_MS = 25;
const TABLES = ['custom_images', 'custom_image_versions', 'image_events'] as const;

/** Targets of the lean-sync work, by region size. */
const TARGETS = {
  noopRatio: 1.3,
  changeRatio: 1.5,
  baselineRatio: 3,
  walBytes: 64 * 1024,
  coldVsWarm: 1.1,
  fixedMs: 600,
  rssMb: (size: number, scenario: 'baseline' | 'noop' | 'change') =>
    size <= 20_000 ? 200 : scenario === 'baseline' ? 512 : 256,
};

interface ProcessFigure {
  ms: number;
  rssMb: number;
  stdout: string;
}

const urlFor = (name: string) => withDatabase(SERVER, name);

function timed(command: string, args: string[], env: Record<string, string>): Promise<ProcessFigure> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    execFile(
      TIME,
      ['-f', 'BENCH %e %M', command, ...args],
      {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', LOG_LEVEL: 'warn', ...env },
        maxBuffer: 64 << 20,
      },
      (error, stdout, stderr) => {
        const ms = performance.now() - started;
        const line = /BENCH ([\d.]+) (\d+)/.exec(stderr);
        if (error || !line) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${stderr.slice(-2000)}`, { cause: error }));
          return;
        }
        resolve({ ms, rssMb: Number(line[2]) / 1024, stdout });
      },
    );
  });
}

/** Each first duration against the second of the same process. */
const ratiosOf = (firsts: number[], seconds: number[]) =>
  firsts.map((ms, index) => ms / (seconds[index] ?? Number.NaN));

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

async function admin<T>(work: (client: pg.Client) => Promise<T>, database = 'postgres'): Promise<T> {
  const client = new pg.Client({ connectionString: urlFor(database) });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/**
 * Milliseconds this process takes for the same 100 million steps of integer arithmetic: on a
 * shared VM the speed of a core can change twofold from one second to the next, and this puts
 * that beside the figures.
 */
function cpuCheck(): number {
  const started = performance.now();
  let sum = 0;
  for (let i = 0; i < 100_000_000; i++) sum = (sum + (i % 7)) | 0;
  if (sum === -1) throw new Error('unreachable');
  return performance.now() - started;
}

/** CPU time the whole machine has spent busy and in all, from /proc/stat (jiffies). */
async function machineCpu(): Promise<{ busy: number; total: number }> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line
    .split(/\s+/)
    .slice(1)
    .map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy, total: busy + idle + iowait };
}

/**
 * Waits (at most a minute) until no autovacuum worker is running and the machine is idle (under
 * 10% busy over a quarter second): the runs before leave tables for autovacuum to work through,
 * and this process's own collector works through the images it generated. A timed process should
 * not share the CPUs with either by chance.
 */
async function settled(): Promise<void> {
  const deadline = performance.now() + 60_000;
  while (performance.now() < deadline) {
    const vacuuming = await admin(
      async (c) =>
        (
          await c.query<{ n: number }>(
            `select count(*)::int as n from pg_stat_activity where backend_type = 'autovacuum worker'`,
          )
        ).rows[0]?.n ?? 0,
    );
    const before = await machineCpu();
    await new Promise((resolve) => setTimeout(resolve, 250));
    const after = await machineCpu();
    const busyShare = (after.busy - before.busy) / Math.max(1, after.total - before.total);
    if (vacuuming === 0 && busyShare < 0.1) return;
  }
}

const loadAverage = () =>
  os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');

async function main(): Promise<void> {
  const loadAtStart = loadAverage();
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed to measure peak RSS (apt-get install time)`);
  const simulator = await startSimulator({
    port: 0,
    seed: 7,
    quota: null,
    regions: [{ regionId: 'cn-empty', images: 0 }],
  });
  const runId = randomBytes(3).toString('hex');
  const template = `swas_bench_${runId}_template`;
  const created: string[] = [template];
  await migrateDatabase({ databaseUrl: urlFor(template) });
  let databaseCount = 0;
  const dropDatabase = async (name: string) => {
    await admin((c) => c.query(`drop database if exists "${name}" with (force)`));
  };
  const freshDatabase = async () => {
    const name = `swas_bench_${runId}_${databaseCount++}`;
    await admin((c) => c.query(`create database "${name}" template "${template}"`));
    created.push(name);
    return name;
  };
  const sections: string[] = [];
  try {
    for (const size of SIZES) sections.push(await measureSize(simulator, size, freshDatabase, dropDatabase));
  } finally {
    await simulator.close();
    await admin(async (c) => {
      for (const name of created) await c.query(`drop database if exists "${name}" with (force)`);
    });
  }
  const pgVersion = await admin(
    async (c) => (await c.query<{ v: string }>('select version() as v')).rows[0]?.v ?? '',
  );
  const section = [
    '<!-- sync-process:start -->',
    '## `sync --once` processes',
    '',
    'Written by `bench/sync-process.ts` (part of `npm run bench`; `BENCH_SIZES`, `BENCH_RUNS`, `BENCH_RUNS_LARGE`). Every',
    'figure is a whole child process, cold, timed by `/usr/bin/time` (wall ms, peak RSS); medians of',
    `${RUNS} runs (${runsFor(100_000)} above 20,000 images; the fixed cost ${FIXED_PER_RUN} processes a run, the listing floor ${FLOOR_PER_RUN}). Floors from the same run: **fixed** = \`sync --once\` over an empty region (process`,
    'start-up, config, connection, one page); **listing** = a minimal signed client that fetches and',
    '`JSON.parse`s the same pages (bench/floor-client.ts); **COPY** = `COPY FROM STDIN` of the rows a',
    'baseline writes into the three tables, one transaction (server time, from this process). Each',
    'timed process starts once no autovacuum runs and the machine is under 10% busy. After the baseline',
    'the database gets `VACUUM (ANALYZE)`, as autovacuum would give it on a default server.',
    '',
    `- date: ${new Date().toISOString()}`,
    `- machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`,
    `- Node ${process.version}; ${pgVersion.split(' on ')[0]}`,
    `- load average (1, 5, 15 min) at the start ${loadAtStart}, at the end ${loadAverage()}: other work on the machine inflates the times`,
    '',
    ...sections,
    '<!-- sync-process:end -->',
  ].join('\n');
  const previous = existsSync(RESULTS_FILE) ? await readFile(RESULTS_FILE, 'utf8') : '# Benchmark results\n';
  const marked = /<!-- sync-process:start -->[\s\S]*<!-- sync-process:end -->/;
  await writeFile(
    RESULTS_FILE,
    marked.test(previous) ? previous.replace(marked, section) : `${previous.trimEnd()}\n\n${section}\n`,
  );
  process.stdout.write(`${section}\n`);
}

async function measureSize(
  simulator: Simulator,
  size: number,
  freshDatabase: () => Promise<string>,
  dropDatabase: (name: string) => Promise<void>,
): Promise<string> {
  simulator.admin.setRegion(REGION, size);
  const afterOtherMeasured = size <= AFTER_OTHER_MAX_SIZE;
  if (afterOtherMeasured) simulator.admin.setRegion(OTHER_REGION, size);
  const images = simulator.admin.listImages(REGION);
  const env = (database: string) => ({
    DATABASE_URL: urlFor(database),
    SWAS_ENDPOINT: simulator.url,
    ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
    ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
    SWAS_RATE_LIMIT: '100000/1s',
  });
  const sync = async (database: string, region = REGION) => {
    await settled();
    return timed(BIN, ['sync', '--once', '--no-deliver', '--region', region], env(database));
  };

  const fixed: ProcessFigure[] = [];
  const listing: ProcessFigure[] = [];
  const baseline: ProcessFigure[] = [];
  const noop: ProcessFigure[] = [];
  const noopAgain: ProcessFigure[] = [];
  const change: ProcessFigure[] = [];
  const wal: number[] = [];
  const copyMs: number[] = [];
  const cold: number[] = [];
  const warm: number[] = [];
  const afterOther: number[] = [];
  const afterOtherSecond: number[] = [];
  const withLatency: number[] = [];
  const withLatencySecond: number[] = [];
  const floorFirst: number[] = [];
  const floorSecond: number[] = [];
  const fixedDatabase = await freshDatabase();
  let copyPayloads: { table: string; columns: string[]; text: string }[] = [];

  const cpuChecks: number[] = [];
  for (let run = 0; run < runsFor(size); run++) {
    cpuChecks.push(cpuCheck());
    simulator.admin.setRegion(REGION, size);
    // The fixed cost is cheap and the figure every ratio divides by: several processes per run.
    for (let sample = 0; sample < FIXED_PER_RUN; sample++) fixed.push(await sync(fixedDatabase, 'cn-empty'));
    for (let sample = 0; sample < FLOOR_PER_RUN; sample++) {
      await settled();
      listing.push(await timed(process.execPath, [FLOOR_CLIENT, simulator.url, REGION], {}));
    }

    const database = await freshDatabase();
    baseline.push(await sync(database));
    // What autovacuum does within a minute of a first sync's inserts on a default server (the
    // test server here runs without it): the visibility map that lets a sync read the region's
    // keys from the index alone, and the planner's statistics.
    await admin((c) => c.query('vacuum (analyze)'), database);
    if (run === 0) copyPayloads = await dumpForCopy(database);
    noop.push(await sync(database));
    await settled(); // before the WAL position is read: an autovacuum's WAL would count
    const before = await admin(
      async (c) => (await c.query<{ l: string }>('select pg_current_wal_lsn() as l')).rows[0]?.l,
      database,
    );
    noopAgain.push(await sync(database));
    wal.push(
      await admin(
        async (c) =>
          Number(
            (await c.query<{ b: string }>('select pg_wal_lsn_diff(pg_current_wal_lsn(), $1) as b', [before]))
              .rows[0]?.b,
          ),
        database,
      ),
    );
    // A process that prints its own durations (ms), started once the machine is settled.
    const durationsOf = async (args: string[], processEnv: Record<string, string>) => {
      await settled();
      const printed = await timed(process.execPath, args, processEnv);
      return printed.stdout.trim().split(' ').map(Number);
    };
    const noopTwice = async (...regions: string[]) =>
      durationsOf(
        [...(await binNodeFlags()), '--import', COMPILE_CACHE, NOOP_TWICE, ...regions],
        env(database),
      );
    for (let sample = 0; sample < TWICE_PER_RUN; sample++) {
      const [first, second] = await noopTwice(REGION);
      cold.push(first ?? Number.NaN);
      warm.push(second ?? Number.NaN);
    }
    // The floor's own first and second listing in one process: how much of the sync's cold/warm
    // gap any client of this runtime pays on this machine.
    {
      const [first, second] = await durationsOf([FLOOR_CLIENT, simulator.url, REGION, 'twice'], {});
      floorFirst.push(first ?? Number.NaN);
      floorSecond.push(second ?? Number.NaN);
    }
    if (afterOtherMeasured) {
      await sync(database, OTHER_REGION); // its baseline, so that the process below finds it unchanged
      const [, first, second] = await noopTwice(REGION, OTHER_REGION);
      afterOther.push(first ?? Number.NaN);
      afterOtherSecond.push(second ?? Number.NaN);
      const latency = simulator.admin.injectFault({
        kind: 'latency',
        ms: API_LATENCY_MS,
        regionId: REGION,
        times: Infinity,
      });
      try {
        const [slowFirst, slowSecond] = await noopTwice(REGION);
        withLatency.push(slowFirst ?? Number.NaN);
        withLatencySecond.push(slowSecond ?? Number.NaN);
      } finally {
        simulator.admin.removeFault(latency);
      }
    }

    // 1%: renames and status changes spread over the listing.
    const step = 100;
    for (let index = 0; index < images.length; index += step) {
      const image = images[index];
      if (image)
        simulator.admin.updateImage(REGION, image.ImageId, {
          Name: `changed-${run}-${index}`,
          Status: index % 200 === 0 ? '2' : '1',
        });
    }
    change.push(await sync(database));
    // Done with it: dropped now, so that autovacuum does not work through it during later runs.
    await dropDatabase(database);
    const copyDatabase = await freshDatabase();
    await settled();
    copyMs.push(await copyFloor(copyDatabase, copyPayloads));
    await dropDatabase(copyDatabase);
  }

  const m = {
    fixed: median(fixed.map((f) => f.ms)),
    listing: median(listing.map((f) => f.ms)),
    copy: median(copyMs),
    baseline: median(baseline.map((f) => f.ms)),
    noop: median(noop.map((f) => f.ms)),
    noopAgain: median(noopAgain.map((f) => f.ms)),
    change: median(change.map((f) => f.ms)),
  };
  const floor = m.fixed + m.listing;
  const rows: string[][] = [];
  const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
  const peak = (figures: ProcessFigure[]) => Math.max(...figures.map((f) => f.rssMb));
  // Every run beside the median: on a shared machine the spread says how far a median can be trusted.
  const each = (values: number[]) => values.map(fmt).join(' / ');
  const msOf = (figures: ProcessFigure[]) => figures.map((f) => f.ms);
  rows.push([
    'fixed: `sync --once`, empty region',
    fmt(m.fixed),
    each(msOf(fixed)),
    fmt(peak(fixed)),
    `floor; start-up ≤ ${TARGETS.fixedMs} ms`,
    verdict(m.fixed <= TARGETS.fixedMs),
  ]);
  rows.push([
    'listing: minimal signed client',
    fmt(m.listing),
    each(msOf(listing)),
    fmt(peak(listing)),
    'floor',
    '',
  ]);
  rows.push(['COPY of the baseline rows (3 tables)', fmt(m.copy), each(copyMs), '—', 'floor', '']);
  const row = (
    name: string,
    ms: number,
    figures: ProcessFigure[],
    ratioTo: number,
    target: number,
    scenario: 'baseline' | 'noop' | 'change',
  ) => {
    const ratio = ms / ratioTo;
    const rss = peak(figures);
    const rssTarget = TARGETS.rssMb(size, scenario);
    rows.push([
      name,
      fmt(ms),
      each(msOf(figures)),
      fmt(rss),
      `${ratio.toFixed(2)}× (≤ ${target}×); RSS ≤ ${rssTarget} MB`,
      verdict(ratio <= target && rss <= rssTarget),
    ]);
  };
  row('baseline sync', m.baseline, baseline, floor + m.copy, TARGETS.baselineRatio, 'baseline');
  row('no-op sync', m.noop, noop, floor, TARGETS.noopRatio, 'noop');
  row('no-op sync after a no-op', m.noopAgain, noopAgain, floor, TARGETS.noopRatio, 'noop');
  row('1% change sync', m.change, change, floor, TARGETS.changeRatio, 'change');
  // pg_current_wal_lsn is the server's: other databases' writes count too, so the least of the
  // runs is the closest to this sync's own WAL (the most is shown as well).
  const walMin = Math.min(...wal);
  const walMax = Math.max(...wal);
  const coldMs = median(cold);
  const warmMs = median(warm);
  // Each process's own pair: its two syncs ran seconds apart, so a machine that changes speed
  // between processes moves both alike.
  const pairRatios = ratiosOf(cold, warm);
  const coldVsWarm = median(pairRatios);
  const floorRatios = ratiosOf(floorFirst, floorSecond);
  const afterOtherRatios = ratiosOf(afterOther, afterOtherSecond);
  const withLatencyRatios = ratiosOf(withLatency, withLatencySecond);
  cpuChecks.push(cpuCheck());
  return [
    `### ${size.toLocaleString('en-US')} images`,
    '',
    '| figure | median ms | every process, ms | peak RSS MB | against (fixed + listing [+ COPY]) | result |',
    '| --- | ---: | ---: | ---: | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `- WAL written by a no-op sync after a no-op (the server's WAL position, so other activity counts): least ${walMin.toLocaleString('en-US')} bytes, most ${walMax.toLocaleString('en-US')} bytes over ${runsFor(size)} runs (≤ 64 kB): ${verdict(walMin <= TARGETS.walBytes)}`,
    `- one process syncing the unchanged region twice (${cold.length} processes): first (cold) ${fmt(coldMs)} ms, second (warm) ${fmt(warmMs)} ms (medians); cold/warm of each process ${pairRatios.map((r) => r.toFixed(2)).join(' / ')}, median ${coldVsWarm.toFixed(2)} (≤ 1.1): ${verdict(coldVsWarm <= TARGETS.coldVsWarm)}`,
    `- the minimal client reading the region twice in one process (${floorFirst.length} processes): first ${fmt(median(floorFirst))} ms, second ${fmt(median(floorSecond))} ms (medians); first/second of each process ${floorRatios.map((r) => r.toFixed(2)).join(' / ')}, median ${median(floorRatios).toFixed(2)}: the part of the gap above that fetching and parsing alone pays`,
    ...(afterOther.length === 0
      ? []
      : [
          `- the same, but each process first syncs another unchanged region of ${size.toLocaleString('en-US')} images (${afterOther.length} processes): the region's first sync ${fmt(median(afterOther))} ms, its second ${fmt(median(afterOtherSecond))} ms (medians); first/second of each process ${afterOtherRatios.map((r) => r.toFixed(2)).join(' / ')}: what a fresh process adds is its own warming up, not something it keeps about a region`,
        ]),
    ...(withLatency.length === 0
      ? []
      : [
          `- one process syncing the unchanged region twice with every page answered ${API_LATENCY_MS} ms later, as an endpoint one network hop away answers (${withLatency.length} processes): first ${fmt(median(withLatency))} ms, second ${fmt(median(withLatencySecond))} ms (medians); first/second of each process ${withLatencyRatios.map((r) => r.toFixed(2)).join(' / ')}, median ${median(withLatencyRatios).toFixed(2)}: how much of the warming up a real caller sees (a diagnosis; the target is judged on loopback above)`,
        ]),
    `- the machine's speed: the same 100 million steps of arithmetic took ${fmt(Math.min(...cpuChecks))}–${fmt(Math.max(...cpuChecks))} ms when checked before each run and at the end`,
    '',
  ].join('\n');
}

const fmt = (value: number) => value.toLocaleString('en-US', { maximumFractionDigits: 0 });

/** The rows a baseline wrote, as COPY text payloads (columns in table order). */
async function dumpForCopy(database: string) {
  return admin(async (client) => {
    const payloads: { table: string; columns: string[]; text: string }[] = [];
    for (const table of TABLES) {
      const { rows, fields } = await client.query({ text: `select * from ${table}`, rowMode: 'array' });
      const columns = fields.map((f) => f.name);
      const text = rows
        .map((row: unknown[]) =>
          row
            .map((value) =>
              copyField(
                value === null
                  ? null
                  : value instanceof Date
                    ? value.toISOString()
                    : typeof value === 'object'
                      ? JSON.stringify(value)
                      : (value as string | number | boolean),
              ),
            )
            .join('\t'),
        )
        .join('\n');
      payloads.push({ table, columns, text: text === '' ? '' : `${text}\n` });
    }
    return payloads;
  }, database);
}

/** COPY of the payloads into a fresh database's empty tables, one transaction; ms. */
async function copyFloor(database: string, payloads: { table: string; columns: string[]; text: string }[]) {
  return admin(async (client) => {
    // Rows reference sync runs and statuses; the floor measures the three tables' load alone.
    await client.query('set session_replication_role = replica');
    const started = performance.now();
    await client.query('begin');
    for (const { table, columns, text } of payloads) {
      await copyFromStdin(
        client,
        `copy ${table} (${columns.map((c) => `"${c}"`).join(', ')}) from stdin`,
        text,
      );
    }
    await client.query('commit');
    return performance.now() - started;
  }, database);
}

await main();
