import { describe, expect, it } from 'vitest';
import { outcomeOfError, outcomeOfResponse, parseRetryAfter } from './delivery-outcome.ts';

describe('outcomeOfResponse', () => {
  it('delivers a standard 2xx whatever the body, and retries 3xx, 4xx and 5xx', () => {
    expect(outcomeOfResponse('standard', 204, '', undefined, 0)).toEqual({
      kind: 'delivered',
      statusCode: 204,
    });
    expect(outcomeOfResponse('standard', 302, '', undefined, 0)).toMatchObject({
      kind: 'failed',
      error: 'HTTP 302: redirect not followed',
    });
    expect(outcomeOfResponse('standard', 500, 'boom', undefined, 0)).toMatchObject({
      kind: 'failed',
      statusCode: 500,
    });
    expect(outcomeOfResponse('standard', 404, '', undefined, 0)).toMatchObject({ kind: 'failed' });
  });

  it('treats 410 as gone, in every format', () => {
    for (const format of ['standard', 'dingtalk', 'slack'] as const) {
      expect(outcomeOfResponse(format, 410, '', undefined, 0)).toEqual({ kind: 'gone', statusCode: 410 });
    }
  });

  it('reads the error code chat platforms put in HTTP 200 bodies', () => {
    expect(outcomeOfResponse('dingtalk', 200, '{"errcode":0,"errmsg":"ok"}', undefined, 0).kind).toBe(
      'delivered',
    );
    expect(
      outcomeOfResponse('dingtalk', 200, '{"errcode":310000,"errmsg":"sign not match"}', undefined, 0),
    ).toEqual({ kind: 'failed', statusCode: 200, error: 'dingtalk errcode 310000: sign not match' });
    expect(
      outcomeOfResponse('wecom', 200, '{"errcode":93000,"errmsg":"invalid webhook url"}', undefined, 0).kind,
    ).toBe('failed');
    expect(
      outcomeOfResponse('feishu', 200, '{"StatusCode":0,"code":0,"data":{},"msg":"success"}', undefined, 0)
        .kind,
    ).toBe('delivered');
    expect(
      outcomeOfResponse('feishu', 200, '{"code":19021,"msg":"sign match fail"}', undefined, 0),
    ).toMatchObject({
      kind: 'failed',
      error: 'feishu code 19021: sign match fail',
    });
    expect(outcomeOfResponse('dingtalk', 200, 'not json', undefined, 0).kind).toBe('failed');
    expect(outcomeOfResponse('slack', 200, 'ok', undefined, 0).kind).toBe('delivered');
    expect(outcomeOfResponse('slack', 400, 'invalid_payload', undefined, 0)).toMatchObject({
      error: 'HTTP 400: invalid_payload',
    });
  });

  it('honours Retry-After on 429 and 503', () => {
    expect(outcomeOfResponse('slack', 429, '', '30', 0)).toMatchObject({
      kind: 'failed',
      retryAfterMs: 30_000,
    });
    expect(outcomeOfResponse('standard', 500, '', '30', 0)).not.toHaveProperty('retryAfterMs');
    expect(parseRetryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(10_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
  });
});

describe('outcomeOfError', () => {
  it('names timeouts and socket failures without the URL', () => {
    expect(outcomeOfError(new DOMException('signal timed out', 'TimeoutError'), 1500)).toEqual({
      kind: 'failed',
      statusCode: null,
      error: 'timed out after 1500ms',
    });
    expect(
      outcomeOfError(
        Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }),
        1,
      ),
    ).toMatchObject({
      error: 'connection refused',
    });
    expect(
      outcomeOfError(Object.assign(new Error('x'), { code: 'UND_ERR_HEADERS_TIMEOUT' }), 1),
    ).toMatchObject({
      error: 'timed out waiting for the response headers',
    });
  });
});
