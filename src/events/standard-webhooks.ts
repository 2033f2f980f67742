import { createHmac } from 'node:crypto';

/**
 * Standard Webhooks v1 signing (symmetric): `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`
 * keyed with the base64-DECODED bytes of the `whsec_` secret. Ten lines over node:crypto instead
 * of the `standardwebhooks` package (pure-JS SHA-256) at run time; `standard-webhooks.test.ts`
 * checks it against that package, which the tests' receivers also verify with.
 */
export function signStandardWebhook(
  secret: string,
  id: string,
  timestampSeconds: number,
  body: string,
): string {
  const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice('whsec_'.length) : secret, 'base64');
  const mac = createHmac('sha256', key).update(`${id}.${timestampSeconds}.${body}`).digest('base64');
  return `v1,${mac}`;
}
