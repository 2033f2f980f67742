/**
 * `npm run bench:budget`: two "processes" (two clients, each with its own Redis connection and
 * budget) list 6 regions of 250 images against the simulator enforcing 6 calls per 3 s, counted on
 * arrival, with SWAS_RATE_LIMIT 6/3s. Reports the wall time against the quota-bound ideal
 * ((calls − burst) / rate) and the Throttling answers, for the shared Redis budget and for two
 * local budgets (what two `sync --once` processes did before). Needs Redis at REDIS_URL
 * (default redis://127.0.0.1:6379). Both clients share this process's event loop.
 * `BENCH_TRACE=1` also prints when each call reached the simulator (s; `T`: throttled).
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisRateBudget } from '../src/jobs/redis-rate-budget.ts';
import { systemClock } from '../src/shared/clock.ts';
import { randomIds } from '../src/shared/ids.ts';
import { Secret } from '../src/shared/secret.ts';
import { startSimulator } from '../src/simulator/index.ts';
import { createSwasClient, createSwasDispatcher } from '../src/swas/client.ts';
import { createLocalRateBudget, type RateBudget } from '../src/swas/rate-budget.ts';

const RATE = { limit: 6, intervalMs: 3_000 };
const REGIONS = ['cn-hangzhou', 'cn-shanghai', 'cn-beijing', 'cn-shenzhen', 'ap-southeast-1', 'us-west-1'];
const IMAGES = 250;
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

async function scenario(name: string, budgets: () => Promise<[RateBudget, RateBudget, () => Promise<void>]>) {
  const simulator = await startSimulator({
    port: 0,
    quota: RATE,
    regions: REGIONS.map((regionId) => ({ regionId, images: IMAGES })),
  });
  const [a, b, close] = await budgets();
  const dispatcher = createSwasDispatcher();
  // One account name for both "processes", as two replicas of one deployment would have.
  const account = `bench-${randomBytes(3).toString('hex')}`;
  const clientFor = (rateBudget: RateBudget) =>
    createSwasClient(
      { dispatcher, clock: systemClock, ids: randomIds, random: Math.random, rateBudget },
      {
        account,
        endpoint: simulator.url,
        credentials: { accessKeyId: 'testid', accessKeySecret: new Secret('testsecret') },
      },
    );
  const [first, second] = [clientFor(a), clientFor(b)];
  const started = performance.now();
  const listings = await Promise.all([
    ...REGIONS.slice(0, 3).map((region) => first.listAllImages(region)),
    ...REGIONS.slice(3).map((region) => second.listAllImages(region)),
  ]);
  const seconds = (performance.now() - started) / 1_000;
  const calls = simulator.admin.calls();
  if (process.env.BENCH_TRACE)
    console.log(
      name,
      calls
        .map((call) => `${((call.at - (calls[0]?.at ?? 0)) / 1000).toFixed(3)}${call.code ? 'T' : ''}`)
        .join(' '),
    );
  const throttles = calls.filter((call) => call.code?.startsWith('Throttling')).length;
  const pages = listings.reduce((sum, listing) => sum + listing.pages, 0);
  const ideal = ((pages - RATE.limit) * RATE.intervalMs) / RATE.limit / 1_000;
  await dispatcher.close();
  await simulator.close();
  await close();
  return {
    name,
    seconds,
    ideal,
    calls: calls.length,
    pages,
    throttles,
    complete: listings.every((l) => l.complete),
  };
}

const results = [
  await scenario('shared Redis budget, 2 processes', async () => {
    const prefix = `bench-${randomBytes(4).toString('hex')}`;
    const connections = [new Redis(redisUrl), new Redis(redisUrl)];
    const [one, two] = connections.map((redis) =>
      createRedisRateBudget(RATE, { redis, clock: systemClock }, { prefix }),
    ) as [RateBudget, RateBudget];
    return [one, two, async () => void (await Promise.all(connections.map((redis) => redis.quit())))];
  }),
  await scenario('local budgets, 2 processes (no sharing)', async () => [
    createLocalRateBudget(RATE, { clock: systemClock }),
    createLocalRateBudget(RATE, { clock: systemClock }),
    async () => undefined,
  ]),
];

console.log(
  `Quota 6 calls / 3 s on arrival, SWAS_RATE_LIMIT=6/3s, ${REGIONS.length} regions × ${IMAGES} images\n`,
);
console.log('| scenario | pages | HTTP calls | Throttling | time | ideal | ratio | complete |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(
    `| ${r.name} | ${r.pages} | ${r.calls} | ${r.throttles} | ${r.seconds.toFixed(2)} s | ${r.ideal.toFixed(2)} s | ${(r.seconds / r.ideal).toFixed(2)}× | ${r.complete} |`,
  );
}
