import type { DeliveryEvent } from '../db/webhook-store.ts';

/**
 * What one webhook carries: `{id, type, timestamp, data}`. `id` is the event id (the
 * `webhook-id` header, the same on every retry); `timestamp` is when the event occurred (ISO 8601
 * UTC). `webhook.test` messages (`webhooks test`) have the same shape and are never stored.
 */
export interface WebhookMessage {
  id: string;
  type: string;
  timestamp: string;
  data: Record<string, unknown>;
}

export const TEST_MESSAGE_TYPE = 'webhook.test';

export function messageOf(event: DeliveryEvent): WebhookMessage {
  return { id: event.id, type: event.type, timestamp: event.occurredAt, data: event.data };
}

export function testMessage(id: string, nowMs: number, endpointId: string): WebhookMessage {
  return {
    id,
    type: TEST_MESSAGE_TYPE,
    timestamp: new Date(nowMs).toISOString(),
    data: { message: 'Test message from swas-inventory: this endpoint is reachable.', endpointId },
  };
}
