import { describe, expect, it } from 'vitest';
import {
  abortedError,
  apiError,
  classifyApiError,
  classifyTransportError,
  cleanApiMessage,
  describeCall,
  scrubSecrets,
  transportError,
} from './errors.ts';
import { percentEncode } from './signer.ts';

describe('classifyApiError', () => {
  it.each([
    [400, 'Throttling', 'swas.throttled', true],
    [400, 'Throttling.User', 'swas.throttled', true],
    [400, 'Throttling.Api', 'swas.throttled', true],
    [503, 'ServiceUnavailable', 'swas.unavailable', true],
    [500, 'InternalError', 'swas.unavailable', true],
    [502, undefined, 'swas.unavailable', true],
    [504, 'SomethingNew', 'swas.unavailable', true],
    [429, undefined, 'swas.throttled', true],
    [400, 'SignatureDoesNotMatch', 'swas.auth', false],
    [403, 'SignatureDoesNotMatch', 'swas.auth', false],
    [400, 'IncompleteSignature', 'swas.auth', false],
    [404, 'InvalidAccessKeyId.NotFound', 'swas.auth', false],
    [400, 'InvalidAccessKeyId.Inactive', 'swas.auth', false],
    [400, 'InvalidSecurityToken.Expired', 'swas.auth', false],
    [403, 'Forbidden', 'swas.forbidden', false],
    [403, 'Forbidden.RAM', 'swas.forbidden', false],
    [400, 'InvalidTimeStamp.Expired', 'swas.clock_skew', false],
    [400, 'InvalidParameter', 'swas.bad_request', false],
    [404, undefined, 'swas.bad_request', false],
    [401, undefined, 'swas.auth', false],
    [403, undefined, 'swas.forbidden', false],
    [302, undefined, 'swas.unexpected_status', false],
  ] as const)('HTTP %i with Code %s is %s (retryable %s)', (status, code, expected, retryable) => {
    expect(classifyApiError(status, code)).toEqual({ code: expected, retryable });
  });
});

describe('classifyTransportError', () => {
  const withCode = (code: string) => Object.assign(new Error(`failed ${code}`), { code });

  it.each([
    ['UND_ERR_CONNECT_TIMEOUT', 'swas.timeout', true],
    ['UND_ERR_HEADERS_TIMEOUT', 'swas.timeout', true],
    ['UND_ERR_BODY_TIMEOUT', 'swas.timeout', true],
    ['ETIMEDOUT', 'swas.timeout', true],
    ['UND_ERR_SOCKET', 'swas.network', true],
    ['ECONNRESET', 'swas.network', true],
    ['ECONNREFUSED', 'swas.network', true],
    ['EPIPE', 'swas.network', true],
    ['ENOTFOUND', 'swas.network', false],
    ['UND_ERR_MOCK_NOT_MATCHED', 'swas.network', false],
  ] as const)('%s is %s (retryable %s)', (code, expected, retryable) => {
    expect(classifyTransportError(withCode(code))).toEqual({
      code: expected,
      retryable,
      transportCode: code,
    });
  });

  it('looks through causes and treats code-less errors as not retryable', () => {
    expect(
      classifyTransportError(new TypeError('fetch failed', { cause: withCode('ECONNRESET') })),
    ).toMatchObject({
      code: 'swas.network',
      retryable: true,
    });
    expect(classifyTransportError(new Error('odd'))).toEqual({
      code: 'swas.network',
      retryable: false,
      transportCode: undefined,
    });
  });
});

describe('messages', () => {
  const secret = 'sEcReT/with+chars';
  const token = 'CAIS-token==';

  it('drops the echoed string to sign and scrubs secrets in any encoding', () => {
    const message = `Specified signature is not matched with our calculation. server string to sign is:POST&%2F&x-acs-security-token%3A${percentEncode(token)}`;
    expect(cleanApiMessage(message, [secret, token])).toBe(
      'Specified signature is not matched with our calculation.',
    );
    const echoed = `key ${secret} / ${percentEncode(secret)} / ${percentEncode(percentEncode(token))}`;
    expect(scrubSecrets(echoed, [secret, token])).toBe('key [redacted] / [redacted] / [redacted]');
  });

  it('names the call, API code, status and RequestId, and keeps structured details', () => {
    const context = { action: 'ListCustomImages', regionId: 'cn-hangzhou', page: 2 };
    expect(describeCall(context)).toBe('ListCustomImages cn-hangzhou page 2');
    const error = apiError(
      context,
      {
        httpStatus: 400,
        apiCode: 'Throttling.User',
        requestId: 'REQ-1',
        message: 'Request was denied due to user flow control.',
        retryAfterMs: 1500,
      },
      [secret],
    );
    expect(error.message).toBe(
      'ListCustomImages cn-hangzhou page 2: Throttling.User (HTTP 400, RequestId REQ-1): Request was denied due to user flow control.',
    );
    expect(error.code).toBe('swas.throttled');
    expect(error.retryable).toBe(true);
    expect(error.details).toEqual({
      action: 'ListCustomImages',
      regionId: 'cn-hangzhou',
      page: 2,
      apiCode: 'Throttling.User',
      httpStatus: 400,
      requestId: 'REQ-1',
      retryAfterMs: 1500,
    });
  });

  it('wraps transport failures and aborts with their cause', () => {
    const cause = Object.assign(new Error(`connect failed with ${secret}`), { code: 'ECONNREFUSED' });
    const error = transportError({ action: 'ListRegions' }, cause, [secret]);
    expect(error).toMatchObject({ code: 'swas.network', retryable: true, cause });
    expect(error.message).toBe('ListRegions: ECONNREFUSED: connect failed with [redacted]');
    const reason = new Error('shutdown');
    expect(abortedError({ action: 'ListRegions' }, reason)).toMatchObject({
      code: 'swas.aborted',
      retryable: false,
      cause: reason,
    });
  });
});
