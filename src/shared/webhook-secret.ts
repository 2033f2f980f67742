/**
 * True for a Standard Webhooks `whsec_` secret whose key decodes to at least 16 bytes (24–64 is
 * what the spec advises). One rule for `WEBHOOK_SECRET` and for `webhooks add`.
 */
export function isStandardWebhookSecret(secret: string): boolean {
  const match = /^whsec_([A-Za-z0-9+/]+={0,2})$/.exec(secret);
  return match !== null && Buffer.from(match[1] ?? '', 'base64').length >= 16;
}
