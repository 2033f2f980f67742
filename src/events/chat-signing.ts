import { createHmac } from 'node:crypto';

/**
 * DingTalk custom-robot signing ("加签"): HMAC-SHA256 keyed with the secret (the whole `SEC…`
 * string) over `timestampMs + "\n" + secret`, standard base64. The caller URL-encodes it into
 * `&timestamp=…&sign=…`.
 */
export function dingtalkSignature(secret: string, timestampMs: number): string {
  return createHmac('sha256', secret).update(`${timestampMs}\n${secret}`).digest('base64');
}

/**
 * Feishu/Lark custom-bot signing: HMAC-SHA256 KEYED WITH `timestampSeconds + "\n" + secret` over
 * an empty message (not the DingTalk way round), standard base64, sent as the body's `sign`.
 */
export function feishuSignature(secret: string, timestampSeconds: number): string {
  return createHmac('sha256', `${timestampSeconds}\n${secret}`).update('').digest('base64');
}
