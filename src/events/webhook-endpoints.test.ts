import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import { Secret } from '../shared/secret.ts';
import { validateEndpoint } from './webhook-endpoints.ts';

const base = { eventTypes: null, accounts: null, regionIds: null, includeBaseline: false };

describe('validateEndpoint', () => {
  it('refuses non-http(s) URLs, standard endpoints without a whsec_ secret and secrets for WeCom/Slack', () => {
    const problems = (input: Parameters<typeof validateEndpoint>[0]) => {
      try {
        validateEndpoint(input);
        return 'ok';
      } catch (error) {
        expect(error).toBeInstanceOf(AppError);
        return (error as AppError).message;
      }
    };
    expect(problems({ ...base, url: 'ftp://x/y', format: 'slack', secret: null })).toMatch(/http/);
    expect(problems({ ...base, url: 'https://x/y', format: 'standard', secret: null })).toMatch(/whsec_/);
    const secret = 'whsec_not-base64!!';
    const message = problems({ ...base, url: 'https://x/y', format: 'standard', secret: new Secret(secret) });
    expect(message).toMatch(/whsec_/);
    expect(message).not.toContain(secret);
    expect(problems({ ...base, url: 'https://x/y', format: 'wecom', secret: new Secret('k') })).toMatch(
      /sign nothing/,
    );
    expect(problems({ ...base, url: 'https://x/y', format: 'dingtalk', secret: new Secret('SECabc') })).toBe(
      'ok',
    );
  });
});
