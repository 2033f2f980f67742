import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestClient, type TestClient, type TestResponse } from '../../test/support/simulator-client.ts';
import { createManualClock } from '../shared/clock.ts';
import { formatAcsDate, rpcStringToSign, signAcs3 } from '../swas/signer.ts';
import { API_VERSION } from '../swas/wire.ts';
import { type Simulator, startSimulator } from './index.ts';

// The simulator over real HTTP on loopback, requests signed with the project's signer.

const START = Date.UTC(2026, 0, 1, 12, 0, 0);
const STS = { accessKeyId: 'STS.testid', accessKeySecret: 'stssecret', securityToken: 'testtoken' };
const MISMATCH_PREFIX = 'Specified signature is not matched with our calculation. server string to sign is:';

/** Drops a parameter from a path's query string, leaving the rest byte for byte. */
const dropQueryParam = (path: string, name: string) => {
  const [base, query = ''] = path.split('?');
  return `${base}?${query
    .split('&')
    .filter((pair) => !pair.startsWith(`${name}=`))
    .join('&')}`;
};

function expectGatewayError(response: TestResponse, status: number, code: string, host: string) {
  expect(response.status).toBe(status);
  expect(response.headers['content-type']).toBe('application/json;charset=utf-8');
  const body = response.json();
  expect(Object.keys(body)).toEqual(['RequestId', 'HostId', 'Code', 'Message', 'Recommend']);
  expect(body.Code).toBe(code);
  expect(body.HostId).toBe(host);
  expect(body.RequestId).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  expect(response.headers['x-acs-request-id']).toBe(body.RequestId);
  expect(body.Recommend).toBe(
    `https://api.aliyun.com/troubleshoot?q=${code}&product=SWAS-OPEN&requestId=${String(body.RequestId)}`,
  );
  return body as Record<string, string>;
}

describe('simulator API', () => {
  let clock: ReturnType<typeof createManualClock>;
  let simulator: Simulator;
  let client: TestClient;
  let host: string;

  beforeEach(async () => {
    clock = createManualClock(START);
    simulator = await startSimulator({
      clock,
      quota: null,
      accounts: [{ accessKeyId: 'testid', accessKeySecret: 'testsecret' }, STS],
    });
    client = createTestClient({ baseUrl: simulator.url, clock });
    host = new URL(simulator.url).host;
  });
  afterEach(async () => {
    await client.close();
    await simulator.close();
  });

  describe('signatures', () => {
    it('accepts V3 (ACS3-HMAC-SHA256) requests as the official SDK sends them', async () => {
      const regions = await client.call({ action: 'ListRegions' });
      expect(regions.status).toBe(200);
      expect(regions.json().Regions).toContainEqual({
        LocalName: '华东1（杭州）',
        RegionEndpoint: 'swas.cn-hangzhou.aliyuncs.com',
        RegionId: 'cn-hangzhou',
      });
      const images = await client.call({ action: 'ListCustomImages', params: { RegionId: 'cn-hangzhou' } });
      expect(images.status).toBe(200);
      expect(images.json()).toMatchObject({ TotalCount: '120', PageSize: '10', PageNumber: '1' });
    });

    it('accepts V2 (HMAC-SHA1) requests by GET, by POST with a query, and by POST with a form body', async () => {
      for (const scheme of ['v2-get', 'v2-post-query', 'v2-post-form'] as const) {
        const response = await client.call({
          scheme,
          action: 'ListCustomImages',
          params: { RegionId: 'cn-shanghai', PageSize: '5' },
        });
        expect(response.status, scheme).toBe(200);
        expect(response.json(), scheme).toMatchObject({ TotalCount: '40', PageSize: '5' });
      }
    });

    it('reads `+` as a space in form bodies and as a plus in query strings', async () => {
      simulator.admin.addImage('cn-hangzhou', { Name: 'web server 01' });
      simulator.admin.addImage('cn-hangzhou', { Name: 'a+b' });
      const form = await client.call({
        scheme: 'v2-post-form',
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou', ImageNames: '["web server 01"]' },
        tamper: (request) => expect(request.body).toContain('web+server+01'),
      });
      expect(form.status).toBe(200);
      expect(form.json()).toMatchObject({ TotalCount: '1', CustomImages: [{ Name: 'web server 01' }] });

      const query = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou', ImageNames: '["a+b"]' },
        tamper: (request) => {
          request.path = request.path.replace('%2B', '+');
        },
      });
      expect(query.status).toBe(200);
      expect(query.json()).toMatchObject({ TotalCount: '1', CustomImages: [{ Name: 'a+b' }] });
    });

    it('answers a wrong secret with SignatureDoesNotMatch 400 and the server string to sign (V3)', async () => {
      const at = clock.now();
      const nonce = '0123456789abcdef0123456789abcdef';
      const query = { RegionId: 'cn-hangzhou', PageSize: '100' };
      const response = await client.call({
        action: 'ListCustomImages',
        params: query,
        at,
        nonce,
        credentials: { accessKeyId: 'testid', accessKeySecret: 'not-the-secret' },
      });
      const body = expectGatewayError(response, 400, 'SignatureDoesNotMatch', host);
      const expected = signAcs3(
        {
          method: 'POST',
          host,
          query,
          action: 'ListCustomImages',
          version: API_VERSION,
          date: formatAcsDate(at),
          nonce,
        },
        { accessKeyId: 'testid', accessKeySecret: 'testsecret' },
      );
      expect(body.Message).toBe(`${MISMATCH_PREFIX}${expected.stringToSign}`);
    });

    it('answers a wrong secret with SignatureDoesNotMatch 400 and the server string to sign (V2)', async () => {
      const at = clock.now();
      const nonce = 'a-v2-nonce';
      const response = await client.call({
        scheme: 'v2-get',
        action: 'ListRegions',
        params: { AcceptLanguage: 'en-US' },
        at,
        nonce,
        credentials: { accessKeyId: 'testid', accessKeySecret: 'wrong' },
      });
      const body = expectGatewayError(response, 400, 'SignatureDoesNotMatch', host);
      const stringToSign = rpcStringToSign({
        method: 'GET',
        params: {
          AcceptLanguage: 'en-US',
          AccessKeyId: 'testid',
          Action: 'ListRegions',
          Format: 'JSON',
          SignatureMethod: 'HMAC-SHA1',
          SignatureNonce: nonce,
          SignatureVersion: '1.0',
          Timestamp: formatAcsDate(at),
          Version: API_VERSION,
        },
      });
      expect(body.Message).toBe(`${MISMATCH_PREFIX}${stringToSign}`);
    });

    it('rejects a request changed after signing: query, body', async () => {
      const query = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou' },
        tamper: (request) => {
          request.path = request.path.replace('cn-hangzhou', 'cn-shanghai');
        },
      });
      expectGatewayError(query, 400, 'SignatureDoesNotMatch', host);
      const body = await client.call({
        action: 'ListRegions',
        tamper: (request) => {
          request.body = 'AcceptLanguage=en-US';
          request.headers['content-type'] = 'application/x-www-form-urlencoded';
        },
      });
      // The server hashes the body it received, not the one the client signed.
      expectGatewayError(body, 400, 'SignatureDoesNotMatch', host);
    });

    it('answers an unknown access key with InvalidAccessKeyId.NotFound 404, both schemes', async () => {
      for (const scheme of ['v3', 'v2-get'] as const) {
        const response = await client.call({
          scheme,
          action: 'ListRegions',
          credentials: { accessKeyId: 'nobody', accessKeySecret: 'testsecret' },
        });
        const body = expectGatewayError(response, 404, 'InvalidAccessKeyId.NotFound', host);
        expect(body.Message).toBe('Specified access key is not found.');
      }
    });

    it('accepts timestamps within 15 minutes and answers older or newer ones with InvalidTimeStamp.Expired', async () => {
      const minute = 60_000;
      for (const scheme of ['v3', 'v2-post-query'] as const) {
        expect(
          (await client.call({ scheme, action: 'ListRegions', at: clock.now() - 14 * minute })).status,
        ).toBe(200);
        expect(
          (await client.call({ scheme, action: 'ListRegions', at: clock.now() + 14 * minute })).status,
        ).toBe(200);
        for (const at of [clock.now() - 16 * minute, clock.now() + 16 * minute]) {
          const response = await client.call({ scheme, action: 'ListRegions', at });
          const body = expectGatewayError(response, 400, 'InvalidTimeStamp.Expired', host);
          expect(body.Message).toBe('Specified time stamp or date value is expired.');
        }
      }
    });

    it('answers a reused nonce with SignatureNonceUsed, and forgets it after the skew window', async () => {
      const nonce = 'fedcba9876543210fedcba9876543210';
      expect((await client.call({ action: 'ListRegions', nonce })).status).toBe(200);
      const again = await client.call({ action: 'ListRegions', nonce, params: { AcceptLanguage: 'en-US' } });
      expectGatewayError(again, 400, 'SignatureNonceUsed', host);
      // A forged request must not burn a nonce: a bad signature is refused before the nonce is kept.
      const forged = await client.call({
        action: 'ListRegions',
        nonce: 'n-2',
        credentials: { accessKeyId: 'testid', accessKeySecret: 'bad' },
      });
      expect(forged.json().Code).toBe('SignatureDoesNotMatch');
      expect((await client.call({ action: 'ListRegions', nonce: 'n-2' })).status).toBe(200);

      clock.advance(15 * 60_000 + 1000);
      expect((await client.call({ action: 'ListRegions', nonce })).status).toBe(200);
    });

    it('answers incomplete signatures with IncompleteSignature or MissingParameter 400', async () => {
      const unsignedNonce = await client.call({
        action: 'ListRegions',
        tamper: (request) => {
          request.headers.authorization = (request.headers.authorization ?? '').replace(
            ';x-acs-signature-nonce',
            '',
          );
        },
      });
      expect(expectGatewayError(unsignedNonce, 400, 'IncompleteSignature', host).Message).toContain(
        'x-acs-signature-nonce',
      );
      const extraHeader = await client.call({
        action: 'ListRegions',
        tamper: (request) => {
          request.headers['x-acs-extra'] = 'unsigned';
        },
      });
      expectGatewayError(extraHeader, 400, 'IncompleteSignature', host);
      const garbled = await client.call({
        action: 'ListRegions',
        tamper: (request) => {
          request.headers.authorization = 'ACS3-HMAC-SHA256 Credential=testid';
        },
      });
      expectGatewayError(garbled, 400, 'IncompleteSignature', host);
      const noTimestamp = await client.call({
        scheme: 'v2-get',
        action: 'ListRegions',
        tamper: (request) => {
          request.path = dropQueryParam(request.path, 'Timestamp');
        },
      });
      expect(expectGatewayError(noTimestamp, 400, 'MissingParameter', host).Message).toBe(
        'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
      );
      const unsigned = await client.send({
        method: 'GET',
        path: '/?Action=ListRegions&Version=2020-06-01',
        headers: {},
        body: '',
      });
      expect(expectGatewayError(unsigned, 400, 'MissingParameter', host).Message).toContain('"AccessKeyId"');
    });

    it('checks the STS token of an account that has one', async () => {
      for (const scheme of ['v3', 'v2-get'] as const) {
        expect((await client.call({ scheme, action: 'ListRegions', credentials: STS })).status, scheme).toBe(
          200,
        );
        const wrong = await client.call({
          scheme,
          action: 'ListRegions',
          credentials: { ...STS, securityToken: 'other' },
        });
        expectGatewayError(wrong, 400, 'InvalidSecurityToken.MismatchWithAccessKey', host);
        const none = await client.call({
          scheme,
          action: 'ListRegions',
          credentials: { accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret },
        });
        expectGatewayError(none, 400, 'InvalidSecurityToken.MismatchWithAccessKey', host);
      }
    });

    it('answers unknown actions, versions, paths and methods like the gateway', async () => {
      const action = await client.call({ action: 'DescribeInstances' });
      expect(expectGatewayError(action, 404, 'InvalidAction.NotFound', host).Message).toBe(
        'Specified api is not found, please check your url and method.',
      );
      expectGatewayError(
        await client.call({ action: 'ListRegions', version: '2017-01-01' }),
        400,
        'InvalidVersion',
        host,
      );
      expectGatewayError(
        await client.send({ method: 'PUT', path: '/', headers: {}, body: '' }),
        404,
        'InvalidAction.NotFound',
        host,
      );
      expectGatewayError(
        await client.send({ method: 'GET', path: '/api', headers: {}, body: '' }),
        404,
        'InvalidAction.NotFound',
        host,
      );
    });
  });

  describe('ListCustomImages', () => {
    it('pages 250 images as 100/100/50 with string counts and one TotalCount, newest first', async () => {
      simulator.admin.setRegion('cn-shenzhen', 250);
      const pages = [];
      for (const page of [1, 2, 3]) {
        const response = await client.call({
          action: 'ListCustomImages',
          params: { RegionId: 'cn-shenzhen', PageSize: '100', PageNumber: String(page) },
        });
        expect(response.status).toBe(200);
        pages.push(response.json());
      }
      expect(pages.map((page) => (page.CustomImages as unknown[]).length)).toEqual([100, 100, 50]);
      expect(pages.map((page) => [page.TotalCount, page.PageSize, page.PageNumber])).toEqual([
        ['250', '100', '1'],
        ['250', '100', '2'],
        ['250', '100', '3'],
      ]);
      const items = pages.flatMap(
        (page) => page.CustomImages as Array<{ ImageId: string; CreationTime: string }>,
      );
      expect(new Set(items.map((item) => item.ImageId)).size).toBe(250);
      expect(items.map((item) => item.ImageId)).toEqual(
        simulator.admin.listImages('cn-shenzhen').map((i) => i.ImageId),
      );
      const times = items.map((item) => Date.parse(item.CreationTime));
      expect(times).toEqual([...times].sort((a, b) => b - a));
    });

    it('lists items with the API field names and wire types', async () => {
      const response = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou', PageSize: '100' },
      });
      const items = response.json().CustomImages as Array<Record<string, unknown>>;
      expect(items).toHaveLength(100);
      for (const item of items) {
        expect(item).toMatchObject({
          ImageId: expect.stringMatching(/^m-bp1/),
          Status: expect.stringMatching(/^[0-4]$/),
          RegionId: 'cn-hangzhou',
          InShare: expect.any(Boolean),
          InShareUser: expect.any(Boolean),
          UserId: expect.any(Number),
          RequiredSystemDiskSize: expect.any(Number),
          RequiredDataDiskSize: expect.any(Number),
          Tags: expect.any(Array),
          CreateInstances: expect.any(Array),
          CreationTime: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/),
        });
      }
    });

    it('rejects PageSize 101 and PageNumber 0 with InvalidParameter naming the parameter', async () => {
      const tooBig = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou', PageSize: '101' },
      });
      expect(expectGatewayError(tooBig, 400, 'InvalidParameter', host).Message).toBe(
        'The specified value of parameter "PageSize" is not valid.',
      );
      const zero = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-hangzhou', PageNumber: '0' },
      });
      expect(expectGatewayError(zero, 400, 'InvalidParameter', host).Message).toContain('"PageNumber"');
    });

    it('filters by ImageIds (a JSON array string of at most 100)', async () => {
      const wanted = simulator.admin
        .listImages('cn-hangzhou')
        .filter((_, i) => i % 40 === 7)
        .map((image) => image.ImageId);
      expect(wanted).toHaveLength(3);
      const response = await client.call({
        action: 'ListCustomImages',
        params: {
          RegionId: 'cn-hangzhou',
          ImageIds: JSON.stringify([...wanted, 'm-bp1doesnotexist000000']),
          PageSize: '100',
        },
      });
      expect(response.json().TotalCount).toBe('3');
      expect(
        (response.json().CustomImages as Array<{ ImageId: string }>).map((item) => item.ImageId).sort(),
      ).toEqual([...wanted].sort());
      const tooMany = await client.call({
        action: 'ListCustomImages',
        params: {
          RegionId: 'cn-hangzhou',
          ImageIds: JSON.stringify(Array.from({ length: 101 }, (_, i) => `m-${i}`)),
        },
      });
      expectGatewayError(tooMany, 400, 'InvalidParameter', host);
    });

    it('filters by tag and sharing through the wire encoding', async () => {
      const tagged = simulator.admin.addImage('cn-beijing', {
        Tags: [{ Key: '项目', Value: '官网' }],
        InShare: true,
      });
      simulator.admin.addImage('cn-beijing', { Tags: [], InShare: false, InShareUser: false });
      const byTag = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-beijing', 'Tag.1.Key': '项目', 'Tag.1.Value': '官网' },
      });
      expect(byTag.json()).toMatchObject({ TotalCount: '1', CustomImages: [{ ImageId: tagged.ImageId }] });
      const shared = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-beijing', Share: 'true' },
      });
      expect(shared.json()).toMatchObject({ TotalCount: '1', CustomImages: [{ ImageId: tagged.ImageId }] });
    });

    it('requires RegionId and lists nothing for a region without images', async () => {
      const missing = await client.call({ action: 'ListCustomImages' });
      expectGatewayError(missing, 400, 'MissingParameter', host);
      for (const regionId of ['cn-beijing', 'eu-west-1']) {
        const empty = await client.call({ action: 'ListCustomImages', params: { RegionId: regionId } });
        expect(empty.json()).toMatchObject({
          TotalCount: '0',
          PageSize: '10',
          PageNumber: '1',
          CustomImages: [],
        });
      }
    });
  });

  describe('ListRegions', () => {
    it('names regions in zh-CN by default and in en-US on request', async () => {
      const zh = (await client.call({ action: 'ListRegions' })).json();
      const en = (await client.call({ action: 'ListRegions', params: { AcceptLanguage: 'en-US' } })).json();
      expect(zh.RequestId).toEqual(expect.any(String));
      expect((zh.Regions as Array<{ RegionId: string }>).map((region) => region.RegionId)).toEqual([
        'cn-hangzhou',
        'cn-shanghai',
        'ap-southeast-1',
        'cn-beijing',
      ]);
      expect(en.Regions).toContainEqual({
        LocalName: 'Singapore',
        RegionEndpoint: 'swas.ap-southeast-1.aliyuncs.com',
        RegionId: 'ap-southeast-1',
      });
      expect(zh.Regions).toContainEqual(
        expect.objectContaining({ RegionId: 'ap-southeast-1', LocalName: '新加坡' }),
      );
    });
  });

  describe('admin HTTP API', () => {
    it('adds, updates and deletes images, visible in the next listing', async () => {
      const list = async () =>
        (
          await client.call({
            action: 'ListCustomImages',
            params: { RegionId: 'ap-southeast-1', PageSize: '100' },
          })
        ).json();
      expect((await list()).TotalCount).toBe('12');

      const added = await client.admin('POST', '/_admin/regions/ap-southeast-1/images', {
        Name: '新建镜像-01',
        Status: '4',
        DataSnapshotId: null,
      });
      expect(added.status).toBe(201);
      const image = added.json();
      expect(image).toMatchObject({ Name: '新建镜像-01', Status: '4', RegionId: 'ap-southeast-1' });
      expect(image).not.toHaveProperty('DataSnapshotId');
      expect(image.CreationTime).toBe(formatAcsDate(START));
      let listing = await list();
      expect(listing.TotalCount).toBe('13');
      expect((listing.CustomImages as unknown[])[0]).toEqual(image);

      const fetched = await client.admin(
        'GET',
        `/_admin/regions/ap-southeast-1/images/${String(image.ImageId)}`,
      );
      expect(fetched.json()).toEqual(image);

      const patched = await client.admin(
        'PATCH',
        `/_admin/regions/ap-southeast-1/images/${String(image.ImageId)}`,
        {
          Status: '1',
          Tags: [{ Key: 'env', Value: 'prod' }],
        },
      );
      expect(patched.status).toBe(200);
      listing = await list();
      expect((listing.CustomImages as unknown[])[0]).toMatchObject({
        ImageId: image.ImageId,
        Status: '1',
        Tags: [{ Key: 'env', Value: 'prod' }],
      });

      const deleted = await client.admin(
        'DELETE',
        `/_admin/regions/ap-southeast-1/images/${String(image.ImageId)}`,
      );
      expect(deleted.status).toBe(204);
      listing = await list();
      expect(listing.TotalCount).toBe('12');
      expect(listing.CustomImages).not.toContainEqual(expect.objectContaining({ ImageId: image.ImageId }));
      expect(
        (await client.admin('DELETE', `/_admin/regions/ap-southeast-1/images/${String(image.ImageId)}`))
          .status,
      ).toBe(404);
    });

    it('answers bad input with 400/404/409 and a coded error', async () => {
      const [first] = simulator.admin.listImages('cn-shanghai');
      const invalid = await client.admin('PATCH', `/_admin/regions/cn-shanghai/images/${first?.ImageId}`, {
        Status: '9',
      });
      expect(invalid.status).toBe(400);
      expect(invalid.json()).toMatchObject({ error: { code: 'simulator.invalid_image' } });
      const duplicate = await client.admin('POST', '/_admin/regions/cn-shanghai/images', {
        ImageId: first?.ImageId,
      });
      expect(duplicate.status).toBe(409);
      const missing = await client.admin('PATCH', '/_admin/regions/cn-shanghai/images/m-none', {
        Status: '1',
      });
      expect(missing.status).toBe(404);
      expect(missing.json()).toMatchObject({ error: { code: 'simulator.not_found' } });
      const notJson = await client.send({
        method: 'POST',
        path: '/_admin/faults',
        headers: { 'content-type': 'application/json' },
        body: '{',
      });
      expect(notJson.json()).toMatchObject({ error: { code: 'simulator.invalid_request' } });
      expect((await client.admin('GET', '/_admin/nothing')).status).toBe(404);
    });

    it('replaces a region, lists regions, faults and calls, and resets them', async () => {
      const put = await client.admin('PUT', '/_admin/regions/cn-test-1', {
        images: 7,
        localName: '测试地域',
      });
      expect((put.json().images as unknown[]).length).toBe(7);
      const regions = (await client.admin('GET', '/_admin/regions')).json().regions;
      expect(regions).toContainEqual({ regionId: 'cn-test-1', localName: '测试地域', imageCount: 7 });

      const fault = await client.admin('POST', '/_admin/faults', {
        kind: 'numeric-counts',
        times: 'Infinity',
      });
      expect(fault.status).toBe(201);
      const { id } = fault.json();
      expect((await client.admin('GET', '/_admin/faults')).json().faults).toEqual([
        { kind: 'numeric-counts', times: 'Infinity', id, remaining: 'Infinity', applied: 0 },
      ]);
      const counted = await client.call({
        action: 'ListCustomImages',
        params: { RegionId: 'cn-test-1', PageSize: '5' },
      });
      expect(counted.json()).toMatchObject({ TotalCount: 7, PageSize: 5, PageNumber: 1 });
      const other = (
        await client.admin('POST', '/_admin/faults', { kind: 'hang', regionId: 'nowhere' })
      ).json().id;
      expect((await client.admin('DELETE', `/_admin/faults/${String(other)}`)).status).toBe(204);
      expect((await client.admin('DELETE', `/_admin/faults/${String(other)}`)).status).toBe(404);
      expect((await client.admin('DELETE', '/_admin/faults')).status).toBe(204);
      expect((await client.admin('GET', '/_admin/faults')).json().faults).toEqual([]);

      const calls = (await client.admin('GET', '/_admin/calls')).json().calls as Array<
        Record<string, unknown>
      >;
      expect(calls).toEqual([
        expect.objectContaining({
          seq: 1,
          action: 'ListCustomImages',
          accessKeyId: 'testid',
          regionId: 'cn-test-1',
          pageNumber: null,
          pageSize: 5,
          status: 200,
          code: null,
          scheme: 'v3',
          faults: ['numeric-counts'],
        }),
      ]);
      expect((await client.admin('DELETE', '/_admin/calls')).status).toBe(204);
      expect((await client.admin('GET', '/_admin/calls')).json().calls).toEqual([]);
      expect((await client.admin('DELETE', '/_admin/quota')).status).toBe(204);
    });
  });
});

describe('simulator quota', () => {
  let clock: ReturnType<typeof createManualClock>;
  let simulator: Simulator;
  let client: TestClient;

  beforeEach(async () => {
    clock = createManualClock(START);
    simulator = await startSimulator({
      clock,
      accounts: [
        { accessKeyId: 'testid', accessKeySecret: 'testsecret' },
        { accessKeyId: 'otherid', accessKeySecret: 'othersecret' },
      ],
    });
    client = createTestClient({ baseUrl: simulator.url, clock });
  });
  afterEach(async () => {
    await client.close();
    await simulator.close();
  });

  const listImages = () => client.call({ action: 'ListCustomImages', params: { RegionId: 'cn-hangzhou' } });

  it('answers the 11th call within a minute with Throttling.User and admits calls again after the window', async () => {
    // Refused signatures are not counted.
    const forged = await client.call({
      action: 'ListCustomImages',
      params: { RegionId: 'cn-hangzhou' },
      credentials: { accessKeyId: 'testid', accessKeySecret: 'x' },
    });
    expect(forged.status).toBe(400);
    for (let i = 0; i < 10; i++) {
      expect((await listImages()).status).toBe(200);
      clock.advance(1000);
    }
    const throttled = await listImages();
    expect(throttled.status).toBe(400);
    expect(throttled.json()).toMatchObject({
      Code: 'Throttling.User',
      Message: 'Request was denied due to user flow control.',
    });
    // The first call was at START, the window reopens at START + 60 s, now is START + 10 s.
    expect(throttled.headers['x-ratelimit-user-api']).toBe(`Remain:0,TimeLeft:50000,Reset:${START + 60_000}`);

    // The quota is per key and per action.
    expect((await client.call({ action: 'ListRegions' })).status).toBe(200);
    const other = await client.call({
      action: 'ListCustomImages',
      params: { RegionId: 'cn-hangzhou' },
      credentials: { accessKeyId: 'otherid', accessKeySecret: 'othersecret' },
    });
    expect(other.status).toBe(200);

    clock.advance(49_999);
    expect((await listImages()).status).toBe(400);
    clock.advance(1);
    expect((await listImages()).status).toBe(200);
    expect((await listImages()).status).toBe(400);

    simulator.admin.resetQuota();
    expect((await listImages()).status).toBe(200);
    const codes = simulator.admin.calls().map((call) => call.code);
    expect(codes.filter((code) => code === 'Throttling.User')).toHaveLength(3);
  });
});

describe('simulator data', () => {
  it('is the same for the same seed and differs for another', async () => {
    const started = await Promise.all([5, 5, 6].map((seed) => startSimulator({ seed, quota: null })));
    const clients = started.map((simulator) => createTestClient({ baseUrl: simulator.url }));
    try {
      const pages = await Promise.all(
        clients.map(async (client) => {
          const body = (
            await client.call({
              action: 'ListCustomImages',
              params: { RegionId: 'cn-shanghai', PageSize: '100' },
            })
          ).json();
          const { RequestId: _requestId, ...rest } = body;
          return rest;
        }),
      );
      expect(pages[0]?.TotalCount).toBe('40');
      expect(pages[1]).toEqual(pages[0]);
      expect(pages[2]).not.toEqual(pages[0]);
    } finally {
      await Promise.all(clients.map((client) => client.close()));
      await Promise.all(started.map((simulator) => simulator.close()));
    }
  });
});
