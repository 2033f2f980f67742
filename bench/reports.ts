/**
 * `npm run bench:reports` (also part of `npm run bench`): every report of the `report` command on
 * a history of 100,000 versions over 10,000 images in 20 regions (see RESULTS.md).
 *
 * A throwaway database (created, migrated, dropped) on the server of `DATABASE_URL` (default
 * postgres://postgres@127.0.0.1:5432/postgres); the history is written with set-based SQL
 * (test/support/history-generator.ts, the one the plan test uses), then VACUUM ANALYZE as
 * autovacuum would; each report runs through the real report store, one region and the whole
 * inventory, and its median decides PASS/MISS against the targets.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { createDatabase } from '../src/db/client.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { createReportStore, type ReportStore } from '../src/db/report-store.ts';
import { BENCH_HISTORY, generateHistory, regionName } from '../test/support/history-generator.ts';
import { dropDatabase, withDatabase } from './databases.ts';
import { writeResultsSection } from './results-file.ts';

const RUNS = Number(process.env.BENCH_RUNS) || 7;
const TARGET_MS = { region: 100, image: 100, whole: 1000 };
const REGION = regionName(2);
const IMAGE = 'm-bench4242';
const AT = new Date('2026-01-02T06:00:00Z');

type Scale = keyof typeof TARGET_MS;

interface Case {
  report: string;
  scale: Scale;
  read(store: ReportStore): Promise<unknown[]>;
}

const region = { regions: [REGION] };
const CASES: Case[] = [
  { report: 'inventory', scale: 'region', read: (s) => s.inventory(region) },
  { report: 'inventory', scale: 'whole', read: (s) => s.inventory({}) },
  { report: 'failures', scale: 'region', read: (s) => s.failures(region) },
  { report: 'failures', scale: 'whole', read: (s) => s.failures({}) },
  { report: 'failures', scale: 'image', read: (s) => s.failures({ imageIds: [IMAGE] }) },
  { report: 'status-timeline', scale: 'region', read: (s) => s.statusTimeline(region) },
  { report: 'status-timeline', scale: 'whole', read: (s) => s.statusTimeline({}) },
  { report: 'status-timeline', scale: 'image', read: (s) => s.statusTimeline({ imageIds: [IMAGE] }) },
  { report: 'shares', scale: 'region', read: (s) => s.shares(region) },
  { report: 'shares', scale: 'whole', read: (s) => s.shares({}) },
  { report: 'sync-health', scale: 'region', read: (s) => s.syncHealth(region) },
  { report: 'sync-health', scale: 'whole', read: (s) => s.syncHealth({}) },
  { report: 'as-of', scale: 'region', read: (s) => s.asOf(AT, region) },
  { report: 'as-of', scale: 'whole', read: (s) => s.asOf(AT, {}) },
  { report: 'events (newest 1,000)', scale: 'region', read: (s) => s.events({ ...region, limit: 1000 }) },
  { report: 'events (newest 1,000)', scale: 'whole', read: (s) => s.events({ limit: 1000 }) },
  { report: 'events', scale: 'image', read: (s) => s.events({ imageIds: [IMAGE], limit: 1000 }) },
];

const median = (values: readonly number[]): number => {
  const sorted = values.toSorted((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const fmtMs = (n: number): string => n.toFixed(1);
const SCALE_NAME: Record<Scale, string> = {
  region: `one region (${REGION})`,
  image: `one image (${IMAGE})`,
  whole: 'whole inventory',
};

async function main(): Promise<void> {
  const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const dbName = `swas_bench_reports_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const benchUrl = withDatabase(serverUrl, dbName);
  const startedAt = performance.now();
  const database = createDatabase(benchUrl, { max: 2, applicationName: 'swas-inventory-bench' });
  const sql = new pg.Client({ connectionString: benchUrl });
  try {
    await migrateDatabase({ databaseUrl: benchUrl });
    await sql.connect();
    const serverVersion =
      (await sql.query<{ v: string }>("select current_setting('server_version') as v")).rows[0]?.v ?? '?';
    let started = performance.now();
    await generateHistory(sql, BENCH_HISTORY);
    const generateMs = performance.now() - started;
    started = performance.now();
    await sql.query('vacuum analyze');
    const analyzeMs = performance.now() - started;
    const counts = (
      await sql.query<{ versions: number; images: number; runs: number; events: number }>(
        `select (select count(*) from custom_image_versions)::int as versions,
                (select count(*) from custom_images)::int as images,
                (select count(*) from sync_runs)::int as runs,
                (select count(*) from image_events)::int as events`,
      )
    ).rows[0];
    console.log(
      `history: ${JSON.stringify(counts)} written in ${fmtMs(generateMs)} ms, vacuum analyze ${fmtMs(analyzeMs)} ms`,
    );

    const store = createReportStore(database.db);
    const rows: string[][] = [];
    let missed = false;
    for (const c of CASES) {
      await c.read(store); // warm the cache and the plan: a report is read many times a day
      const samples: number[] = [];
      let count = 0;
      for (let run = 0; run < RUNS; run++) {
        const t = performance.now();
        count = (await c.read(store)).length;
        samples.push(performance.now() - t);
      }
      const med = median(samples);
      const pass = med <= TARGET_MS[c.scale];
      missed ||= !pass;
      rows.push([
        c.report,
        SCALE_NAME[c.scale],
        count.toLocaleString('en-US'),
        fmtMs(med),
        fmtMs(Math.min(...samples)),
        `≤ ${TARGET_MS[c.scale]} ms`,
        pass ? 'PASS' : 'MISS',
      ]);
    }
    const header = ['report', 'scope', 'rows', 'median ms', 'best ms', 'target', 'result'];
    const machine = {
      date: new Date().toISOString(),
      cpus: `${os.availableParallelism()} × ${os.cpus()[0]?.model.trim() ?? 'unknown CPU'}`,
      load: os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' '),
    };
    console.log(`\n${textTable(header, rows)}\n`);
    console.log(
      `machine: ${machine.cpus}, load ${machine.load}; Node ${process.version}; PostgreSQL ${serverVersion}; ${machine.date}; took ${((performance.now() - startedAt) / 1000).toFixed(0)} s`,
    );
    await writeResultsSection(
      'reports',
      [
        '## Reports on a large history',
        '',
        'Run with `npm run bench:reports` (or `npm run bench`, which runs both benchmarks; same database',
        'server; `BENCH_RUNS=n` repetitions, default 7). The script rewrites this section on each run.',
        '',
        `What is measured: the reads of \`report\` and \`events\` (src/db/report-store.ts, typed selects of`,
        'the `reporting` views) on a generated history of 100,000 versions over 10,000 images in 20',
        'regions (200 full syncs per region every 15 minutes, 10 versions per image with status and',
        'share changes, 1 image in 20 deleted, one event per version, written with set-based SQL in',
        'the order syncs write rows), after `VACUUM ANALYZE` as autovacuum would. Each report once to',
        'warm up, then timed; medians decide PASS/MISS. Targets: one region or one image ≤ 100 ms,',
        'the whole inventory ≤ 1 s. The machine is shared: compare medians of repeated runs.',
        '',
        `- date: ${machine.date}`,
        `- machine: ${machine.cpus} (nproc ${os.availableParallelism()}), load average ${machine.load} at the end`,
        `- Node ${process.version}, PostgreSQL ${serverVersion}`,
        `- history: ${counts?.versions.toLocaleString('en-US')} versions, ${counts?.images.toLocaleString('en-US')} images, ${counts?.runs.toLocaleString('en-US')} runs, ${counts?.events.toLocaleString('en-US')} events; written in ${(generateMs / 1000).toFixed(1)} s, vacuum analyze ${(analyzeMs / 1000).toFixed(1)} s`,
        '',
        mdTable(header, rows),
        '',
      ].join('\n'),
    );
    console.log('written to bench/RESULTS.md');
    if (missed) process.exitCode = 1;
  } finally {
    await sql.end().catch(() => undefined);
    await database.close();
    await dropDatabase(serverUrl, dbName);
  }
}

function textTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function mdTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map((_, i) => (i < 2 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

await main();
