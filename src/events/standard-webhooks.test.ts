import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { isStandardWebhookSecret } from '../shared/webhook-secret.ts';
import { signStandardWebhook } from './standard-webhooks.ts';

// The reference implementation is the `standardwebhooks` package (a dev dependency): ours must
// produce byte-identical signatures and pass its verify().
const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';

describe('signStandardWebhook', () => {
  it('matches the standardwebhooks package signature for the same id, time and body', () => {
    const body = JSON.stringify({
      id: 'e1',
      type: 'image.failed',
      timestamp: '2026-01-01T00:00:00.000Z',
      data: { 名: '镜像' },
    });
    const at = new Date('2026-12-01T10:00:00Z');
    const ours = signStandardWebhook(SECRET, 'msg_1', Math.floor(at.getTime() / 1000), body);
    expect(ours).toBe(new Webhook(SECRET).sign('msg_1', at, body));
  });

  it('is verified by the package, and one changed byte breaks it', () => {
    const body = '{"id":"x","type":"image.created","timestamp":"t","data":{}}';
    const timestamp = Math.floor(Date.now() / 1000);
    const headers = {
      'webhook-id': 'x',
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signStandardWebhook(SECRET, 'x', timestamp, body),
    };
    expect(new Webhook(SECRET).verify(body, headers)).toMatchObject({ id: 'x' });
    expect(() => new Webhook(SECRET).verify(body.replace('created', 'creatEd'), headers)).toThrow();
  });

  it('signs with the decoded key, not the whsec_ text (the spec example)', () => {
    // The Standard Webhooks spec's own example.
    const signature = signStandardWebhook(
      'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
      'msg_p5jXN8AQM9LWM0D4loKWxJek',
      1614265330,
      '{"test": 2432232314}',
    );
    expect(signature).toBe('v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=');
  });

  it('accepts whsec_ secrets of at least 16 bytes only', () => {
    expect(isStandardWebhookSecret(SECRET)).toBe(true);
    expect(isStandardWebhookSecret('whsec_c2hvcnQ=')).toBe(false);
    expect(isStandardWebhookSecret('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toBe(false);
  });
});
