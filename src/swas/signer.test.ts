import { describe, expect, it } from 'vitest';
import {
  canonicalQueryString,
  EMPTY_BODY_SHA256,
  parseAcs3Authorization,
  percentEncode,
  rpcStringToSign,
  signAcs3,
  signRpc,
} from './signer.ts';

// Golden vectors: the official V3 example and the official V2 examples of Alibaba Cloud's
// signature documentation, plus SWAS vectors derived with the same algorithms.
describe('ACS3-HMAC-SHA256', () => {
  const official = {
    method: 'POST',
    host: 'ecs.cn-shanghai.aliyuncs.com',
    query: { ImageId: 'win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd', RegionId: 'cn-shanghai' },
    action: 'RunInstances',
    version: '2014-05-26',
    date: '2023-10-26T10:22:32Z',
    nonce: '3156853299f313e23d1673dc12e1703d',
  };
  const officialCredentials = { accessKeyId: 'YourAccessKeyId', accessKeySecret: 'YourAccessKeySecret' };

  it('reproduces the official documentation example step by step', () => {
    const signed = signAcs3(official, officialCredentials);
    expect(signed.canonicalRequest).toBe(
      [
        'POST',
        '/',
        'ImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai',
        'host:ecs.cn-shanghai.aliyuncs.com',
        'x-acs-action:RunInstances',
        `x-acs-content-sha256:${EMPTY_BODY_SHA256}`,
        'x-acs-date:2023-10-26T10:22:32Z',
        'x-acs-signature-nonce:3156853299f313e23d1673dc12e1703d',
        'x-acs-version:2014-05-26',
        '',
        'host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version',
        EMPTY_BODY_SHA256,
      ].join('\n'),
    );
    expect(signed.stringToSign).toBe(
      'ACS3-HMAC-SHA256\n7ea06492da5221eba5297e897ce16e55f964061054b7695beedaac1145b1e259',
    );
    expect(signed.signature).toBe('06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0');
    expect(signed.headers.authorization).toBe(
      'ACS3-HMAC-SHA256 Credential=YourAccessKeyId,SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0',
    );
  });

  it('changes the signature when any single byte of the request or the secret changes', () => {
    const good = signAcs3(official, officialCredentials).signature;
    const variants = [
      signAcs3({ ...official, nonce: '3156853299f313e23d1673dc12e1703e' }, officialCredentials),
      signAcs3({ ...official, date: '2023-10-26T10:22:33Z' }, officialCredentials),
      signAcs3({ ...official, query: { ...official.query, RegionId: 'cn-shanghaj' } }, officialCredentials),
      signAcs3({ ...official, host: 'ecs.cn-shanghai.aliyuncs.con' }, officialCredentials),
      signAcs3(official, { ...officialCredentials, accessKeySecret: 'YourAccessKeySecreu' }),
      signAcs3({ ...official, body: ' ' }, officialCredentials),
    ];
    for (const variant of variants) expect(variant.signature).not.toBe(good);
  });

  const swasQuery = {
    RegionId: 'cn-hangzhou',
    PageNumber: '1',
    PageSize: '100',
    ImageIds: '["m-1","m-2"]',
    Share: 'false',
    'Tag.1.Key': 'env',
    'Tag.1.Value': 'prod',
  };
  const swasRequest = {
    method: 'POST',
    host: 'swas.cn-hangzhou.aliyuncs.com',
    query: swasQuery,
    action: 'ListCustomImages',
    version: '2020-06-01',
    date: '2024-01-01T00:00:00Z',
    nonce: '0123456789abcdef0123456789abcdef',
  };

  it('signs a ListCustomImages call like the derived SWAS vector', () => {
    expect(canonicalQueryString(swasQuery)).toBe(
      'ImageIds=%5B%22m-1%22%2C%22m-2%22%5D&PageNumber=1&PageSize=100&RegionId=cn-hangzhou&Share=false&Tag.1.Key=env&Tag.1.Value=prod',
    );
    const signed = signAcs3(swasRequest, { accessKeyId: 'testid', accessKeySecret: 'testsecret' });
    expect(signed.signature).toBe('33479733824ad70adf164cfc39066c2aad2d018f413c94e7f3b2f6e94f7869ad');
  });

  it('signs the STS key id and token as x-acs headers', () => {
    const signed = signAcs3(swasRequest, {
      accessKeyId: 'STS.testid',
      accessKeySecret: 'testsecret',
      securityToken: 'testtoken',
    });
    expect(signed.headers['x-acs-security-token']).toBe('testtoken');
    expect(signed.signature).toBe('0d7ec9014aa36b6ce8adf67bf3be33d5e120ef01b8841d420f74ab39227b2d5e');
    const parsed = parseAcs3Authorization(signed.headers.authorization ?? '');
    expect(parsed?.signedHeaders).toContain('x-acs-security-token');
    expect(parsed?.accessKeyId).toBe('STS.testid');
  });

  it('rejects malformed authorization headers', () => {
    expect(parseAcs3Authorization('ACS3-HMAC-SHA256 Credential=a,Signature=b')).toBeUndefined();
    expect(parseAcs3Authorization('HMAC-SHA1 Credential=a,SignedHeaders=host,Signature=b')).toBeUndefined();
  });
});

describe('RPC HMAC-SHA1 (SignatureVersion 1.0)', () => {
  it('reproduces the official DescribeRegions example', () => {
    const params = {
      AccessKeyId: 'testid',
      Action: 'DescribeRegions',
      Format: 'XML',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf',
      SignatureVersion: '1.0',
      Timestamp: '2016-02-23T12:46:24Z',
      Version: '2014-05-26',
    };
    expect(rpcStringToSign({ method: 'GET', params })).toBe(
      'GET&%2F&AccessKeyId%3Dtestid%26Action%3DDescribeRegions%26Format%3DXML%26SignatureMethod%3DHMAC-SHA1%26SignatureNonce%3D3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf%26SignatureVersion%3D1.0%26Timestamp%3D2016-02-23T12%253A46%253A24Z%26Version%3D2014-05-26',
    );
    expect(signRpc({ method: 'GET', params }, 'testsecret')).toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
    expect(signRpc({ method: 'GET', params }, 'testsecreu')).not.toBe('OLeaidS1JvxuMvnyHOwuJ+uX5qY=');
  });

  it('encodes non-ASCII values as the official SendSms example does', () => {
    const params = {
      AccessKeyId: 'testId',
      Action: 'SendSms',
      Format: 'XML',
      OutId: '123',
      PhoneNumbers: '15300000001',
      RegionId: 'cn-hangzhou',
      SignName: '阿里云短信测试专用',
      SignatureMethod: 'HMAC-SHA1',
      SignatureNonce: '45e25e9b-0a6f-4070-8c85-2956eda1b466',
      SignatureVersion: '1.0',
      TemplateCode: 'SMS_71390007',
      TemplateParam: '{"customer":"test"}',
      Timestamp: '2017-07-12T02:42:19Z',
      Version: '2017-05-25',
    };
    expect(signRpc({ method: 'GET', params }, 'testSecret')).toBe('zJDF+Lrzhj/ThnlvIToysFRq6t4=');
  });

  it('signs the derived SWAS vector for GET and POST', () => {
    const params = {
      Action: 'ListCustomImages',
      Version: '2020-06-01',
      Format: 'JSON',
      AccessKeyId: 'testid',
      SignatureMethod: 'HMAC-SHA1',
      SignatureVersion: '1.0',
      SignatureNonce: '0123456789abcdef0123456789abcdef',
      Timestamp: '2024-01-01T00:00:00Z',
      RegionId: 'cn-hangzhou',
      PageNumber: '1',
      PageSize: '100',
      ImageIds: '["m-1","m-2"]',
      Share: 'false',
      'Tag.1.Key': 'env',
      'Tag.1.Value': 'prod',
    };
    expect(signRpc({ method: 'GET', params }, 'testsecret')).toBe('gLYfU803jgea5dI9BVkwJlnTJuo=');
    expect(signRpc({ method: 'POST', params }, 'testsecret')).toBe('VACpq+oxGBjTNKtx9siPsMrfHMo=');
  });

  it('percent-encodes the characters encodeURIComponent leaves alone', () => {
    expect(percentEncode("a b*c~d!e'(f)+/")).toBe('a%20b%2Ac~d%21e%27%28f%29%2B%2F');
  });
});
