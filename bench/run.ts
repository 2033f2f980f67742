/**
 * `npm run bench`: the sync's diff + database path over one 20,000-image region (see RESULTS.md).
 *
 * A throwaway database (created, migrated, dropped) on the server of `DATABASE_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres); the simulator serves the region, listed ONCE
 * through the real SWAS client; then every sync runs through the real `runRegionSync` +
 * `createSyncStore` with a lister that hands back that listing, so the figures are ours alone.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pg from 'pg';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { ATTRIBUTE_COLUMNS, jsonRow, jsonRowColumns } from '../src/db/image-row.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { createSyncStore } from '../src/db/sync-store.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { systemClock } from '../src/shared/clock.ts';
import { randomIds } from '../src/shared/ids.ts';
import { startSimulator } from '../src/simulator/index.ts';
import type { ListedImage, Listing } from '../src/sync/model.ts';
import { runRegionSync, type SyncStore } from '../src/sync/run-sync.ts';
import { copyField, copyFromStdin } from './copy-in.ts';
import { dropDatabase, withDatabase } from './databases.ts';
import { nextChangedListing } from './listing-changes.ts';
import { writeResultsSection } from './results-file.ts';

const IMAGES = 20_000;
const REGION = 'cn-hangzhou';
const runsOverride = Number(process.env.BENCH_RUNS) || 0;
const RUNS = { baseline: runsOverride || 5, noop: runsOverride || 9, change: runsOverride || 9 };
const CHANGE = { modified: 200, added: 5, removed: 5 };
const TARGET = { noop: 100_000, change: 80_000, baselineVsRaw: 3 };

// A collection between repetitions keeps one run's garbage out of the next one's figure.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

interface Phases {
  /** Lock + the session's reads (keys, states the plan needs, ids stored elsewhere). */
  read: number;
  plan: number;
  /** `applyPlan` + `finishRun` + COMMIT. */
  write: number;
}

interface Sample {
  ms: number;
  phases?: Phases;
}

interface Row {
  name: string;
  samples: Sample[];
  /** Images per run (for images/s). */
  images: number;
  target: string;
  pass: boolean | null;
}

const median = (values: readonly number[]): number => {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const best = (values: readonly number[]): number => Math.min(...values);
const rate = (images: number, ms: number): number => Math.round((images / ms) * 1000);
const fmt = (n: number): string => n.toLocaleString('en-US', { maximumFractionDigits: 0 });
const fmtMs = (n: number): string => n.toFixed(1);

async function main(): Promise<void> {
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `swas_bench_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const benchUrl = withDatabase(serverUrl, dbName);
  const startedAt = performance.now();
  let heapPeak = 0;
  const sampler = setInterval(() => {
    heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
  }, 5);
  sampler.unref();

  const simulator = await startSimulator({
    port: 0,
    quota: null,
    regions: [{ regionId: REGION, images: IMAGES }],
  });
  let app: ReturnType<typeof createApp> | undefined;
  let sqlClient: pg.Client | undefined;
  try {
    await migrateDatabase({ databaseUrl: benchUrl });
    const config = loadConfig(
      {
        DATABASE_URL: benchUrl,
        SWAS_ENDPOINT: simulator.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
        SWAS_REGIONS: REGION,
        SWAS_RATE_LIMIT: '100000/1s',
      },
      { readFile: () => '' },
    );
    app = createApp(config, { logger: silentLogger });
    const account = config.accounts[0]!;
    sqlClient = new pg.Client({ connectionString: benchUrl });
    await sqlClient.connect();
    const sql = sqlClient;
    const serverVersion =
      (await sql.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';

    // The listing, once, through the real client (signing, paging, validation) against the simulator.
    const client = app.swasClient(account);
    const listStarted = performance.now();
    const fetched = await client.listAllImages(REGION);
    const listMs = performance.now() - listStarted;
    if (!fetched.complete || fetched.images.length !== IMAGES)
      throw new Error(`listing not complete: ${fetched.images.length} images, ${fetched.incompleteReason}`);
    console.log(
      `listing: ${fmt(fetched.images.length)} images in ${fmtMs(listMs)} ms over ${fetched.apiCalls} API calls ` +
        `(${fetched.pages} pages; bounded by the simulator, not part of the figures below)`,
    );

    let current: Listing = fetched;
    const lister = {
      listAllImages: async () => current,
      listImagesByIds: async () => {
        throw new Error('not used by the bench');
      },
    };
    const phases: Phases[] = [];
    // A new store, as the first sync of a process makes (no state is kept between syncs).
    const database = app.database();
    const newStore = () =>
      timedStore(
        createSyncStore(database, {
          heartbeatMs: config.sync.heartbeatMs,
          lockTimeoutMs: config.sync.lockTimeoutMs,
          clock: systemClock,
        }),
        phases,
      );
    let store = newStore();
    const scope = { account: account.name, regionId: REGION };
    const sync = async (expect: (counts: Record<string, number>) => boolean): Promise<Sample> => {
      gc();
      const started = performance.now();
      const result = await runRegionSync(
        { lister, store, clock: systemClock, ids: randomIds },
        { scope, trigger: 'manual', deleteBrake: config.sync.deleteBrake },
      );
      const ms = performance.now() - started;
      if (result.status !== 'succeeded' || !expect(result.counts))
        throw new Error(`unexpected sync result: ${JSON.stringify(result)}`);
      return { ms, phases: phases.at(-1) as Phases };
    };

    await sql.query(`create table bench_raw_images (like custom_images including all)`);
    const copyPayload = () => copyText(fetched.images, account.name, Date.now());

    // (a) baseline, interleaved with the raw bulk loads of the same rows so both see the same machine.
    const baseline: Sample[] = [];
    const copy: Sample[] = [];
    const jsonInsert: Sample[] = [];
    current = fetched;
    for (let run = 0; run < RUNS.baseline; run++) {
      await sql.query('truncate bench_raw_images');
      gc();
      let started = performance.now();
      await copyFromStdin(sql, `copy bench_raw_images (${RAW_COLUMNS}) from stdin`, copyPayload());
      copy.push({ ms: performance.now() - started });

      await sql.query('truncate bench_raw_images');
      gc();
      started = performance.now();
      await jsonInsertRows(sql, fetched.images, account.name, Date.now());
      jsonInsert.push({ ms: performance.now() - started });

      await sql.query(
        'truncate webhook_deliveries, image_events, custom_image_versions, custom_images, sync_runs',
      );
      baseline.push(await sync((c) => c.created === IMAGES && c.events === IMAGES));
    }

    // As autovacuum would after a 20,000-row load (it is off on some test servers): planner
    // statistics and a vacuumed table, as a sync 15 minutes after the baseline finds them.
    await sql.query('vacuum analyze custom_images, custom_image_versions, image_events, sync_runs');

    // (b) no-op re-sync of the unchanged listing: cold (a new store, as the first sync of a process)
    // and warm (later syncs of the same store); nothing is kept between syncs, so they should agree.
    const unchanged = (c: Record<string, number>) => c.imagesSeen === IMAGES && c.events === 0;
    const noopCold: Sample[] = [];
    for (let run = 0; run < RUNS.noop; run++) {
      store = newStore();
      noopCold.push(await sync(unchanged));
    }
    const noop: Sample[] = [];
    for (let run = 0; run < RUNS.noop; run++) noop.push(await sync(unchanged));

    // (c) 1% change: each round changes 200 more images, adds 5 and loses 5.
    const change: Sample[] = [];
    for (let run = 0; run < RUNS.change; run++) {
      const round = nextChangedListing(current, run + 1, CHANGE);
      current = round.listing;
      change.push(
        await sync(
          (c) => c.updated === round.modified && c.created === round.added && c.deleted === round.removed,
        ),
      );
    }

    const baselineMedian = median(baseline.map((s) => s.ms));
    const copyMedian = median(copy.map((s) => s.ms));
    const rows: Row[] = [
      {
        name: 'raw bulk load: COPY FROM STDIN (text)',
        samples: copy,
        images: IMAGES,
        target: 'reference',
        pass: null,
      },
      {
        name: 'raw bulk insert: INSERT … SELECT jsonb doc',
        samples: jsonInsert,
        images: IMAGES,
        target: '—',
        pass: null,
      },
      {
        name: '(a) baseline sync',
        samples: baseline,
        images: IMAGES,
        target: `≤ ${TARGET.baselineVsRaw}× COPY (${fmtMs(copyMedian * TARGET.baselineVsRaw)} ms)`,
        pass: baselineMedian <= copyMedian * TARGET.baselineVsRaw,
      },
      {
        name: '(b) no-op re-sync, cold (first sync of the scope in a process)',
        samples: noopCold,
        images: IMAGES,
        target: 'info',
        pass: null,
      },
      {
        name: '(b) no-op re-sync (steady state)',
        samples: noop,
        images: IMAGES,
        target: `≥ ${fmt(TARGET.noop)}/s`,
        pass: rate(IMAGES, median(noop.map((s) => s.ms))) >= TARGET.noop,
      },
      {
        name: `(c) 1% change re-sync (${CHANGE.modified} changed, +${CHANGE.added}, -${CHANGE.removed})`,
        samples: change,
        images: IMAGES,
        target: `≥ ${fmt(TARGET.change)}/s`,
        pass: rate(IMAGES, median(change.map((s) => s.ms))) >= TARGET.change,
      },
    ];
    const memory = {
      rssMiB: process.resourceUsage().maxRSS / 1024,
      heapMiB: heapPeak / 1024 / 1024,
    };
    const machine = {
      date: new Date().toISOString(),
      cpus: `${os.availableParallelism()} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
      node: process.version,
      postgres: serverVersion,
      totalSeconds: (performance.now() - startedAt) / 1000,
    };
    const report = render(rows, memory, machine, {
      listMs,
      apiCalls: fetched.apiCalls,
      pages: fetched.pages,
      baselineRatio: baselineMedian / copyMedian,
    });
    console.log(report.console);
    await writeResultsSection('sync', report.markdown);
    console.log(`written to bench/RESULTS.md`);
    if (rows.some((row) => row.pass === false)) process.exitCode = 1;
  } finally {
    await sqlClient?.end().catch(() => undefined);
    await app?.close();
    await simulator.close();
    await dropDatabase(serverUrl, dbName);
  }
}

/**
 * The store, with each region commit split into read / plan / write: read ends when the last read
 * of the session returns, write begins when the plan is applied (and runs through COMMIT).
 */
function timedStore(inner: SyncStore, phases: Phases[]): SyncStore {
  return {
    ...inner,
    async withRegion(scope, signal, work) {
      const started = performance.now();
      let read = started;
      let planned = started;
      const timed =
        <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
        async (...args: A): Promise<R> => {
          const result = await fn(...args);
          read = performance.now();
          return result;
        };
      const result = await inner.withRegion(scope, signal, (session) =>
        work({
          readKeys: timed(session.readKeys),
          readStates: timed(session.readStates),
          findElsewhere: timed(session.findElsewhere),
          apply: (run, startedRun, outcome, plan) => {
            planned = performance.now();
            return session.apply(run, startedRun, outcome, plan);
          },
        }),
      );
      phases.push({ read: read - started, plan: planned - read, write: performance.now() - planned });
      return result;
    },
  };
}

/** The `custom_images` row of each listed image as a baseline writes it, one array per column. */
function columnsOf(images: readonly ListedImage[], account: string, now: number): unknown[][] {
  const at = new Date(now).toISOString();
  return [
    images.map(() => account),
    images.map((i) => i.state.imageId),
    ...ATTRIBUTE_COLUMNS.map((a) =>
      images.map((i) => (a.type === 'jsonb' ? JSON.stringify(i.state[a.attribute]) : i.state[a.attribute])),
    ),
    images.map(() => 1),
    images.map(() => at),
    images.map(() => at),
    images.map(() => null),
    images.map((i) => JSON.stringify(i.raw)),
  ];
}

const RAW_COLUMNS = ['account', 'image_id', ...ATTRIBUTE_COLUMNS.map((a) => a.column.name)]
  .concat(['version', 'first_seen_at', 'last_seen_at', 'deleted_at', 'raw'])
  .map((name) => `"${name}"`)
  .join(', ');

function copyText(images: readonly ListedImage[], account: string, now: number): string {
  const columns = columnsOf(images, account, now);
  const lines: string[] = new Array(images.length);
  for (let row = 0; row < images.length; row++)
    lines[row] = columns
      .map((column) => copyField(column[row] as string | number | boolean | null))
      .join('\t');
  return `${lines.join('\n')}\n`;
}

/** The same rows in one INSERT … SELECT over one jsonb document (the mechanism `applyPlan` uses). */
async function jsonInsertRows(
  sql: pg.Client,
  images: readonly ListedImage[],
  account: string,
  now: number,
): Promise<void> {
  const at = new Date(now).toISOString();
  const rows = JSON.stringify(images.map((i) => jsonRow(i.state.imageId, 1, i.hash, i.raw, i.state)));
  const names = ATTRIBUTE_COLUMNS.map((a) => `u."${a.column.name}"`).join(', ');
  await sql.query(
    `insert into bench_raw_images (${RAW_COLUMNS})
     select $1, u.image_id, ${names}, u.version, $2::timestamptz, $2::timestamptz, null, u.raw
     from (select ${jsonRowColumns('e')} from jsonb_array_elements($3::jsonb) as e) as u`,
    [account, at, rows],
  );
}

function render(
  rows: readonly Row[],
  memory: { rssMiB: number; heapMiB: number },
  machine: { date: string; cpus: string; node: string; postgres: string; totalSeconds: number },
  listing: { listMs: number; apiCalls: number; pages: number; baselineRatio: number },
): { console: string; markdown: string } {
  const header = [
    'scenario',
    'runs',
    'median ms',
    'best ms',
    'median img/s',
    'best img/s',
    'target',
    'result',
  ];
  const table = rows.map((row) => {
    const ms = row.samples.map((s) => s.ms);
    return [
      row.name,
      String(ms.length),
      fmtMs(median(ms)),
      fmtMs(best(ms)),
      fmt(rate(row.images, median(ms))),
      fmt(rate(row.images, best(ms))),
      row.target,
      row.pass === null ? '' : row.pass ? 'PASS' : 'MISS',
    ];
  });
  const phaseHeader = ['sync', 'total', 'lock + read', 'plan', 'write + commit', 'start run + rest'];
  const phaseRows = rows
    .filter((row) => row.samples[0]?.phases)
    .map((row) => {
      const p = (pick: (s: Sample) => number) => fmtMs(median(row.samples.map(pick)));
      const ph = (s: Sample) => s.phases as Phases;
      return [
        row.name,
        p((s) => s.ms),
        p((s) => ph(s).read),
        p((s) => ph(s).plan),
        p((s) => ph(s).write),
        p((s) => s.ms - ph(s).read - ph(s).plan - ph(s).write),
      ];
    });
  const notes = [
    `baseline / COPY (medians): ${listing.baselineRatio.toFixed(2)}× (the baseline also writes 20,000 versions and 20,000 events)`,
    `memory: peak RSS ${memory.rssMiB.toFixed(0)} MiB, peak heap used ${memory.heapMiB.toFixed(0)} MiB (sampled every 5 ms)`,
    `listing (excluded above): ${fmtMs(listing.listMs)} ms for ${fmt(IMAGES)} images, ${listing.apiCalls} API calls, ${listing.pages} pages`,
    `machine: ${machine.cpus}; Node ${machine.node}; PostgreSQL ${machine.postgres}; ${machine.date}; bench took ${machine.totalSeconds.toFixed(0)} s`,
  ];
  const consoleText = [
    '',
    textTable(header, table),
    '',
    'median phases of the syncs (ms):',
    textTable(phaseHeader, phaseRows),
    '',
    ...notes,
  ].join('\n');
  const markdown = [
    '# Benchmark results',
    '',
    'Run with `npm run bench` (PostgreSQL from `DATABASE_URL`, default',
    '`postgres://postgres@127.0.0.1:5432/postgres`; the script creates, migrates and drops its own',
    'database; `BENCH_RUNS=n` sets every repetition count; about a minute; `npm run bench:sync` runs it',
    'alone). The script rewrites this section on each run.',
    '',
    'What is measured: one region of 20,000 images served by the simulator and listed once through the',
    'real SWAS client (its time is printed apart: the simulator bounds it). Every sync then runs',
    '`runRegionSync` + `createSyncStore` (lock, read, pure diff, set-based writes, one transaction)',
    'with a lister that returns that listing, so the figures are the diff and database path alone.',
    '',
    '- (a) baseline: the first sync of the region into empty tables (truncated before each run), with',
    '  20,000 versions and 20,000 baseline events. Its reference is a raw bulk load of the same 20,000',
    '  `custom_images` rows, JSON encoding included, into a table `LIKE custom_images INCLUDING ALL`,',
    '  in the same loop: `COPY … FROM STDIN` (node-postgres alone, bench/copy-in.ts), and for',
    '  comparison one `INSERT … SELECT` over a jsonb document (what the sync uses).',
    '- Then `VACUUM ANALYZE`, as autovacuum would after such a load (it is off on some test servers).',
    '- (b) no-op: the same listing again. Cold = a new store each time, as the first sync of a process',
    '  has; steady state = later syncs of the same store. Nothing is kept between syncs, so the two',
    '  should agree: the region is read as keys and hashes, and no row is decoded when no hash moved.',
    '- (c) 1% change: each run changes 200 more images (status, name, share flag), adds 5, loses 5.',
    '',
    'images/s = 20,000 / sync time. Medians decide PASS/MISS; the machine is shared, so compare',
    'medians of repeated runs, not single figures.',
    '',
    `- date: ${machine.date}`,
    `- machine: ${machine.cpus} (nproc ${os.availableParallelism()})`,
    `- Node ${machine.node}, PostgreSQL ${machine.postgres}`,
    '',
    mdTable(header, table),
    '',
    'Median phases of the syncs (ms):',
    '',
    mdTable(phaseHeader, phaseRows),
    '',
    ...notes.map((note) => `- ${note}`),
    '',
  ].join('\n');
  return { console: consoleText, markdown };
}

function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

await main();
