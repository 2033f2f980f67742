import packageJson from '../../package.json' with { type: 'json' };
import type { WebhookFormat } from '../db/schema/index.ts';
import type { WebhookEndpoint, WebhookStore } from '../db/webhook-store.ts';
import { Agent } from '../http/undici.ts';
import { AppError } from '../shared/app-error.ts';
import type { EventType } from '../shared/event-types.ts';
import type { IdSource } from '../shared/ids.ts';
import type { Secret } from '../shared/secret.ts';
import { isStandardWebhookSecret } from '../shared/webhook-secret.ts';
import { assertWebhookUrl } from './webhook-request.ts';

/** `user-agent` of every webhook request. */
export const WEBHOOK_USER_AGENT = `swas-inventory/${packageJson.version} (webhooks)`;

/**
 * The undici agent for webhook endpoints: the attempt's timeout on connect, headers and body (the
 * defaults are 10 s / 300 s / 300 s), and no redirect interceptor, so a 3xx is an answer like any
 * other. (How much of an answer is read is the deliverer's to cap.)
 */
export function createWebhookDispatcher(timeoutMs: number): Agent {
  return new Agent({
    connectTimeout: Math.min(timeoutMs, 10_000),
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 16,
  });
}

export interface AddEndpointInput {
  url: string;
  format: WebhookFormat;
  secret: Secret | null;
  eventTypes: readonly EventType[] | null;
  accounts: readonly string[] | null;
  regionIds: readonly string[] | null;
  includeBaseline: boolean;
}

/**
 * Checks an endpoint before it is stored; every problem is a `config.invalid` (exit 2) that never
 * echoes the secret: standard endpoints need a `whsec_` secret (the signature is the point),
 * WeCom and Slack sign nothing, so a secret for them is a mistake worth refusing.
 */
export function validateEndpoint(input: AddEndpointInput): void {
  const problems: string[] = [];
  try {
    const url = assertWebhookUrl(input.url);
    // Sent decoded as Basic authentication; an escape that does not decode would be sent as written.
    decodeURIComponent(`${url.username}:${url.password}`);
  } catch (error) {
    problems.push(
      error instanceof URIError
        ? 'the endpoint URL has a malformed %-escape in its user name or password'
        : error instanceof Error
          ? error.message
          : String(error),
    );
  }
  const secret = input.secret?.reveal();
  if (input.format === 'standard' && (secret === undefined || !isStandardWebhookSecret(secret))) {
    problems.push('a standard endpoint needs a secret of the form whsec_<base64 of at least 16 bytes>');
  }
  if ((input.format === 'wecom' || input.format === 'slack') && secret !== undefined) {
    problems.push(
      `${input.format} robots sign nothing: their URL is the credential; add it without a secret`,
    );
  }
  if (problems.length > 0) throw new AppError('config.invalid', problems.join('; '));
}

export function addEndpoint(
  store: WebhookStore,
  ids: IdSource,
  input: AddEndpointInput,
): Promise<WebhookEndpoint> {
  validateEndpoint(input);
  // As the URL parser reads it (`HTTPS://Host/x` → `https://host/x`): what is stored is what gets called.
  return store.addEndpoint({ id: ids.uuid(), ...input, url: assertWebhookUrl(input.url).href });
}

export interface BootstrapConfig {
  url: string;
  secret: Secret | null;
  events: readonly EventType[] | null;
}

/**
 * `WEBHOOK_URL`/`WEBHOOK_SECRET`/`WEBHOOK_EVENTS`: one standard endpoint kept equal to the
 * variables (created once, updated when they change; a new URL enables it again). Returns its id,
 * or null when unset. Unset leaves the endpoint alone: a command run from a shell without the
 * worker's variables must not switch off the worker's subscriber.
 */
export async function ensureBootstrapEndpoint(
  store: WebhookStore,
  ids: IdSource,
  bootstrap: BootstrapConfig | null,
): Promise<string | null> {
  if (bootstrap === null) return null;
  const secret = bootstrap.secret?.reveal();
  if (secret === undefined || !isStandardWebhookSecret(secret)) {
    throw new AppError(
      'config.invalid',
      'WEBHOOK_SECRET: WEBHOOK_URL needs a Standard Webhooks secret (whsec_<base64 of at least 16 bytes>) to sign with',
      { details: { variables: ['WEBHOOK_SECRET'] } },
    );
  }
  return store.upsertBootstrap({
    id: ids.uuid(),
    url: assertWebhookUrl(bootstrap.url).href,
    secret: bootstrap.secret,
    eventTypes: bootstrap.events,
  });
}
