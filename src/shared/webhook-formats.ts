/**
 * `format` of a webhook endpoint: Standard Webhooks, or a chat robot's message shape.
 * In `shared` because the CLI validates flags against it without loading the database layer.
 */
export const WEBHOOK_FORMATS = ['standard', 'dingtalk', 'feishu', 'wecom', 'slack'] as const;
export type WebhookFormat = (typeof WEBHOOK_FORMATS)[number];
