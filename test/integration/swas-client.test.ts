import diagnostics from 'node:diagnostics_channel';
import type { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AppError } from '../../src/shared/app-error.ts';
import { type Clock, createManualClock, systemClock } from '../../src/shared/clock.ts';
import { randomIds } from '../../src/shared/ids.ts';
import { Secret } from '../../src/shared/secret.ts';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSwasClient, createSwasDispatcher, type SwasClientOptions } from '../../src/swas/client.ts';
import { createLocalRateBudget, type RateBudget } from '../../src/swas/rate-budget.ts';

// The real client, signer, retry loop and rate budget against the simulator over real HTTP.

const REGION = 'cn-hangzhou';
const ACCOUNT = {
  accessKeyId: 'STS.integration',
  accessKeySecret: 'integration-secret',
  securityToken: 'sts-token-42',
};

let simulator: Simulator;
const dispatchers: Agent[] = [];

beforeAll(async () => {
  simulator = await startSimulator({
    port: 0,
    seed: 7,
    accounts: [ACCOUNT],
    regions: [
      { regionId: REGION, images: 250 },
      { regionId: 'cn-shanghai', images: 5 },
    ],
    quota: null,
  });
});

afterAll(async () => {
  await simulator.close();
});

afterEach(async () => {
  simulator.admin.clearFaults();
  simulator.admin.resetCalls();
  simulator.admin.resetQuota();
  simulator.admin.setRegion(REGION, 250);
  for (const dispatcher of dispatchers.splice(0)) await dispatcher.close();
});

interface ClientSetup {
  secret?: string;
  rateBudget?: RateBudget;
  clock?: Clock;
  options?: Partial<SwasClientOptions>;
}

/** Real time for signing; backoff sleeps are recorded and skipped unless a clock is given. */
function client({ secret, rateBudget, clock, options }: ClientSetup = {}) {
  const sleeps: number[] = [];
  const recordingClock: Clock = {
    now: () => Date.now(),
    sleep: async (ms, signal) => {
      signal?.throwIfAborted();
      sleeps.push(ms);
    },
  };
  const dispatcher = createSwasDispatcher({ headersTimeoutMs: 5_000, bodyTimeoutMs: 5_000 });
  dispatchers.push(dispatcher);
  const swas = createSwasClient(
    {
      dispatcher,
      clock: clock ?? recordingClock,
      ids: randomIds,
      random: () => 0.5,
      rateBudget:
        rateBudget ?? createLocalRateBudget({ limit: 1_000, intervalMs: 60_000 }, { clock: systemClock }),
    },
    {
      account: 'integration',
      endpoint: simulator.url,
      credentials: {
        accessKeyId: ACCOUNT.accessKeyId,
        accessKeySecret: new Secret(secret ?? ACCOUNT.accessKeySecret),
        securityToken: new Secret(ACCOUNT.securityToken),
      },
      ...options,
    },
  );
  return { swas, sleeps };
}

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('SWAS client against the simulator', () => {
  it('lists 250 images in exactly 3 signed calls, complete', async () => {
    const { swas } = client();

    const listing = await swas.listAllImages(REGION);

    expect(listing).toMatchObject({ kind: 'full', complete: true, totalCount: 250, apiCalls: 3, pages: 3 });
    expect(new Set(listing.images.map((image) => image.state.imageId)).size).toBe(250);
    const calls = simulator.admin.calls();
    expect(
      calls.map((call) => [call.action, call.scheme, call.status, call.pageNumber, call.pageSize]),
    ).toEqual([
      ['ListCustomImages', 'v3', 200, 1, 100],
      ['ListCustomImages', 'v3', 200, 2, 100],
      ['ListCustomImages', 'v3', 200, 3, 100],
    ]);
    const expectedIds = simulator.admin.listImages(REGION).map((image) => image.ImageId);
    expect(listing.images.map((image) => image.state.imageId)).toEqual(expectedIds);
  });

  it("writes the next page's request before it goes through the page in hand", async () => {
    const { swas } = client();
    const events: string[] = [];
    const onWrite = (message: unknown) => {
      const path = (message as { request: { path: string } }).request.path;
      events.push(`write ${new URLSearchParams(path.slice(path.indexOf('?'))).get('PageNumber')}`);
    };
    // The snapshot is looked up once per listed item: the first lookup of a page's items marks
    // where the listing starts going through that page.
    const firstIds = new Map<string, number>();
    for (const [index, image] of simulator.admin.listImages(REGION).entries()) {
      if (index % 100 === 0) firstIds.set(image.ImageId, index / 100 + 1);
    }
    class Snapshot extends Map<string, string> {
      override get(imageId: string): string | undefined {
        const page = firstIds.get(imageId);
        if (page !== undefined) events.push(`read ${page}`);
        return super.get(imageId);
      }
    }
    // A first listing opens the connections: a request on a new one waits for its connect anyway.
    await swas.listAllImages(REGION);
    diagnostics.subscribe('undici:client:sendHeaders', onWrite);
    try {
      const listing = await swas.listAllImages(REGION, undefined, new Snapshot());
      expect(listing).toMatchObject({ complete: true, apiCalls: 3 });
      expect(listing.images).toHaveLength(250);
    } finally {
      diagnostics.unsubscribe('undici:client:sendHeaders', onWrite);
    }
    // Page 2 is on the wire while page 1's items are gone through, and page 3 while page 2's are.
    expect(events).toEqual(['write 1', 'write 2', 'read 1', 'write 3', 'read 2', 'read 3']);
  });

  it('lists the regions', async () => {
    const { swas } = client();
    const regions = await swas.listRegions();
    expect(regions.map((region) => region.regionId)).toEqual(expect.arrayContaining([REGION, 'cn-shanghai']));
  });

  it('retries throttling twice, holding the account for TimeLeft plus the margin, then succeeds', async () => {
    // The budget's clock only moves when it sleeps: how far it moved is how long the holds lasted.
    const budgetClock = createManualClock(Date.UTC(2026, 0, 1));
    const rateBudget = createLocalRateBudget(
      { limit: 1_000, intervalMs: 60_000 },
      { clock: budgetClock },
      { holdMarginMs: 100 },
    );
    const { swas, sleeps } = client({ rateBudget });
    simulator.admin.injectFault({
      kind: 'throttle',
      action: 'ListCustomImages',
      pageNumber: 1,
      timeLeftMs: 1_500,
      times: 2,
    });

    const listing = await swas.listAllImages(REGION);

    expect(listing).toMatchObject({ complete: true, apiCalls: 5, pages: 3 });
    expect(sleeps).toEqual([]);
    expect(budgetClock.now() - Date.UTC(2026, 0, 1)).toBe(2 * (1_500 + 100));
    expect(simulator.admin.calls().map((call) => call.code)).toEqual([
      'Throttling.User',
      'Throttling.User',
      null,
      null,
      null,
    ]);
  });

  it('does not retry SignatureDoesNotMatch and keeps the secret and token out of the error', async () => {
    const { swas } = client({ secret: 'not-the-secret' });

    const error = await rejection(swas.listAllImages(REGION));

    expect(error).toMatchObject({
      code: 'swas.auth',
      retryable: false,
      details: { apiCode: 'SignatureDoesNotMatch', httpStatus: 400, page: 1, apiCalls: 1 },
    });
    expect(error.message).toMatch(
      /^ListCustomImages cn-hangzhou page 1: SignatureDoesNotMatch \(HTTP 400, RequestId /,
    );
    expect(error.message).not.toContain('server string to sign');
    for (const secret of ['not-the-secret', ACCOUNT.accessKeySecret, ACCOUNT.securityToken]) {
      expect(`${error.message} ${JSON.stringify(error.details)}`).not.toContain(secret);
    }
    expect(simulator.admin.calls()).toHaveLength(1);
  });

  it('re-reads after drift under paging and reports a persistently drifting listing incomplete', async () => {
    const { swas } = client();
    simulator.admin.injectFault({
      kind: 'drift',
      regionId: REGION,
      pageNumber: 1,
      remove: 1,
      times: Infinity,
    });

    const listing = await swas.listAllImages(REGION);

    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toBe(
      'TotalCount changed from 248 to 247 between pages 1 and 2 (still after 3 reads)',
    );
    expect(listing).toMatchObject({ apiCalls: 9, pages: 9, totalCount: 247 });
  });

  it('accepts a stable re-read after a one-off drift', async () => {
    const { swas } = client();
    simulator.admin.injectFault({ kind: 'drift', regionId: REGION, pageNumber: 1, remove: 1 });

    const listing = await swas.listAllImages(REGION);

    expect(listing).toMatchObject({ complete: true, totalCount: 249, apiCalls: 6, pages: 6 });
    expect(listing.images).toHaveLength(249);
  });

  it('times out a hung request and succeeds on the retry', async () => {
    const { swas } = client({ options: { requestTimeoutMs: 300 } });
    simulator.admin.injectFault({ kind: 'hang', action: 'ListRegions' });

    const regions = await swas.listRegions();

    expect(regions.length).toBeGreaterThan(0);
    expect(simulator.admin.calls().filter((call) => call.action === 'ListRegions')).toHaveLength(2);
  });

  it('reads a watch listing by ids with the ImageIds filter', async () => {
    const { swas } = client();
    const ids = simulator.admin
      .listImages(REGION)
      .slice(0, 120)
      .map((image) => image.ImageId);

    const listing = await swas.listImagesByIds(REGION, ids);

    expect(listing).toMatchObject({ kind: 'watch', complete: false, apiCalls: 2, pages: 2 });
    expect(listing.images.map((image) => image.state.imageId).sort()).toEqual([...ids].sort());
  });

  it('keeps under the server quota with a rate budget of the same size', async () => {
    // The server counts arrivals, the budget counts departures: a little slack on the server side
    // absorbs the transit-time jitter between them.
    const server = await startSimulator({
      port: 0,
      accounts: [ACCOUNT],
      regions: [{ regionId: REGION, images: 250 }],
      quota: { limit: 3, intervalMs: 900 },
    });
    try {
      const swas = createSwasClient(
        {
          dispatcher: (() => {
            const agent = createSwasDispatcher();
            dispatchers.push(agent);
            return agent;
          })(),
          clock: systemClock,
          ids: randomIds,
          random: () => 0.5,
          rateBudget: createLocalRateBudget({ limit: 3, intervalMs: 1_000 }, { clock: systemClock }),
        },
        {
          account: 'integration',
          endpoint: server.url,
          credentials: {
            accessKeyId: ACCOUNT.accessKeyId,
            accessKeySecret: new Secret(ACCOUNT.accessKeySecret),
            securityToken: new Secret(ACCOUNT.securityToken),
          },
        },
      );
      const startedAt = Date.now();
      const first = await swas.listAllImages(REGION);
      const second = await swas.listAllImages(REGION);
      expect(Date.now() - startedAt).toBeGreaterThanOrEqual(990);
      expect([first.apiCalls, second.apiCalls]).toEqual([3, 3]);
      expect(server.admin.calls().map((call) => call.status)).toEqual([200, 200, 200, 200, 200, 200]);
    } finally {
      await server.close();
    }
  });
});
