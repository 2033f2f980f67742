import type { WebhookFormat } from '../db/schema/index.ts';
import { AppError } from '../shared/app-error.ts';
import { basicCredentials } from '../shared/mask-url.ts';
import type { Secret } from '../shared/secret.ts';
import { chatRequest } from './chat-formats.ts';
import { signStandardWebhook } from './standard-webhooks.ts';
import type { WebhookMessage } from './webhook-message.ts';

export interface OutgoingRequest {
  url: string;
  headers: Record<string, string>;
  body: string;
}

export interface EndpointTarget {
  url: string;
  secret: Secret | null;
  format: WebhookFormat;
}

/** Only http and https endpoints; anything else is refused before a socket opens. */
export function assertWebhookUrl(url: string): URL {
  const parsed = URL.canParse(url) ? new URL(url) : undefined;
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || parsed.host === '') {
    throw new AppError('webhook.url', 'the endpoint URL must be an absolute http:// or https:// URL');
  }
  return parsed;
}

/**
 * The `user:password@` of an endpoint URL as HTTP Basic authentication, the way curl sends it: the
 * request line carries no userinfo, so without this a receiver behind Basic auth would refuse
 * every attempt.
 */
function basicAuthorization(url: URL): Record<string, string> {
  const credentials = basicCredentials(url);
  return credentials === undefined ? {} : { authorization: `Basic ${credentials.toString('base64')}` };
}

/**
 * The exact request of one attempt at `nowMs`. Standard: the JSON body and the three Standard
 * Webhooks headers signed over these very bytes (`webhook-timestamp` is this attempt's, so a
 * retry is signed anew; `webhook-id` stays the event id). Chat formats: the platform's message
 * and signing, plus `webhook-id` so a receiver can still de-duplicate.
 */
export function buildRequest(
  endpoint: EndpointTarget,
  message: WebhookMessage,
  nowMs: number,
  userAgent: string,
): OutgoingRequest {
  const common = {
    'content-type': 'application/json',
    'user-agent': userAgent,
    'webhook-id': message.id,
    ...basicAuthorization(assertWebhookUrl(endpoint.url)),
  };
  if (endpoint.format === 'standard') {
    if (endpoint.secret === null) {
      throw new AppError('webhook.secret', 'a standard endpoint needs a whsec_ secret to sign with');
    }
    const body = JSON.stringify(message);
    const timestamp = Math.floor(nowMs / 1000);
    return {
      url: endpoint.url,
      body,
      headers: {
        ...common,
        'webhook-timestamp': String(timestamp),
        'webhook-signature': signStandardWebhook(endpoint.secret.reveal(), message.id, timestamp, body),
      },
    };
  }
  const chat = chatRequest(endpoint.format, endpoint.url, endpoint.secret?.reveal() ?? null, message, nowMs);
  return { url: chat.url, body: chat.body, headers: common };
}
