/**
 * `npm run bench` (part): does a long-running process's memory grow with the regions and syncs it
 * has done? One child process (the executable's node flags, plus `--expose-gc` to read the live
 * heap) syncs 30 regions of 2,000 images, every region once per round, for 4 rounds, through the
 * region-sync use case the worker calls; after each round it collects garbage and reports the live
 * heap and the RSS. The simulator runs in this parent process, so its memory is not counted.
 * A flat live heap from round 2 on means nothing accumulates per region or per sync.
 *
 * `node bench/memory-growth.ts` (parent) or, internally, `… --child <rounds> <region>…`.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { dropDatabase, withDatabase } from './databases.ts';
import { binNodeFlags } from './node-flags.ts';
import { signed, writeResultsSection } from './results-file.ts';

const REGIONS = Array.from({ length: 30 }, (_, i) => `cn-mem-${String(i).padStart(2, '0')}`);
const IMAGES = 2_000;
const ROUNDS = 4;
const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SELF = fileURLToPath(import.meta.url);

interface RoundFigure {
  round: number;
  syncs: number;
  liveMb: number;
  rssMb: number;
  ms: number;
}

async function child(rounds: number, regions: string[]): Promise<void> {
  const { createApp } = await import('../src/app.ts');
  const { loadConfig } = await import('../src/config/load-config.ts');
  const { silentLogger } = await import('../src/observability/logger.ts');
  (await import('../src/cli/context.ts')).tuneHeap(); // as the CLI does
  const config = loadConfig(process.env, { readFile: () => '' });
  const app = createApp(config, { logger: silentLogger });
  const account = config.accounts[0];
  if (!account) throw new Error('no account configured');
  const regionSyncs = app.regionSyncs();
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('run with --expose-gc');
  let syncs = 0;
  for (let round = 1; round <= rounds; round++) {
    const started = performance.now();
    for (const regionId of regions) {
      const result = await regionSyncs.syncRegion(
        { account: account.name, regionId },
        { trigger: 'schedule' },
      );
      if (result.status !== 'succeeded') throw new Error(`${regionId}: ${result.status} ${result.error}`);
      syncs++;
    }
    const ms = performance.now() - started;
    gc();
    gc();
    const memory = process.memoryUsage();
    const figure: RoundFigure = {
      round,
      syncs,
      liveMb: memory.heapUsed / 2 ** 20,
      rssMb: memory.rss / 2 ** 20,
      ms,
    };
    process.stdout.write(`${JSON.stringify(figure)}\n`);
  }
  await app.close();
}

async function parent(): Promise<void> {
  const { startSimulator } = await import('../src/simulator/index.ts');
  const { migrateDatabase } = await import('../src/db/migrate.ts');
  const simulator = await startSimulator({
    port: 0,
    seed: 11,
    quota: null,
    regions: REGIONS.map((regionId) => ({ regionId, images: IMAGES })),
  });
  const name = `swas_bench_memory_${randomBytes(3).toString('hex')}`;
  const admin = new pg.Client({ connectionString: SERVER });
  await admin.connect();
  await admin.query(`create database "${name}"`);
  await admin.end();
  const databaseUrl = withDatabase(SERVER, name);
  const loadAtStart = os
    .loadavg()
    .map((n) => n.toFixed(1))
    .join(' ');
  try {
    await migrateDatabase({ databaseUrl });
    const figures = await new Promise<RoundFigure[]>((resolve, reject) => {
      binNodeFlags().then(
        (flags) =>
          execFile(
            process.execPath,
            [...flags, '--expose-gc', SELF, '--child', String(ROUNDS), ...REGIONS],
            {
              env: {
                PATH: process.env.PATH ?? '',
                HOME: process.env.HOME ?? '',
                DATABASE_URL: databaseUrl,
                SWAS_ENDPOINT: simulator.url,
                ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
                ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
                SWAS_RATE_LIMIT: '100000/1s',
                LOG_LEVEL: 'warn',
              },
              maxBuffer: 16 << 20,
            },
            (error, stdout, stderr) => {
              if (error) reject(new Error(`child failed: ${stderr.slice(-2000)}`, { cause: error }));
              else
                resolve(
                  stdout
                    .trim()
                    .split('\n')
                    .map((line) => JSON.parse(line) as RoundFigure),
                );
            },
          ),
        reject,
      );
    });
    const first = figures[1] ?? figures[0];
    const last = figures.at(-1);
    const growth = first && last ? last.liveMb - first.liveMb : Number.NaN;
    const lines = [
      '## Memory of a long-running process',
      '',
      'Written by `bench/memory-growth.ts` (part of `npm run bench`). One process (the executable’s',
      `node flags) syncs ${REGIONS.length} regions of ${IMAGES.toLocaleString('en-US')} images, each once per round, through`,
      'the region-sync use case the worker calls; after each round it collects garbage and reports',
      'the live heap and the RSS. Target: the live heap does not grow from round to round.',
      '',
      `- date: ${new Date().toISOString()}; machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}; Node ${process.version}`,
      `- load average at the start ${loadAtStart}, at the end ${os
        .loadavg()
        .map((n) => n.toFixed(1))
        .join(' ')}`,
      '',
      '| round | syncs so far | live heap MB | RSS MB | round time ms |',
      '| ---: | ---: | ---: | ---: | ---: |',
      ...figures.map(
        (f) =>
          `| ${f.round} | ${f.syncs} | ${f.liveMb.toFixed(1)} | ${f.rssMb.toFixed(0)} | ${f.ms.toFixed(0)} |`,
      ),
      '',
      `- live heap from round 2 to round ${last?.round}: ${signed(growth, 1)} MB (≤ +2 MB): ${Math.abs(growth) <= 2 ? 'PASS' : 'MISS'}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    await writeResultsSection('memory-growth', lines.join('\n'));
  } finally {
    await simulator.close();
    await dropDatabase(SERVER, name);
  }
}

if (process.argv[2] === '--child') {
  await child(Number(process.argv[3]), process.argv.slice(4));
} else {
  await parent();
}
