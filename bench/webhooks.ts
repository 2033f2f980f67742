/**
 * `npm run bench:webhooks`: a steady stream of change events delivered by the worker's queue path
 * (outbox rows committed → `deliver` jobs in BullMQ → the delivery engine → a receiver on
 * loopback), reporting delivery throughput and commit-to-delivery latency p50/p95/p99.
 *
 * BENCH_RATE events/s (default 500) for BENCH_SECONDS (default 60), committed in batches every
 * 100 ms as a sync commits them (events + deliveries in one transaction, then the enqueue).
 * A throwaway database on the server of DATABASE_URL and a unique BullMQ prefix on REDIS_URL.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { Redis } from 'ioredis';
import { v7 as uuidv7 } from 'uuid';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config/load-config.ts';
import { migrateDatabase } from '../src/db/migrate.ts';
import { insertDeliveriesForRun } from '../src/db/webhook-outbox.ts';
import { addEndpoint } from '../src/events/webhook-endpoints.ts';
import { enqueueDeliveriesForRun, startWebhookWorker } from '../src/jobs/webhook-delivery-jobs.ts';
import { silentLogger } from '../src/observability/logger.ts';
import { Secret } from '../src/shared/secret.ts';
import { dropDatabase, withDatabase } from './databases.ts';

const RATE = Number(process.env.BENCH_RATE) || 500;
const SECONDS = Number(process.env.BENCH_SECONDS) || 60;
const BATCH_EVERY_MS = 100;
const RESULTS_FILE = new URL('./WEBHOOK-RESULTS.md', import.meta.url);

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const name = `swas_bench_webhooks_${randomBytes(4).toString('hex')}`;
const databaseUrl = withDatabase(serverUrl, name);

const loadAtStart = os.loadavg();
const committedAt = new Map<string, number>();
const latencies: number[] = [];
const seen = new Set<string>();
let duplicates = 0;
const receiver = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const id = String(req.headers['webhook-id']);
    const at = performance.timeOrigin + performance.now();
    if (seen.has(id)) duplicates += 1;
    seen.add(id);
    const committed = committedAt.get(id);
    if (committed !== undefined) latencies.push(at - committed);
    res.writeHead(204).end();
  });
});
receiver.listen(0, '127.0.0.1');
await once(receiver, 'listening');
const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;

await migrateDatabase({ databaseUrl });
const config = loadConfig(
  { DATABASE_URL: databaseUrl, REDIS_URL: redisUrl, WEBHOOK_TIMEOUT: '10s' },
  { readFile: () => '' },
);
const app = createApp(config, { logger: silentLogger });
const connection = new Redis(redisUrl, { maxRetriesPerRequest: null });
const prefix = `bench-webhooks-${randomBytes(4).toString('hex')}`;
const worker = await startWebhookWorker(
  { delivery: app.webhookDelivery(), store: app.webhookStore(), clock: app.clock, logger: silentLogger },
  { connection, prefix },
);
await addEndpoint(app.webhookStore(), app.ids, {
  url: receiverUrl,
  format: 'standard',
  secret: new Secret(`whsec_${randomBytes(24).toString('base64')}`),
  eventTypes: null,
  accounts: null,
  regionIds: null,
  includeBaseline: false,
});

const database = app.database();
const perBatch = Math.max(1, Math.round((RATE * BATCH_EVERY_MS) / 1000));
const batches = Math.round((SECONDS * 1000) / BATCH_EVERY_MS);
let produced = 0;
const started = Date.now();

/** One sync's worth: a run row, `perBatch` events and their deliveries in one transaction, then the enqueue. */
async function commitBatch(): Promise<void> {
  const runId = randomUUID();
  const ids = Array.from({ length: perBatch }, () => uuidv7());
  const rows = JSON.stringify(
    ids.map((id, index) => [
      id,
      `m-bench${produced + index}`,
      {
        account: 'bench',
        regionId: 'cn-hangzhou',
        imageId: `m-bench${produced + index}`,
        version: 2,
        from: '1',
        to: '2',
      },
    ]),
  );
  await database.transaction(async (tx) => {
    await tx.client.query(
      `insert into sync_runs (id, account, region_id, trigger, status, started_at, finished_at)
       values ($1, 'bench', 'cn-hangzhou', 'manual', 'succeeded', now(), now())`,
      [runId],
    );
    await tx.client.query(
      `insert into image_events (id, type, account, region_id, image_id, occurred_at, sync_run_id, baseline, data)
       select (e ->> 0)::uuid, 'image.status_changed', 'bench', 'cn-hangzhou', e ->> 1, now(), $2::uuid, false, e -> 2
       from jsonb_array_elements($1::jsonb) as e`,
      [rows, runId],
    );
    await insertDeliveriesForRun(tx.db, runId);
  });
  const at = performance.timeOrigin + performance.now();
  for (const id of ids) committedAt.set(id, at);
  produced += ids.length;
  await enqueueDeliveriesForRun(worker.queue, app.webhookStore(), runId, app.clock);
}

const inFlight: Promise<void>[] = [];
for (let batch = 0; batch < batches; batch += 1) {
  const due = started + batch * BATCH_EVERY_MS;
  const wait = due - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
  inFlight.push(commitBatch());
}
await Promise.all(inFlight);
const producingMs = Date.now() - started;
const drainDeadline = Date.now() + 120_000;
while (seen.size < produced && Date.now() < drainDeadline)
  await new Promise((resolve) => setTimeout(resolve, 50));
const totalMs = Date.now() - started;

await worker.queue.obliterate({ force: true });
await worker.close();
await connection.quit();
await app.close();
receiver.close();
await dropDatabase(serverUrl, name);

const loadText = (load: number[]) => load.map((l) => l.toFixed(1)).join(' ');
const sorted = [...latencies].sort((a, b) => a - b);
const pct = (p: number) =>
  Math.round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN);
const produceRate = Math.round((produced * 1000) / producingMs);
const deliverRate = Math.round((seen.size * 1000) / totalMs);
const lines = [
  '# Webhook delivery benchmark',
  '',
  `${new Date().toISOString()} · ${os.cpus().length} CPU · load (1/5/15 min) ${loadText(loadAtStart)} at start, ${loadText(os.loadavg())} at end · Node ${process.version}`,
  '',
  `Target: ${RATE} events/s for ${SECONDS} s, one endpoint on loopback, through the worker's queue path.`,
  '',
  '| measure | value | target |',
  '| --- | --- | --- |',
  `| events committed | ${produced} in ${(producingMs / 1000).toFixed(1)} s (${produceRate}/s) | ${RATE}/s |`,
  `| delivered | ${seen.size} in ${(totalMs / 1000).toFixed(1)} s (${deliverRate}/s overall) | ≥ ${RATE}/s |`,
  `| duplicates at the receiver | ${duplicates} | 0 |`,
  `| commit → delivery p50 | ${pct(50)} ms | |`,
  `| commit → delivery p95 | ${pct(95)} ms | ≤ 1000 ms |`,
  `| commit → delivery p99 | ${pct(99)} ms | |`,
  '',
];
process.stdout.write(`${lines.join('\n')}\n`);
await writeFile(RESULTS_FILE, lines.join('\n'));
process.exit(seen.size === produced ? 0 : 1);
