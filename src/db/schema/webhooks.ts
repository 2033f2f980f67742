import { WEBHOOK_FORMATS, type WebhookFormat } from '../../shared/webhook-formats.ts';
import {
  bigint,
  boolean,
  check,
  foreignKey,
  index,
  integer,
  pgTable,
  sql,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from '../drizzle.ts';
import { imageEvents } from './image-events.ts';

export { WEBHOOK_FORMATS, type WebhookFormat };

/** `status` of a delivery. */
export const DELIVERY_STATUSES = ['pending', 'delivered', 'dead'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

const list = (values: readonly string[]) => sql.raw(values.map((value) => `'${value}'`).join(', '));

/**
 * `webhook_endpoints`: subscribers. Filters are arrays, null meaning "any":
 * `event_types` (null: every type), `accounts`, `region_ids`. Baseline events reach an endpoint
 * only with `include_baseline`. `secret` is what signs (a `whsec_` key for `standard`, the robot's
 * signing secret for DingTalk/Feishu, null where the platform signs nothing); it is readable by
 * whoever can read this table, like any shared HMAC key. `bootstrap` marks the one endpoint that
 * `WEBHOOK_URL` manages (a partial unique index keeps it to one). `disabled_reason` says why an
 * endpoint stopped (`410 Gone`).
 */
export const webhookEndpoints = pgTable(
  'webhook_endpoints',
  {
    id: uuid('id').primaryKey(),
    url: text('url').notNull(),
    secret: text('secret'),
    format: text('format').$type<WebhookFormat>().notNull().default('standard'),
    eventTypes: text('event_types').array(),
    accounts: text('accounts').array(),
    regionIds: text('region_ids').array(),
    includeBaseline: boolean('include_baseline').notNull().default(false),
    enabled: boolean('enabled').notNull().default(true),
    disabledReason: text('disabled_reason'),
    bootstrap: boolean('bootstrap').notNull().default(false),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('webhook_endpoints_bootstrap_idx').on(t.bootstrap).where(sql`${t.bootstrap}`),
    check('webhook_endpoints_format_check', sql`${t.format} in (${list(WEBHOOK_FORMATS)})`),
    check('webhook_endpoints_url_check', sql`${t.url} ~ '^https?://'`),
    check(
      'webhook_endpoints_standard_secret_check',
      sql`${t.format} <> 'standard' or ${t.secret} like 'whsec\\_%'`,
    ),
  ],
);

/**
 * `webhook_deliveries`: one row per event × endpoint, written in the sync's transaction
 * (the outbox). `attempts` counts attempts started: a claim increments it, so an attempt cut
 * short by a crash still counts. `locked_until` is the lease of the process sending it: a row is
 * claimable when pending, due and not leased, so two processes never send it at once, and a
 * crashed sender's lease simply runs out. Ids are sequential numbers, short enough to type in
 * `deliveries redrive ID…`.
 */
export const webhookDeliveries = pgTable(
  'webhook_deliveries',
  {
    id: bigint('id', { mode: 'number' }).primaryKey().generatedAlwaysAsIdentity(),
    eventId: uuid('event_id').notNull(),
    endpointId: uuid('endpoint_id').notNull(),
    status: text('status').$type<DeliveryStatus>().notNull().default('pending'),
    attempts: integer('attempts').notNull().default(0),
    nextAttemptAt: timestamp('next_attempt_at', { withTimezone: true, precision: 3 }).notNull(),
    lockedUntil: timestamp('locked_until', { withTimezone: true, precision: 3 }),
    lastStatusCode: integer('last_status_code'),
    lastError: text('last_error'),
    deliveredAt: timestamp('delivered_at', { withTimezone: true, precision: 3 }),
    createdAt: timestamp('created_at', { withTimezone: true, precision: 3 }).notNull().defaultNow(),
  },
  (t) => [
    uniqueIndex('webhook_deliveries_event_endpoint_idx').on(t.eventId, t.endpointId),
    index('webhook_deliveries_due_idx').on(t.endpointId, t.nextAttemptAt).where(sql`${t.status} = 'pending'`),
    index('webhook_deliveries_dead_idx').on(t.createdAt).where(sql`${t.status} = 'dead'`),
    foreignKey({
      name: 'webhook_deliveries_event_fkey',
      columns: [t.eventId],
      foreignColumns: [imageEvents.id],
    }),
    foreignKey({
      name: 'webhook_deliveries_endpoint_fkey',
      columns: [t.endpointId],
      foreignColumns: [webhookEndpoints.id],
    }).onDelete('cascade'),
    check('webhook_deliveries_status_check', sql`${t.status} in (${list(DELIVERY_STATUSES)})`),
    check('webhook_deliveries_attempts_check', sql`${t.attempts} >= 0`),
    check(
      'webhook_deliveries_delivered_check',
      sql`(${t.status} = 'delivered') = (${t.deliveredAt} is not null)`,
    ),
  ],
);
