import { Writable } from 'node:stream';
import { pino } from 'pino';
import { MockAgent } from 'undici';
import type { MockInterceptor } from 'undici/types/mock-interceptor.js';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { type Clock, createManualClock } from '../shared/clock.ts';
import { createSequentialIds } from '../shared/ids.ts';
import { Secret } from '../shared/secret.ts';
import { createSwasClient, type SwasClientOptions, USER_AGENT } from './client.ts';
import { createLocalRateBudget, type RateBudget } from './rate-budget.ts';
import { EMPTY_BODY_SHA256, formatAcsDate, signAcs3 } from './signer.ts';

const START = Date.UTC(2026, 0, 1, 8, 30);
const ORIGIN = 'https://swas.cn-hangzhou.aliyuncs.com';
const ENDPOINT = 'https://swas.{region}.aliyuncs.com';
const ACCESS_KEY_ID = 'LTAI-test-id';
const SECRET = 'Sup3r-Secret-Value/xyz';
const TOKEN = 'CAIS-sts-token+value==';
const JSON_HEADERS = { 'content-type': 'application/json;charset=utf-8' };

const agents: MockAgent[] = [];
afterEach(async () => {
  for (const agent of agents.splice(0)) await agent.close();
});

interface Setup {
  clock?: Clock;
  rateBudget?: RateBudget;
  options?: Partial<SwasClientOptions>;
}

/** A client over a MockAgent that refuses the network, a manual clock that records sleeps, and a recording budget. */
function setup({ clock: givenClock, rateBudget, options }: Setup = {}) {
  const mock = new MockAgent({ enableCallHistory: true });
  mock.disableNetConnect();
  agents.push(mock);
  const manual = createManualClock(START);
  const sleeps: number[] = [];
  const clock: Clock = givenClock ?? {
    now: manual.now,
    sleep: async (ms, signal) => {
      sleeps.push(ms);
      await manual.sleep(ms, signal);
    },
  };
  const budgetKeys: string[] = [];
  const finished: string[] = [];
  const cancelled: string[] = [];
  /** Acquires and served requests, in order (`acquire`, `serve <PageNumber>`). */
  const order: string[] = [];
  const holds: { account: string; action: string; retryAfterMs: number | undefined }[] = [];
  const logLines: string[] = [];
  const logger = pino(
    { level: 'debug' },
    new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    }),
  );
  const client = createSwasClient(
    {
      dispatcher: mock,
      clock,
      ids: createSequentialIds(),
      random: () => 0.5,
      rateBudget: rateBudget ?? {
        acquire: async (key) => {
          budgetKeys.push(`${key.account}:${key.action}`);
          order.push('acquire');
          return {
            done: () => finished.push(`${key.account}:${key.action}`),
            cancel: () => cancelled.push(`${key.account}:${key.action}`),
          };
        },
        tryAcquire: () => Promise.reject(new Error('not used by the client')),
        availableIn: () => Promise.reject(new Error('not used by the client')),
        turn: () => Promise.reject(new Error('not used by the client')),
        throttled: async (key, retryAfterMs) => {
          holds.push({ ...key, retryAfterMs });
        },
      },
      logger,
    },
    {
      account: 'prod',
      endpoint: ENDPOINT,
      credentials: {
        accessKeyId: ACCESS_KEY_ID,
        accessKeySecret: new Secret(SECRET),
        securityToken: new Secret(TOKEN),
      },
      ...options,
    },
  );
  const pool = mock.get(ORIGIN);
  const calls = () => mock.getCallHistory()?.calls() ?? [];
  return {
    mock,
    pool,
    client,
    clock,
    sleeps,
    budgetKeys,
    finished,
    cancelled,
    order,
    holds,
    logLines,
    calls,
  };
}

const anyPost = { path: (path: string) => path.startsWith('/'), method: 'POST' };
const pageIs = (pageNumber: number) => ({
  path: (path: string) => new URL(path, ORIGIN).searchParams.get('PageNumber') === String(pageNumber),
  method: 'POST',
});

const item = (id: string, extra: Record<string, unknown> = {}) => ({
  ImageId: id,
  Name: `image ${id}`,
  Status: '1',
  RegionId: 'cn-hangzhou',
  CreationTime: '2025-10-09T02:28:06Z',
  InShare: false,
  InShareUser: false,
  ...extra,
});

const pageBody = (
  totalCount: number | string,
  pageNumber: number,
  items: unknown[],
  pageSize: number | string = 100,
) =>
  JSON.stringify({
    RequestId: `REQ-${pageNumber}`,
    TotalCount: totalCount,
    PageSize: pageSize,
    PageNumber: pageNumber,
    CustomImages: items,
  });

/** A region of `count` images served by query, counts as strings like the SDK model (or numbers). */
function serveRegion(
  pool: ReturnType<MockAgent['get']>,
  count: number,
  options: {
    numbers?: boolean;
    totalCount?: (page: number) => number;
    onServe?: (pageNumber: number) => void;
  } = {},
) {
  const ids = Array.from({ length: count }, (_, i) => `m-${String(i).padStart(4, '0')}`);
  pool
    .intercept(anyPost)
    .reply((request: MockInterceptor.MockResponseCallbackOptions) => {
      const query = new URL(request.path, ORIGIN).searchParams;
      const pageNumber = Number(query.get('PageNumber'));
      const pageSize = Number(query.get('PageSize'));
      options.onServe?.(pageNumber);
      const start = (pageNumber - 1) * pageSize;
      const total = options.totalCount?.(pageNumber) ?? count;
      const items = ids.slice(start, start + pageSize).map((id) => item(id));
      const asCount = (n: number) => (options.numbers ? n : String(n));
      return {
        statusCode: 200,
        data: pageBody(asCount(total), pageNumber, items, asCount(pageSize)),
        responseOptions: { headers: JSON_HEADERS },
      };
    })
    .persist();
  return ids;
}

const errorBody = (code: string, message: string, requestId = 'ERR-REQ-1') =>
  JSON.stringify({
    RequestId: requestId,
    HostId: 'swas.cn-hangzhou.aliyuncs.com',
    Code: code,
    Message: message,
  });

async function rejection(promise: Promise<unknown>): Promise<AppError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof AppError) return error;
    throw error;
  }
  throw new Error('expected a rejection');
}

describe('signing', () => {
  it('POSTs to / with business params in the query, an empty body and verifiable ACS3 headers', async () => {
    const { pool, client, calls } = setup();
    pool.intercept(anyPost).reply(200, pageBody('1', 1, [item('m-1')]), { headers: JSON_HEADERS });

    await client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 100 });

    const [call] = calls();
    expect(call?.method).toBe('POST');
    expect(call?.path).toBe('/');
    expect(call?.searchParams).toEqual({ RegionId: 'cn-hangzhou', PageNumber: '1', PageSize: '100' });
    expect(call?.body ?? '').toBe('');
    const headers = call?.headers as Record<string, string>;
    expect(headers).toMatchObject({
      host: 'swas.cn-hangzhou.aliyuncs.com',
      'x-acs-action': 'ListCustomImages',
      'x-acs-version': '2020-06-01',
      'x-acs-date': formatAcsDate(START),
      'x-acs-signature-nonce': createSequentialIds().nonce(),
      'x-acs-content-sha256': EMPTY_BODY_SHA256,
      'x-acs-accesskey-id': ACCESS_KEY_ID,
      'x-acs-security-token': TOKEN,
      accept: 'application/json',
      'user-agent': USER_AGENT,
    });
    expect(USER_AGENT).toMatch(/^swas-inventory\/\d+\.\d+\.\d+ /);
    const expected = signAcs3(
      {
        method: 'POST',
        host: headers.host ?? '',
        query: call?.searchParams ?? {},
        action: headers['x-acs-action'] ?? '',
        version: headers['x-acs-version'] ?? '',
        date: headers['x-acs-date'] ?? '',
        nonce: headers['x-acs-signature-nonce'] ?? '',
      },
      { accessKeyId: ACCESS_KEY_ID, accessKeySecret: SECRET, securityToken: TOKEN },
    );
    expect(headers.authorization).toBe(expected.headers.authorization);
    expect(JSON.stringify(headers)).not.toContain(SECRET);
  });

  it('signs a fresh nonce and date on every attempt, and the port of a non-default endpoint', async () => {
    const { mock, client, calls, clock } = setup({ options: { endpoint: 'http://127.0.0.1:18080' } });
    const local = mock.get('http://127.0.0.1:18080');
    local.intercept(anyPost).reply(503, errorBody('ServiceUnavailable', 'temporary failure'));
    local
      .intercept(anyPost)
      .reply(200, JSON.stringify({ RequestId: 'R', Regions: [] }), { headers: JSON_HEADERS });

    await client.listRegions();

    const headers = calls().map((call) => call.headers as Record<string, string>);
    expect(headers.map((h) => h.host)).toEqual(['127.0.0.1:18080', '127.0.0.1:18080']);
    expect(new Set(headers.map((h) => h['x-acs-signature-nonce'])).size).toBe(2);
    expect(headers[1]?.['x-acs-date']).toBe(formatAcsDate(clock.now()));
    expect(headers[0]?.['x-acs-date']).toBe(formatAcsDate(START));
  });
});

describe('listRegions', () => {
  it('calls ListRegions on the cn-hangzhou endpoint without RegionId and maps the regions', async () => {
    const { pool, client, calls, budgetKeys } = setup();
    pool.intercept(anyPost).reply(
      200,
      JSON.stringify({
        RequestId: 'R-1',
        Regions: [
          {
            RegionId: 'cn-hangzhou',
            LocalName: '华东1（杭州）',
            RegionEndpoint: 'swas.cn-hangzhou.aliyuncs.com',
          },
          { RegionId: 'ap-southeast-1' },
        ],
      }),
      { headers: JSON_HEADERS },
    );

    expect(await client.listRegions()).toEqual([
      { regionId: 'cn-hangzhou', localName: '华东1（杭州）', endpoint: 'swas.cn-hangzhou.aliyuncs.com' },
      { regionId: 'ap-southeast-1', localName: null, endpoint: null },
    ]);
    expect(calls()[0]?.searchParams).toEqual({});
    expect(calls()[0]?.headers).toMatchObject({ 'x-acs-action': 'ListRegions' });
    expect(budgetKeys).toEqual(['prod:ListRegions']);
  });
});

describe('listAllImages', () => {
  it('lists 250 images in exactly 3 calls of PageSize 100, spending the budget per call', async () => {
    const { pool, client, calls, budgetKeys } = setup();
    const ids = serveRegion(pool, 250);

    const listing = await client.listAllImages('cn-hangzhou');

    expect(calls()).toHaveLength(3);
    expect(calls().map((call) => [call.searchParams.PageNumber, call.searchParams.PageSize])).toEqual([
      ['1', '100'],
      ['2', '100'],
      ['3', '100'],
    ]);
    expect(listing).toMatchObject({ kind: 'full', complete: true, totalCount: 250, apiCalls: 3, pages: 3 });
    expect(listing.images.map((image) => image.state.imageId)).toEqual(ids);
    expect(budgetKeys).toEqual(Array(3).fill('prod:ListCustomImages'));
  });

  it("asks the budget for a page's permit while the page before is on its way, not after it", async () => {
    const { pool, client, budgetKeys, finished, cancelled, order } = setup();
    serveRegion(pool, 250, { onServe: (page) => order.push(`serve ${page}`) });

    const listing = await client.listAllImages('cn-hangzhou');

    expect(listing).toMatchObject({ complete: true, apiCalls: 3 });
    // Page 1 alone tells how many pages follow; from page 2 on, the next permit is asked for
    // as the request goes out. Every permit is used: as many as calls, all done, none cancelled.
    expect(order).toEqual(['acquire', 'serve 1', 'acquire', 'acquire', 'serve 2', 'serve 3']);
    expect(budgetKeys).toHaveLength(3);
    expect(finished).toHaveLength(3);
    expect(cancelled).toEqual([]);
  });

  it('cancels the permit asked for ahead when the listing ends without the page it was for', async () => {
    // Page 1 reports 3 pages and page 2 only 2: the permit asked for page 3 is never used.
    const { pool, client, calls, budgetKeys, finished, cancelled } = setup({
      options: { maxListingRereads: 0 },
    });
    serveRegion(pool, 300, { totalCount: (page) => (page === 1 ? 300 : 200) });

    const listing = await client.listAllImages('cn-hangzhou');

    expect(listing).toMatchObject({ complete: false, apiCalls: 2 });
    expect(calls()).toHaveLength(2);
    expect(budgetKeys).toHaveLength(3);
    expect(finished).toHaveLength(2);
    expect(cancelled).toEqual(['prod:ListCustomImages']);
  });

  it('cancels the permit asked for ahead when a page fails for good', async () => {
    const { pool, client, budgetKeys, finished, cancelled } = setup();
    pool.intercept(pageIs(1)).reply(200, pageBody('300', 1, [item('m-1')]));
    pool.intercept(pageIs(2)).reply(400, errorBody('InvalidParameter', 'bad page'));

    expect(await rejection(client.listAllImages('cn-hangzhou'))).toMatchObject({ code: 'swas.bad_request' });
    expect(budgetKeys).toHaveLength(3);
    expect(finished).toHaveLength(2);
    expect(cancelled).toEqual(['prod:ListCustomImages']);
  });

  it('accepts counts given as numbers as well as strings', async () => {
    const { pool, client } = setup();
    serveRegion(pool, 150, { numbers: true });
    expect(await client.listAllImages('cn-hangzhou')).toMatchObject({
      complete: true,
      totalCount: 150,
      apiCalls: 2,
    });
  });

  it('re-reads a listing whose TotalCount drifts, and reports it incomplete when the drift persists', async () => {
    const { pool, client, calls, logLines } = setup();
    serveRegion(pool, 250, { totalCount: (page) => (page === 1 ? 250 : 249) });

    const listing = await client.listAllImages('cn-hangzhou');

    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toContain('TotalCount changed from 250 to 249 between pages 1 and 2');
    expect(listing).toMatchObject({ apiCalls: 9, pages: 9 });
    expect(calls()).toHaveLength(9);
    expect(logLines.filter((line) => line.includes('re-reading'))).toHaveLength(2);
  });

  it('returns a stable re-read as complete after an image was removed between pages', async () => {
    const { pool, client } = setup();
    // First read: page 1 sees 250; then m-0000 is deleted, so page 2 reports 249 and shifts by one.
    pool.intercept(pageIs(1)).reply(
      200,
      pageBody(
        '250',
        1,
        Array.from({ length: 100 }, (_, i) => item(`m-${i}`)),
      ),
    );
    const after = Array.from({ length: 249 }, (_, i) => `m-${i + 1}`);
    const servePage = (page: number) =>
      pool.intercept(pageIs(page)).reply(
        200,
        pageBody(
          '249',
          page,
          after.slice((page - 1) * 100, page * 100).map((id) => item(id)),
        ),
      );
    servePage(2);
    servePage(3);
    servePage(1);
    servePage(2);
    servePage(3);

    const listing = await client.listAllImages('cn-hangzhou');

    expect(listing).toMatchObject({ complete: true, totalCount: 249, apiCalls: 6, pages: 6 });
    expect(listing.images.map((image) => image.state.imageId)).toEqual(after);
  });

  it('fails the whole listing when a page stays malformed, naming the page', async () => {
    const { pool, client, calls } = setup({ options: { retry: { maxAttempts: 3 } } });
    pool.intercept(pageIs(1)).reply(
      200,
      pageBody(
        '150',
        1,
        Array.from({ length: 100 }, (_, i) => item(`m-${i}`)),
      ),
    );
    pool.intercept(pageIs(2)).reply(200, '{"TotalCount": "150", "CustomImages": [').persist();

    const error = await rejection(client.listAllImages('cn-hangzhou'));

    expect(error.code).toBe('swas.malformed_response');
    expect(error.message).toMatch(/^ListCustomImages cn-hangzhou page 2: malformed JSON \(HTTP 200\)/);
    expect(error.details).toMatchObject({ page: 2, attempts: 3, apiCalls: 4, pages: 1 });
    expect(calls()).toHaveLength(4);
  });

  it('retries a page that was malformed once', async () => {
    const { pool, client } = setup();
    pool.intercept(anyPost).reply(200, '<html>502 Bad Gateway</html>');
    pool.intercept(anyPost).reply(200, pageBody('1', 1, [item('m-1')]));
    expect(await client.listAllImages('cn-hangzhou')).toMatchObject({
      complete: true,
      apiCalls: 2,
      pages: 1,
    });
  });

  it('leaves out an item without ImageId, naming the field, the item index and the page, without retrying', async () => {
    const { pool, client, calls } = setup({ options: { maxListingRereads: 0 } });
    pool.intercept(pageIs(1)).reply(
      200,
      pageBody(
        '150',
        1,
        Array.from({ length: 100 }, (_, i) => item(`m-${i}`)),
      ),
    );
    const page2 = Array.from({ length: 50 }, (_, i) => item(`m-${100 + i}`));
    const { ImageId: _dropped, ...withoutId } = item('m-105');
    page2[5] = withoutId as ReturnType<typeof item>;
    pool.intercept(pageIs(2)).reply(200, pageBody('150', 2, page2));

    const listing = await client.listAllImages('cn-hangzhou');

    expect(listing.rejected).toEqual([
      { imageId: null, page: 2, index: 5, field: 'ImageId', reason: 'required' },
    ]);
    expect(listing.images).toHaveLength(149);
    // Without a usable id the item cannot be counted: the listing may not delete.
    expect(listing).toMatchObject({
      complete: false,
      incompleteReason: '149 distinct image ids for TotalCount 150',
    });
    expect(calls()).toHaveLength(2);
  });

  it('leaves out an item of another region or with bad fields, keeping its id so the listing stays complete', async () => {
    const { pool, client } = setup();
    pool
      .intercept(anyPost)
      .reply(
        200,
        pageBody('4', 1, [
          item('m-1'),
          item('m-2', { RegionId: 'cn-beijing' }),
          item('m-3', { RequiredSystemDiskSize: 2147483648 }),
          item('m-4', { CreationTime: '0' }),
        ]),
      );
    const listing = await client.listAllImages('cn-hangzhou');
    expect(listing.images.map((image) => image.state.imageId)).toEqual(['m-1']);
    expect(listing.rejected.map(({ imageId, page, index, field }) => [imageId, page, index, field])).toEqual([
      ['m-2', 1, 1, 'RegionId'],
      ['m-3', 1, 2, 'RequiredSystemDiskSize'],
      ['m-4', 1, 3, 'CreationTime'],
    ]);
    expect(listing.rejected[0]?.reason).toBe('listed in cn-hangzhou but says cn-beijing');
    expect(listing.complete).toBe(true);
  });

  it('rejects a page without TotalCount, naming the field', async () => {
    const { pool, client } = setup();
    pool.intercept(anyPost).reply(200, JSON.stringify({ RequestId: 'R', CustomImages: [] }));
    const error = await rejection(client.listAllImages('cn-hangzhou'));
    expect(error.message).toBe('ListCustomImages cn-hangzhou page 1: TotalCount: required');
  });

  it('rejects a page with a non-numeric count, and leaves out an item with a bad status, naming the value', async () => {
    const { pool, client } = setup();
    pool.intercept(anyPost).reply(200, pageBody('lots', 1, []));
    pool.intercept(anyPost).reply(200, pageBody('1', 1, [item('m-1', { Status: '9' })]));
    expect((await rejection(client.listAllImages('cn-hangzhou'))).message).toBe(
      'ListCustomImages cn-hangzhou page 1: TotalCount: invalid value "lots"',
    );
    const listing = await client.listAllImages('cn-hangzhou');
    expect(listing.images).toEqual([]);
    expect(listing.rejected).toEqual([
      { imageId: 'm-1', page: 1, index: 0, field: 'Status', reason: 'expected a status code "0".."4"' },
    ]);
    expect(listing.complete).toBe(true);
  });

  it('rejects a page whose count is a number out of range or beyond 2^53, naming the check and the value', async () => {
    const { pool, client } = setup();
    pool.intercept(anyPost).reply(200, JSON.stringify({ RequestId: 'R', TotalCount: -1, CustomImages: [] }));
    expect((await rejection(client.listAllImages('cn-hangzhou'))).message).toBe(
      'ListCustomImages cn-hangzhou page 1: TotalCount: expected an integer ≥ 0, got -1',
    );
    pool.intercept(anyPost).reply(200, '{"RequestId":"R","TotalCount":1e300,"CustomImages":[]}');
    expect((await rejection(client.listAllImages('cn-hangzhou'))).message).toBe(
      'ListCustomImages cn-hangzhou page 1: TotalCount: expected an integer, got 1e+300',
    );
  });
});

describe('listCustomImagesPage', () => {
  it('keeps unknown fields in raw and a 16-digit UserId beyond 2^53 exactly', async () => {
    const { pool, client } = setup();
    const raw = `{"RequestId":"R-1","TotalCount":"1","PageSize":"100","PageNumber":"1","CustomImages":[
      {"ImageId":"m-big","Status":"1","UserId":9007199254740993,"FutureField":{"Nested":[1,2]},"RequiredSystemDiskSize":"40",
       "Tags":[{"Key":"env","Value":"prod"}]}]}`;
    pool.intercept(anyPost).reply(200, raw, { headers: JSON_HEADERS });

    const page = await client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 100 });

    expect(page).toMatchObject({ totalCount: 1, pageNumber: 1, pageSize: 100, requestId: 'R-1' });
    const [image] = page.items;
    expect(image?.state.userId).toBe('9007199254740993');
    expect(image?.state.regionId).toBe('cn-hangzhou');
    expect(image?.state.requiredSystemDiskSize).toBe(40);
    expect(image?.raw).toMatchObject({
      UserId: '9007199254740993',
      FutureField: { Nested: [1, 2] },
      RequiredSystemDiskSize: '40',
    });
  });

  it('reads the body as UTF-8 text: a byte-order mark is skipped, multi-byte text kept whole', async () => {
    const { pool, client } = setup();
    const json = `{"RequestId":"R-2","TotalCount":1,"CustomImages":[{"ImageId":"m-zh","Status":"1","Name":"宝塔面板-备份"}]}`;
    // A UTF-8 byte-order mark first (JSON.parse would refuse it), then text of 3-byte characters.
    const bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(json, 'utf8')]);
    pool.intercept(anyPost).reply(200, bytes, { headers: JSON_HEADERS });

    const page = await client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 100 });

    expect(page.requestId).toBe('R-2');
    expect(page.items.map((image) => image.state.name)).toEqual(['宝塔面板-备份']);
  });

  it('reads bytes that are not UTF-8 as U+FFFD instead of failing the page', async () => {
    const { pool, client } = setup();
    const [head, tail] = [
      '{"TotalCount":1,"CustomImages":[{"ImageId":"m-bad","Status":"1","Name":"a',
      'b"}]}',
    ];
    pool
      .intercept(anyPost)
      .reply(200, Buffer.concat([Buffer.from(head), Buffer.from([0xc3, 0x28]), Buffer.from(tail)]), {
        headers: JSON_HEADERS,
      });

    const page = await client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 100 });

    expect(page.items.map((image) => image.state.name)).toEqual(['a\ufffd(b']);
  });

  it('says once that the request has gone out, retries included', async () => {
    const { pool, client, calls } = setup();
    pool.intercept(anyPost).reply(503, errorBody('ServiceUnavailable', 'temporary failure'));
    pool.intercept(anyPost).reply(200, pageBody('1', 1, [item('m-1')]), { headers: JSON_HEADERS });
    const callsWhenSent: number[] = [];

    const page = await client.listCustomImagesPage({
      regionId: 'cn-hangzhou',
      pageNumber: 1,
      pageSize: 100,
      onSent: () => callsWhenSent.push(calls().length),
    });

    expect(page.items).toHaveLength(1);
    expect(calls()).toHaveLength(2);
    // Told in the check phase after the dispatch (the mock may answer sooner than that).
    await vi.waitFor(() => expect(callsWhenSent).toHaveLength(1));
    await new Promise((resolve) => setImmediate(resolve));
    expect(callsWhenSent).toHaveLength(1);
    expect(callsWhenSent[0]).toBeGreaterThanOrEqual(1);
  });

  it('refuses arguments the API would reject, without calling', async () => {
    const { client, calls } = setup();
    await expect(
      client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 101 }),
    ).rejects.toMatchObject({
      code: 'swas.bad_request',
    });
    await expect(
      client.listCustomImagesPage({ regionId: 'evil.example.com/x', pageNumber: 1, pageSize: 10 }),
    ).rejects.toMatchObject({ code: 'swas.bad_request' });
    expect(calls()).toHaveLength(0);
  });
});

describe('listImagesByIds', () => {
  it('sends at most 100 ids per call as a JSON array string and returns a watch listing', async () => {
    const { pool, client, calls } = setup();
    pool
      .intercept(anyPost)
      .reply((request: MockInterceptor.MockResponseCallbackOptions) => {
        const ids = JSON.parse(
          new URL(request.path, ORIGIN).searchParams.get('ImageIds') ?? '[]',
        ) as string[];
        return {
          statusCode: 200,
          data: pageBody(
            String(ids.length),
            1,
            ids.map((id) => item(id, { Status: '4' })),
          ),
        };
      })
      .persist();
    const wanted = Array.from({ length: 230 }, (_, i) => `m-${i}`);

    const listing = await client.listImagesByIds('cn-hangzhou', wanted);

    const sent = calls().map((call) => call.searchParams);
    expect(sent.map((query) => JSON.parse(query.ImageIds ?? '').length)).toEqual([100, 100, 30]);
    expect(sent[0]?.ImageIds).toBe(JSON.stringify(wanted.slice(0, 100)));
    expect(sent.every((query) => query.PageNumber === '1' && query.PageSize === '100')).toBe(true);
    expect(listing).toMatchObject({ kind: 'watch', complete: false, totalCount: 0, apiCalls: 3, pages: 3 });
    expect(listing.images.map((image) => image.state.imageId)).toEqual(wanted);
  });
});

describe('errors and retries', () => {
  it('retries throttling twice through the budget shared hold, then succeeds: 3 calls, 3 budget spends', async () => {
    const { pool, client, calls, sleeps, budgetKeys, finished, holds } = setup();
    pool
      .intercept(anyPost)
      .reply(400, errorBody('Throttling.User', 'Request was denied due to user flow control.'))
      .times(2);
    pool.intercept(anyPost).reply(200, pageBody('1', 1, [item('m-1')]));

    const listing = await client.listAllImages('cn-hangzhou');

    expect(calls()).toHaveLength(3);
    // No sleep of the retry loop's own: the hold makes the next acquire wait, for every process.
    expect(sleeps).toEqual([]);
    expect(holds).toEqual([
      { account: 'prod', action: 'ListCustomImages', retryAfterMs: undefined },
      { account: 'prod', action: 'ListCustomImages', retryAfterMs: undefined },
    ]);
    expect(budgetKeys).toHaveLength(3);
    expect(finished).toEqual(budgetKeys);
    expect(listing).toMatchObject({ complete: true, apiCalls: 3, pages: 1 });
  });

  it('passes the TimeLeft the server gives in x-ratelimit-user-api to the budget hold', async () => {
    const { pool, client, sleeps, holds } = setup();
    pool
      .intercept(anyPost)
      .reply(400, errorBody('Throttling.Api', 'Request was denied due to api flow control.'), {
        headers: { ...JSON_HEADERS, 'x-ratelimit-user-api': 'Limit:10,Remain:0,TimeLeft:7000' },
      })
      .times(2);
    pool.intercept(anyPost).reply(200, pageBody('0', 1, []));

    await client.listAllImages('cn-hangzhou');

    expect(sleeps).toEqual([]);
    expect(holds.map((hold) => hold.retryAfterMs)).toEqual([7_000, 7_000]);
  });

  it('does not retry SignatureDoesNotMatch and never shows the secret or token the server echoes', async () => {
    const { pool, client, calls, logLines } = setup();
    const echoed = `Specified signature is not matched with our calculation (secret ${SECRET}). server string to sign is:ACS3-HMAC-SHA256\nPOST\n/\nx-acs-security-token:${TOKEN}`;
    pool
      .intercept(anyPost)
      .reply(400, errorBody('SignatureDoesNotMatch', echoed, 'REQ-SIG'), { headers: JSON_HEADERS });

    const error = await rejection(
      client.listCustomImagesPage({ regionId: 'cn-hangzhou', pageNumber: 1, pageSize: 100 }),
    );

    expect(calls()).toHaveLength(1);
    expect(error.code).toBe('swas.auth');
    expect(error.retryable).toBe(false);
    expect(error.message).toBe(
      'ListCustomImages cn-hangzhou page 1: SignatureDoesNotMatch (HTTP 400, RequestId REQ-SIG): Specified signature is not matched with our calculation (secret [redacted]).',
    );
    expect(error.details).toMatchObject({
      apiCode: 'SignatureDoesNotMatch',
      httpStatus: 400,
      requestId: 'REQ-SIG',
      action: 'ListCustomImages',
      regionId: 'cn-hangzhou',
      page: 1,
    });
    const everything = `${error.message} ${JSON.stringify(error.details)} ${logLines.join('')}`;
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain(TOKEN);
  });

  it('retries 5xx up to maxAttempts and then fails with the last error', async () => {
    const { pool, client, calls, sleeps } = setup({ options: { retry: { maxAttempts: 4 } } });
    pool
      .intercept(anyPost)
      .reply(500, errorBody('InternalError', 'An error occurred while processing your request.'))
      .persist();

    const error = await rejection(client.listAllImages('cn-hangzhou'));

    expect(calls()).toHaveLength(4);
    expect(sleeps).toHaveLength(3);
    expect(error).toMatchObject({
      code: 'swas.unavailable',
      retryable: true,
      details: { attempts: 4, apiCalls: 4, page: 1 },
    });
    expect(error.message).toContain('InternalError (HTTP 500, RequestId ERR-REQ-1)');
  });

  it('retries a 502 without a JSON body', async () => {
    const { pool, client, calls } = setup();
    pool.intercept(anyPost).reply(502, '<html>Bad Gateway</html>');
    pool.intercept(anyPost).reply(200, JSON.stringify({ Regions: [] }));
    expect(await client.listRegions()).toEqual([]);
    expect(calls()).toHaveLength(2);
  });

  it('reads an error body under HTTP 200 as that error: retried when its code says so, named when not', async () => {
    const { pool, client, calls } = setup();
    pool
      .intercept(anyPost)
      .reply(200, errorBody('ServiceUnavailable', 'The request has failed due to a temporary failure.'));
    pool.intercept(anyPost).reply(200, JSON.stringify({ Regions: [] }));
    expect(await client.listRegions()).toEqual([]);
    expect(calls()).toHaveLength(2);

    pool.intercept(anyPost).reply(200, errorBody('InvalidParameter', 'PageSize is invalid.'));
    const error = await rejection(client.listAllImages('cn-hangzhou'));
    expect(calls()).toHaveLength(3);
    expect(error.message).toContain('InvalidParameter (HTTP 200, RequestId ERR-REQ-1): PageSize is invalid.');
  });

  it('stops retrying when the server asks for a wait beyond maxElapsedMs', async () => {
    const { pool, client, calls } = setup({ options: { retry: { maxElapsedMs: 60_000 } } });
    pool
      .intercept(anyPost)
      .reply(503, errorBody('ServiceUnavailable', 'busy'), { headers: { 'retry-after': '120' } })
      .persist();
    const error = await rejection(client.listRegions());
    expect(error).toMatchObject({
      code: 'swas.unavailable',
      details: { attempts: 1, retryAfterMs: 120_000 },
    });
    expect(calls()).toHaveLength(1);
  });

  it('retries connection resets and not unknown transport failures', async () => {
    const { pool, client, calls } = setup();
    pool
      .intercept(anyPost)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    pool.intercept(anyPost).reply(200, JSON.stringify({ Regions: [] }));
    expect(await client.listRegions()).toEqual([]);
    expect(calls()).toHaveLength(2);

    pool.intercept(anyPost).replyWithError(Object.assign(new Error('weird'), { code: 'EWEIRD' }));
    const error = await rejection(client.listRegions());
    expect(error).toMatchObject({
      code: 'swas.network',
      retryable: false,
      details: { transportCode: 'EWEIRD' },
    });
    expect(calls()).toHaveLength(3);
  });

  it('times out a hung attempt after requestTimeoutMs even though the dispatcher would wait', async () => {
    const { pool, client, calls } = setup({ options: { requestTimeoutMs: 200, retry: { maxAttempts: 2 } } });
    pool
      .intercept(anyPost)
      .reply(200, JSON.stringify({ Regions: [] }))
      .delay(5_000)
      .times(2);

    const startedAt = performance.now();
    const error = await rejection(client.listRegions());
    const elapsed = performance.now() - startedAt;

    expect(error).toMatchObject({
      code: 'swas.timeout',
      retryable: true,
      details: { timeoutMs: 200, attempts: 2 },
    });
    expect(error.message).toBe('ListRegions: no complete answer within 200 ms');
    expect(calls()).toHaveLength(2);
    expect(elapsed).toBeGreaterThanOrEqual(390);
    expect(elapsed).toBeLessThan(4_000);
  });

  it('logs retries at warn with the code and delay, and never logs credentials or signed headers', async () => {
    const { pool, client, logLines } = setup();
    pool
      .intercept(anyPost)
      .reply(400, errorBody('Throttling', 'Request was denied due to request throttling.'));
    pool.intercept(anyPost).reply(200, JSON.stringify({ RequestId: 'R-OK', Regions: [] }));

    await client.listRegions();

    const entries = logLines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(entries).toContainEqual(
      expect.objectContaining({
        level: 40,
        component: 'swas',
        account: 'prod',
        action: 'ListRegions',
        code: 'swas.throttled',
        delayMs: 0,
        attempt: 1,
      }),
    );
    expect(entries).toContainEqual(
      expect.objectContaining({ level: 20, requestId: 'R-OK', httpStatus: 200 }),
    );
    const all = logLines.join('');
    for (const forbidden of [SECRET, TOKEN, 'authorization', 'ACS3-HMAC-SHA256', 'x-acs-security-token']) {
      expect(all).not.toContain(forbidden);
    }
  });
});

describe('abort', () => {
  it('stops a pending retry sleep at once with swas.aborted carrying the reason', async () => {
    const manual = createManualClock(START);
    let sleeping: (() => void) | undefined;
    const sleepStarted = new Promise<void>((resolve) => {
      sleeping = resolve;
    });
    // A clock whose sleeps last until aborted: only the abort can end the wait.
    const clock: Clock = {
      now: manual.now,
      sleep: (_ms, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          sleeping?.();
        }),
    };
    const { pool, client, calls } = setup({ clock });
    pool.intercept(anyPost).reply(503, errorBody('ServiceUnavailable', 'busy')).persist();
    const controller = new AbortController();

    const pending = client.listAllImages('cn-hangzhou', controller.signal);
    await sleepStarted;
    const reason = new Error('worker shutting down');
    controller.abort(reason);
    const error = await rejection(pending);

    expect(error).toMatchObject({ code: 'swas.aborted', retryable: false, cause: reason });
    expect(error.message).toBe('ListCustomImages cn-hangzhou page 1: aborted');
    expect(calls()).toHaveLength(1);
  });

  it('aborts an in-flight request, and a wait for the rate budget before any call', async () => {
    const manual = createManualClock(START);
    let budgetSleeping: (() => void) | undefined;
    const budgetSleepStarted = new Promise<void>((resolve) => {
      budgetSleeping = resolve;
    });
    const budgetClock: Clock = {
      now: manual.now,
      sleep: (_ms, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal?.addEventListener('abort', () => reject(signal.reason), { once: true });
          budgetSleeping?.();
        }),
    };
    const { pool, client, calls } = setup({
      rateBudget: createLocalRateBudget({ limit: 1, intervalMs: 60_000 }, { clock: budgetClock }),
      options: { requestTimeoutMs: 10_000 },
    });
    pool
      .intercept(anyPost)
      .reply(200, JSON.stringify({ Regions: [] }))
      .delay(5_000);
    const inFlight = new AbortController();
    const first = client.listRegions(inFlight.signal);
    setImmediate(() => inFlight.abort(new Error('cancel')));
    expect(await rejection(first)).toMatchObject({ code: 'swas.aborted' });
    expect(calls()).toHaveLength(1);

    // The budget (1 a minute) is spent: the next call waits for it until aborted, and sends nothing.
    const waiting = new AbortController();
    const second = client.listRegions(waiting.signal);
    await budgetSleepStarted;
    const reason = new Error('stop');
    waiting.abort(reason);
    expect(await rejection(second)).toMatchObject({ code: 'swas.aborted', cause: reason });
    expect(calls()).toHaveLength(1);
  });
});
