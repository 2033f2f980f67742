/**
 * The event catalog's names. They live in `shared` because configuration validates
 * `WEBHOOK_EVENTS` against them and configuration may import nothing but `shared`.
 */
export const EVENT_TYPES = [
  'image.created',
  'image.updated',
  'image.status_changed',
  'image.failed',
  'image.shared',
  'image.unshared',
  'image.deleted',
  'sync.deletions_held',
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export const isEventType = (value: string): value is EventType =>
  (EVENT_TYPES as readonly string[]).includes(value);
