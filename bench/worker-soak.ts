/**
 * `npm run bench:soak`: a week of a worker fleet's uptime, compressed. Two `worker` processes
 * share one database and one Redis (a `redis-server` of its own) and sync 8 regions of 1,000 images
 * from the simulator every second, with watch polls every second, until every region has had
 * BENCH_SOAK_CYCLES full syncs (default 672: a week of the default 15-minute schedule). Meanwhile
 * the images change all the time (renames, images created and deleted, images going through
 * `creating` to available or failed), and a webhook endpoint on loopback refuses every tenth
 * event's first attempt, so deliveries retry.
 *
 * Sampled every 15 s: each worker's RSS and heap in use (its `/metrics`), Redis's memory and key
 * count, the database's size and rows. At the end, with the changes stopped and two more cycles
 * run: every region's live images in the database are the simulator's (ids, names, statuses),
 * every event reached the endpoint with a valid signature, every image added or deleted has one
 * `image.created` or `image.deleted` (never two, whichever replica listed it), no run failed,
 * and neither the workers' memory nor Redis grew over the second half of the soak, once the
 * queues hold as many finished jobs as they keep (a process that keeps something per sync, or
 * jobs that are never removed, would show as a slope). Writes the section "worker-soak" of
 * RESULTS.md.
 *
 * BENCH_SOAK_CYCLES, BENCH_SOAK_REGIONS (8), BENCH_SOAK_IMAGES (1000) size it. Under ~300 cycles the
 * second half still sees the queues fill up to what they keep, and Redis's key count grows there.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import pg from 'pg';
import { migrateDatabase } from '../src/db/migrate.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { createRandom } from '../src/simulator/random.ts';
import { freePort, startRedisServer } from '../test/support/redis-server.ts';
import { waitFor } from '../test/support/wait-for.ts';
import {
  randomWebhookSecret,
  startWebhookReceiver,
  verifyStandardWebhook,
} from '../test/support/webhook-receiver.ts';
import { dropDatabase, withDatabase } from './databases.ts';
import { signed, writeResultsSection } from './results-file.ts';
import { startBenchWorker } from './worker-child.ts';

const SERVER = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const CYCLES = Number(process.env.BENCH_SOAK_CYCLES) || 672;
const REGION_COUNT = Number(process.env.BENCH_SOAK_REGIONS) || 8;
const IMAGES = Number(process.env.BENCH_SOAK_IMAGES) || 1_000;
const REPLICAS = 2;
const SAMPLE_EVERY_MS = 15_000;
/** Memory and Redis may not grow by more than this over the second half of the soak. */
const GROWTH_LIMIT = { workerRssMb: 20, workerHeapMb: 5, redisMb: 2, redisKeys: 50 } as const;

const REGIONS = Array.from({ length: REGION_COUNT }, (_, i) => `cn-soak-${i}`);

interface Sample {
  atS: number;
  cycles: number;
  workersRssMb: number[];
  workersHeapMb: number[];
  redisMb: number;
  redisKeys: number;
  databaseMb: number;
  runs: number;
  events: number;
  delivered: number;
}

/** A gauge of a worker's `/metrics` text (prom-client's default process metrics). */
function gauge(metrics: string, name: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  if (line === undefined) throw new Error(`no ${name} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function main(): Promise<void> {
  const database = `bench_soak_${randomBytes(4).toString('hex')}`;
  const databaseUrl = withDatabase(SERVER, database);
  await migrateDatabase({ databaseUrl });
  const simulator = await startSimulator({ quota: null, regions: [] });
  for (const region of REGIONS) simulator.admin.setRegion(region, IMAGES);
  const redis = await startRedisServer();
  const redisClient = new Redis(redis.url);
  const secret = randomWebhookSecret();
  // Signatures are checked on arrival: their timestamps are only valid for minutes. Every tenth
  // event's first attempt is refused: its delivery must come back and succeed.
  let badSignatures = 0;
  const receiver = await startWebhookReceiver((request, count) => {
    try {
      verifyStandardWebhook(secret, request);
    } catch {
      badSignatures++;
      return { status: 400 };
    }
    return count === 0 && Number.parseInt(String(request.headers['webhook-id']).slice(-2), 16) % 10 === 0
      ? { status: 503 }
      : { status: 200 };
  });
  const sql = new pg.Client({ connectionString: databaseUrl });
  await sql.connect();
  try {
    await soak();
  } finally {
    await sql.end();
    redisClient.disconnect();
    await receiver.close();
    await simulator.close();
    await redis.stop();
    await dropDatabase(SERVER, database);
  }

  async function soak(): Promise<void> {
    const ports = await Promise.all(Array.from({ length: REPLICAS }, () => freePort()));
    const workers = ports.map((port) => ({
      port,
      ...startBenchWorker({
        DATABASE_URL: databaseUrl,
        REDIS_URL: redis.url,
        SWAS_ENDPOINT: simulator.url,
        ALIBABA_CLOUD_ACCESS_KEY_ID: 'testid',
        ALIBABA_CLOUD_ACCESS_KEY_SECRET: 'testsecret',
        SWAS_REGIONS: REGIONS.join(','),
        SWAS_RATE_LIMIT: '2000/1s',
        SYNC_SCHEDULE: '1s',
        SYNC_WATCH_INTERVAL: '1s',
        WEBHOOK_URL: `${receiver.url}/soak`,
        WEBHOOK_SECRET: secret,
        WEBHOOK_RETRY_SCHEDULE: '1s,2s,5s',
        HTTP_PORT: String(port),
      }),
    }));
    // A worker that exits before the end fails the soak, with what it logged.
    let dead: Error | undefined;
    const died = new Promise<never>((_, reject) => {
      for (const worker of workers) {
        void worker.exited.then(() => {
          dead ??= new Error(
            `a worker exited (${worker.child.exitCode ?? worker.child.signalCode}):\n${worker.stderr()}`,
          );
          reject(dead);
        });
      }
    });
    died.catch(() => undefined);
    const checkAlive = () => {
      if (dead !== undefined) throw dead;
    };
    const unlessDied = <T>(waiting: Promise<T>): Promise<T> => Promise.race([waiting, died]);
    const one = async <T extends pg.QueryResultRow>(text: string): Promise<T> => {
      const row = (await sql.query<T>(text)).rows[0];
      if (row === undefined) throw new Error(`no row: ${text}`);
      return row;
    };
    /** Full syncs that succeeded, of the region that has had the fewest. */
    const cyclesDone = async () =>
      Number(
        (
          await one<{ n: string }>(
            `select coalesce(min(n), 0) as n from (
             select r.region_id, count(s.id) as n
               from unnest(array[${REGIONS.map((r) => `'${r}'`).join(',')}]) as r(region_id)
               left join sync_runs s on s.region_id = r.region_id and s.trigger <> 'watch' and s.status = 'succeeded'
              group by r.region_id) counts`,
          )
        ).n,
      );

    const startedAt = Date.now();
    const samples: Sample[] = [];
    const sample = async (): Promise<Sample> => {
      const metrics = await Promise.all(
        workers.map(async (worker) => (await fetch(`http://127.0.0.1:${worker.port}/metrics`)).text()),
      );
      const info = await redisClient.info('memory');
      const redisBytes = Number(/used_memory:(\d+)/.exec(info)?.[1]);
      const counts = await one<{ runs: string; events: string; delivered: string; size: string }>(
        `select (select count(*) from sync_runs) as runs,
              (select count(*) from image_events where not baseline) as events,
              (select count(*) from webhook_deliveries where status = 'delivered') as delivered,
              pg_database_size(current_database()) as size`,
      );
      return {
        atS: (Date.now() - startedAt) / 1_000,
        cycles: await cyclesDone(),
        workersRssMb: metrics.map((m) => gauge(m, 'process_resident_memory_bytes') / 2 ** 20),
        workersHeapMb: metrics.map((m) => gauge(m, 'nodejs_heap_size_used_bytes') / 2 ** 20),
        redisMb: redisBytes / 2 ** 20,
        redisKeys: await redisClient.dbsize(),
        databaseMb: Number(counts.size) / 2 ** 20,
        runs: Number(counts.runs),
        events: Number(counts.events),
        delivered: Number(counts.delivered),
      };
    };

    // Seeded, so that two soaks change the same images.
    const { pick } = createRandom(7);
    /** Images sent into `creating`, to come out of it (available or failed) a few ticks later. */
    const creating: { region: string; imageId: string; until: number }[] = [];
    const leaveCreating = (entry: { region: string; imageId: string }, status: '1' | '3') => {
      try {
        simulator.admin.updateImage(entry.region, entry.imageId, { Status: status });
      } catch {
        // deleted meanwhile
      }
    };
    let tick = 0;
    let added = 0;
    let deleted = 0;
    const changeSomething = () => {
      tick++;
      const region = pick(REGIONS);
      const images = simulator.admin.listImages(region);
      const image = pick(images);
      simulator.admin.updateImage(region, image.ImageId, { Name: `soak-${tick}` });
      if (tick % 3 === 0) {
        const next = pick(images);
        simulator.admin.updateImage(region, next.ImageId, { Status: '4' });
        creating.push({ region, imageId: next.ImageId, until: tick + 4 });
      }
      if (tick % 5 === 0) {
        simulator.admin.addImage(region);
        added++;
      }
      if (
        tick % 7 === 0 &&
        images.length > IMAGES / 2 &&
        simulator.admin.deleteImage(region, pick(images).ImageId)
      )
        deleted++;
      for (const entry of creating.filter((c) => c.until <= tick)) {
        creating.splice(creating.indexOf(entry), 1);
        leaveCreating(entry, tick % 2 === 0 ? '1' : '3');
      }
    };

    try {
      // Each worker answers /metrics once its HTTP server is up.
      for (const worker of workers) {
        await unlessDied(
          waitFor(
            `the worker on port ${worker.port} to answer`,
            () =>
              fetch(`http://127.0.0.1:${worker.port}/metrics`).then(
                (response) => response.ok,
                () => false,
              ),
            { timeoutMs: 60_000, intervalMs: 200 },
          ),
        );
      }
      let nextSample = Date.now();
      for (;;) {
        checkAlive();
        if (Date.now() >= nextSample) {
          samples.push(await sample());
          const last = samples.at(-1) as Sample;
          process.stdout.write(
            `${last.atS.toFixed(0)} s: ${last.cycles}/${CYCLES} cycles, RSS ${last.workersRssMb.map((m) => m.toFixed(0)).join('/')} MB, Redis ${last.redisMb.toFixed(1)} MB ${last.redisKeys} keys\n`,
          );
          if (last.cycles >= CYCLES) break;
          nextSample += SAMPLE_EVERY_MS;
        }
        changeSomething();
        await sleep(500);
      }
      // Changes stop; what was sent into `creating` comes out, and two more cycles settle it.
      for (const entry of creating.splice(0)) leaveCreating(entry, '1');
      const settleFrom = await cyclesDone();
      await unlessDied(
        waitFor(
          'two more cycles and no delivery pending',
          async () =>
            (await cyclesDone()) >= settleFrom + 2 &&
            Number(
              (
                await one<{ n: string }>(
                  `select count(*) as n from webhook_deliveries where status = 'pending'`,
                )
              ).n,
            ) === 0,
          { timeoutMs: 5 * 60_000, intervalMs: 500 },
        ),
      );
      samples.push(await sample());
    } finally {
      for (const worker of workers) worker.child.kill('SIGTERM');
      await Promise.all(workers.map((worker) => worker.exited));
    }

    // What the database holds against what the simulator serves, region by region.
    let mismatched = 0;
    for (const region of REGIONS) {
      const stored = new Map(
        (
          await sql.query<{ image_id: string; name: string | null; status: string }>(
            'select image_id, name, status from custom_images where region_id = $1 and deleted_at is null',
            [region],
          )
        ).rows.map((row) => [row.image_id, `${row.name}|${row.status}`]),
      );
      const served = simulator.admin.listImages(region);
      if (stored.size !== served.length) mismatched++;
      else if (served.some((image) => stored.get(image.ImageId) !== `${image.Name ?? null}|${image.Status}`))
        mismatched++;
    }
    const runs = (
      await sql.query<{ status: string; n: string }>(
        'select status, count(*) as n from sync_runs group by status',
      )
    ).rows;
    const failedRuns = Number(runs.find((r) => r.status === 'failed')?.n ?? 0);
    const eventIds = new Set(
      (await sql.query<{ id: string }>('select id from image_events where not baseline')).rows.map(
        (r) => r.id,
      ),
    );
    const byType = (
      await sql.query<{ type: string; n: string }>(
        'select type, count(*) as n from image_events where not baseline group by type order by type',
      )
    ).rows;
    // Two replicas, one change: an image is created once and deleted once, so is its event.
    const twice = async (type: string) =>
      Number(
        (
          await one<{ n: string }>(
            `select count(*) as n from (select image_id from image_events
              where type = '${type}' and not baseline group by image_id having count(*) > 1) twice`,
          )
        ).n,
      );
    const createdTwice = await twice('image.created');
    const deletedTwice = await twice('image.deleted');
    const eventsOf = (type: string) => Number(byType.find((t) => t.type === type)?.n ?? 0);
    const created = eventsOf('image.created');
    const gone = eventsOf('image.deleted');
    const accepted = new Set(receiver.acceptedIds());
    const undelivered = [...eventIds].filter((id) => !accepted.has(id)).length;
    const unknown = [...accepted].filter((id) => !eventIds.has(id)).length;
    const retried = receiver.requests.filter((r) => r.status === 503).length;

    // The second half: the queues have filled up to what they keep of finished jobs by then.
    const steady = samples.filter((s) => s.cycles >= CYCLES / 2);
    const firstQuarter = steady.slice(0, Math.max(1, Math.floor(steady.length / 4)));
    const lastQuarter = steady.slice(-Math.max(1, Math.floor(steady.length / 4)));
    // The low-water mark of each window: garbage not yet collected makes single samples noisy.
    const low = (window: Sample[], of: (s: Sample) => number) => Math.min(...window.map(of));
    const growth = (of: (s: Sample) => number) => low(lastQuarter, of) - low(firstQuarter, of);
    const rssGrowth = workers.map((_, i) => growth((s) => s.workersRssMb[i] ?? 0));
    const heapGrowth = workers.map((_, i) => growth((s) => s.workersHeapMb[i] ?? 0));
    const redisGrowth = growth((s) => s.redisMb);
    const keysGrowth = growth((s) => s.redisKeys);
    const verdict = (ok: boolean) => (ok ? 'PASS' : 'MISS');
    const final = samples.at(-1) as Sample;
    const shown = samples.filter(
      (_, i) => i % Math.max(1, Math.ceil(samples.length / 12)) === 0 || i === samples.length - 1,
    );
    const mb = (values: number[]) => values.map((v) => v.toFixed(0)).join(' / ');
    const section = [
      '## Worker soak: a week of cycles, compressed',
      '',
      'Written by `bench/worker-soak.ts` (`npm run bench:soak`). Two `worker` processes, one database,',
      `one Redis of their own; ${REGION_COUNT} regions of ${IMAGES.toLocaleString('en-US')} images, synced every second (watch polls every second) until every`,
      `region had ${CYCLES} full syncs (${CYCLES === 672 ? 'a week of the default 15-minute schedule' : `${((CYCLES * 15) / 60 / 24).toFixed(1)} days of the default schedule`}). Images change every 0.5 s`,
      '(renames; every third change an image enters `creating` and leaves it four changes later,',
      'available or failed; images created and deleted); the webhook endpoint refuses every tenth',
      "event's first attempt. Memory: each worker's RSS and heap in use (`/metrics`); growth is the",
      "low-water mark of the last quarter of the second half's samples minus that of its first quarter",
      `(from cycle ${Math.ceil(CYCLES / 2)} on: by then the queues hold as many finished jobs as they keep).`,
      '',
      `- date: ${new Date().toISOString()}; machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}`,
      `- duration ${(final.atS / 60).toFixed(1)} min, ${tick.toLocaleString('en-US')} rounds of changes to the images, ${final.runs.toLocaleString('en-US')} sync runs (${runs.map((r) => `${r.status} ${r.n}`).join(', ')})`,
      '',
      '| time s | cycles | worker RSS MB | worker heap MB | Redis MB | Redis keys | database MB | events | delivered |',
      '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ...shown.map(
        (s) =>
          `| ${s.atS.toFixed(0)} | ${s.cycles} | ${mb(s.workersRssMb)} | ${mb(s.workersHeapMb)} | ${s.redisMb.toFixed(1)} | ${s.redisKeys} | ${s.databaseMb.toFixed(0)} | ${s.events} | ${s.delivered} |`,
      ),
      '',
      `- every region's live images match the simulator's (ids, names, statuses): ${REGION_COUNT - mismatched} of ${REGION_COUNT}: ${verdict(mismatched === 0)}`,
      `- runs failed: ${failedRuns}: ${verdict(failedRuns === 0)}`,
      `- events (${byType.map((t) => `${t.type} ${t.n}`).join(', ')}): ${eventIds.size}; accepted by the endpoint: ${eventIds.size - undelivered}, none unknown (${unknown}), ${retried} first attempts refused and retried, ${badSignatures} requests with a bad signature: ${verdict(undelivered === 0 && unknown === 0 && badSignatures === 0)}`,
      `- images created in the simulator ${added}, \`image.created\` events ${created}; deleted ${deleted}, \`image.deleted\` events ${gone} (one added before its region's first sync is part of the baseline; one added and deleted between two syncs has neither event); images with two of either: ${createdTwice + deletedTwice}: ${verdict(createdTwice + deletedTwice === 0 && created <= added && gone <= deleted)}`,
      `- worker RSS growth ${rssGrowth.map((g) => signed(g, 1)).join(' / ')} MB (≤ +${GROWTH_LIMIT.workerRssMb}), heap in use ${heapGrowth.map((g) => signed(g, 1)).join(' / ')} MB (≤ +${GROWTH_LIMIT.workerHeapMb}): ${verdict(rssGrowth.every((g) => g <= GROWTH_LIMIT.workerRssMb) && heapGrowth.every((g) => g <= GROWTH_LIMIT.workerHeapMb))}`,
      `- Redis growth ${signed(redisGrowth, 2)} MB (≤ +${GROWTH_LIMIT.redisMb}), ${signed(keysGrowth, 0)} keys (≤ +${GROWTH_LIMIT.redisKeys}): ${verdict(redisGrowth <= GROWTH_LIMIT.redisMb && keysGrowth <= GROWTH_LIMIT.redisKeys)}`,
    ].join('\n');
    await writeResultsSection('worker-soak', section);
    process.stdout.write(`${section}\n`);
  }
}

await main();
