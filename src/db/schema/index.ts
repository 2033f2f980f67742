/** The tables as drizzle schema; `drizzle-kit generate` diffs this into `migrations/`. */
export { customImageVersions } from './custom-image-versions.ts';
export { customImages } from './custom-images.ts';
export { imageEvents } from './image-events.ts';
export { IMAGE_STATUS_CODES, imageStatuses } from './image-statuses.ts';
export { RUN_STATUSES, RUN_TRIGGERS, syncRuns } from './sync-runs.ts';
export { syncScopes } from './sync-scopes.ts';
export {
  DELIVERY_STATUSES,
  type DeliveryStatus,
  WEBHOOK_FORMATS,
  type WebhookFormat,
  webhookDeliveries,
  webhookEndpoints,
} from './webhooks.ts';
