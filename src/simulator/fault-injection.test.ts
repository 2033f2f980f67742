import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestClient, type TestClient } from '../../test/support/simulator-client.ts';
import { waitFor } from '../../test/support/wait-for.ts';
import { createManualClock } from '../shared/clock.ts';
import { type Simulator, startSimulator } from './index.ts';

// Every fault kind, observed over real HTTP by a signed client.

const START = Date.UTC(2026, 0, 1, 12, 0, 0);

interface Page {
  TotalCount: string;
  CustomImages: Array<Record<string, unknown> & { ImageId: string }>;
}

describe('injected faults', () => {
  let clock: ReturnType<typeof createManualClock>;
  let simulator: Simulator;
  let client: TestClient;

  beforeEach(async () => {
    clock = createManualClock(START);
    simulator = await startSimulator({ clock, quota: null });
    client = createTestClient({ baseUrl: simulator.url, clock });
  });
  afterEach(async () => {
    await client.close();
    await simulator.close();
  });

  const listPage = (regionId: string, pageNumber = 1, pageSize = 100) =>
    client.call({
      action: 'ListCustomImages',
      params: { RegionId: regionId, PageNumber: String(pageNumber), PageSize: String(pageSize) },
    });

  it('throttle: Throttling.User 400 with the wait hint, once', async () => {
    simulator.admin.injectFault({ kind: 'throttle', action: 'ListCustomImages', timeLeftMs: 1500 });
    const throttled = await listPage('cn-hangzhou');
    expect(throttled.status).toBe(400);
    expect(throttled.json()).toMatchObject({
      Code: 'Throttling.User',
      Message: 'Request was denied due to user flow control.',
    });
    expect(throttled.headers['x-ratelimit-user-api']).toBe(`Remain:0,TimeLeft:1500,Reset:${START + 1500}`);
    expect((await listPage('cn-hangzhou')).status).toBe(200);

    simulator.admin.injectFault({ kind: 'throttle', code: 'Throttling.Api' });
    const api = await client.call({ action: 'ListRegions' });
    expect(api.json().Code).toBe('Throttling.Api');
    expect(api.headers['x-ratelimit-user-api']).toBeUndefined();
    expect(simulator.admin.calls().map((call) => call.faults)).toEqual([['throttle'], [], ['throttle']]);
  });

  it('error: any status and code, scoped to a page, the gateway body', async () => {
    simulator.admin.injectFault({ kind: 'error', status: 503, code: 'ServiceUnavailable', pageNumber: 2 });
    expect((await listPage('cn-hangzhou', 1)).status).toBe(200);
    const unavailable = await listPage('cn-hangzhou', 2);
    expect(unavailable.status).toBe(503);
    expect(Object.keys(unavailable.json())).toEqual(['RequestId', 'HostId', 'Code', 'Message', 'Recommend']);
    expect(unavailable.json()).toMatchObject({
      Code: 'ServiceUnavailable',
      Message: 'The request has failed due to a temporary failure of the server.',
    });
    expect((await listPage('cn-hangzhou', 2)).status).toBe(200);

    simulator.admin.injectFault({
      kind: 'error',
      status: 500,
      code: 'InternalError',
      message: 'An error occurred while processing your request.',
      action: 'ListRegions',
    });
    const internal = await client.call({ action: 'ListRegions' });
    expect(internal.status).toBe(500);
    expect(internal.json()).toMatchObject({
      Code: 'InternalError',
      Message: 'An error occurred while processing your request.',
    });
  });

  it('times: a persistent fault applies until cleared', async () => {
    simulator.admin.injectFault({ kind: 'error', status: 500, code: 'InternalError', times: Infinity });
    for (let i = 0; i < 3; i++) expect((await listPage('cn-shanghai')).status).toBe(500);
    expect(simulator.admin.listFaults()).toEqual([
      expect.objectContaining({ remaining: Infinity, applied: 3 }),
    ]);
    simulator.admin.clearFaults();
    expect((await listPage('cn-shanghai')).status).toBe(200);
  });

  it('latency: the answer comes at least `ms` later, unchanged', async () => {
    simulator.admin.injectFault({ kind: 'latency', ms: 200 });
    const started = performance.now();
    const response = await listPage('ap-southeast-1');
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(response.status).toBe(200);
    expect(response.json().TotalCount).toBe('12');
    expect(simulator.admin.calls()[0]?.faults).toEqual(['latency']);
  });

  it('reset: the connection is reset instead of answered', async () => {
    simulator.admin.injectFault({ kind: 'reset', regionId: 'cn-hangzhou' });
    await expect(listPage('cn-hangzhou')).rejects.toMatchObject({
      code: expect.stringMatching(/^(ECONNRESET|UND_ERR_SOCKET)$/),
    });
    expect((await listPage('cn-hangzhou')).status).toBe(200);
    expect(simulator.admin.calls()[0]).toMatchObject({ status: null, code: null, faults: ['reset'] });
  });

  it('malformed-json: 200 with a truncated JSON body', async () => {
    simulator.admin.injectFault({ kind: 'malformed-json' });
    const response = await listPage('cn-hangzhou');
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/json;charset=utf-8');
    expect(response.text.startsWith('{"RequestId":"')).toBe(true);
    expect(() => response.json()).toThrow(SyntaxError);
    const next = await listPage('cn-hangzhou');
    expect(next.json().TotalCount).toBe('120');
  });

  it('missing-field: one item of the page, or the body, lacks the field', async () => {
    simulator.admin.injectFault({ kind: 'missing-field', field: 'ImageId' });
    const items = ((await listPage('cn-hangzhou')).json() as unknown as Page).CustomImages;
    expect(items[0]).not.toHaveProperty('ImageId');
    expect(items[0]).toHaveProperty('Status');
    expect(items.slice(1).every((item) => typeof item.ImageId === 'string')).toBe(true);

    simulator.admin.injectFault({ kind: 'missing-field', field: 'Status', index: 3 });
    const third = ((await listPage('cn-hangzhou')).json() as unknown as Page).CustomImages;
    expect(third[3]).not.toHaveProperty('Status');
    expect(third[2]).toHaveProperty('Status');

    simulator.admin.injectFault({ kind: 'missing-field', field: 'TotalCount', target: 'body' });
    const body = (await listPage('cn-hangzhou')).json();
    expect(body).not.toHaveProperty('TotalCount');
    expect(body).toHaveProperty('CustomImages');
  });

  it('drift (remove): after page 1 an image is removed, TotalCount changes and one image is skipped', async () => {
    simulator.admin.setRegion('cn-drift', 250);
    const before = simulator.admin.listImages('cn-drift').map((image) => image.ImageId);
    simulator.admin.injectFault({ kind: 'drift', regionId: 'cn-drift', pageNumber: 1, remove: 1 });
    const pages = [];
    for (const page of [1, 2, 3]) pages.push((await listPage('cn-drift', page)).json() as unknown as Page);
    expect(pages.map((page) => page.TotalCount)).toEqual(['250', '249', '249']);
    const seen = new Set(pages.flatMap((page) => page.CustomImages.map((item) => item.ImageId)));
    expect(seen.size).toBe(249);
    // The first image of page 2 moved onto page 1, which had already been read.
    expect(seen.has(before[100] ?? '')).toBe(false);
    expect(simulator.admin.listImages('cn-drift')).toHaveLength(249);
  });

  it('drift (add): new images push the listing down, so the next page repeats images', async () => {
    simulator.admin.setRegion('cn-drift', 150);
    simulator.admin.injectFault({ kind: 'drift', regionId: 'cn-drift', add: 2 });
    const first = (await listPage('cn-drift', 1)).json() as unknown as Page;
    const second = (await listPage('cn-drift', 2)).json() as unknown as Page;
    expect([first.TotalCount, second.TotalCount]).toEqual(['150', '152']);
    expect(second.CustomImages.slice(0, 2).map((item) => item.ImageId)).toEqual(
      first.CustomImages.slice(98).map((item) => item.ImageId),
    );
  });

  it('numeric-counts: counts as JSON numbers, ListCustomImages only', async () => {
    simulator.admin.injectFault({ kind: 'numeric-counts', times: 2 });
    expect((await client.call({ action: 'ListRegions' })).status).toBe(200);
    const body = (await listPage('cn-shanghai', 1, 30)).json();
    expect(body).toMatchObject({ TotalCount: 40, PageSize: 30, PageNumber: 1 });
    expect(simulator.admin.listFaults()).toEqual([expect.objectContaining({ remaining: 1 })]);
  });

  it('extra-fields: unknown fields on the body and every item', async () => {
    simulator.admin.injectFault({ kind: 'extra-fields', action: 'ListCustomImages' });
    const body = (await listPage('cn-shanghai', 1, 5)).json() as unknown as Page & Record<string, unknown>;
    expect(body).toMatchObject({ NextToken: '', Success: true, TotalCount: '40' });
    for (const item of body.CustomImages)
      expect(item).toMatchObject({ Architecture: 'x86_64', ImageOwnerAlias: 'self' });

    simulator.admin.injectFault({
      kind: 'extra-fields',
      bodyFields: { Future: { a: 1 } },
      itemFields: { Zone: 'z' },
    });
    const regions = (await client.call({ action: 'ListRegions' })).json();
    expect(regions.Future).toEqual({ a: 1 });
    for (const region of regions.Regions as unknown[]) expect(region).toMatchObject({ Zone: 'z' });
  });

  it('never reshapes an error answer', async () => {
    simulator.admin.injectFault({ kind: 'malformed-json' });
    const invalid = await client.call({
      action: 'ListCustomImages',
      params: { RegionId: 'cn-hangzhou', PageSize: '0' },
    });
    expect(invalid.json().Code).toBe('InvalidParameter');
    expect(simulator.admin.listFaults()).toHaveLength(1);
  });
});

describe('closing', () => {
  it('hang: the request stays unanswered until close(), which does not wait for it', async () => {
    const simulator = await startSimulator({ quota: null });
    const client = createTestClient({ baseUrl: simulator.url });
    try {
      simulator.admin.injectFault({ kind: 'hang', action: 'ListRegions' });
      const hung = client.call({ action: 'ListRegions' });
      const outcome = hung.then(
        () => 'answered',
        () => 'failed',
      );
      await waitFor('the hung call to be logged', () =>
        simulator.admin.calls().some((call) => call.faults[0] === 'hang'),
      );
      // Another call on another connection is answered meanwhile.
      expect(
        (await client.call({ action: 'ListCustomImages', params: { RegionId: 'cn-hangzhou' } })).status,
      ).toBe(200);
      await simulator.close();
      expect(await outcome).toBe('failed');
    } finally {
      await client.close();
      await simulator.close();
    }
  });

  it('closes with idle keep-alive connections open and refuses connections afterwards', async () => {
    const simulator = await startSimulator({ quota: null });
    const client = createTestClient({ baseUrl: simulator.url });
    try {
      expect((await client.call({ action: 'ListRegions' })).status).toBe(200);
      await simulator.close();
      await expect(client.call({ action: 'ListRegions' })).rejects.toThrow();
    } finally {
      await client.close();
    }
  });
});
