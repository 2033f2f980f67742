import { AppError } from '../shared/app-error.ts';
import type { EventType } from '../shared/event-types.ts';
import { Secret } from '../shared/secret.ts';
import type { Db, DbOrTx } from './client.ts';
import { and, eq, sql } from './drizzle.ts';
import {
  type DeliveryStatus,
  imageEvents,
  type WebhookFormat,
  webhookDeliveries,
  webhookEndpoints,
} from './schema/index.ts';

/** A subscriber as the application sees it; the secret stays wrapped until a request is signed. */
export interface WebhookEndpoint {
  id: string;
  url: string;
  secret: Secret | null;
  format: WebhookFormat;
  /** null: every event type. */
  eventTypes: EventType[] | null;
  accounts: string[] | null;
  regionIds: string[] | null;
  includeBaseline: boolean;
  enabled: boolean;
  disabledReason: string | null;
  bootstrap: boolean;
  /** Epoch ms. */
  createdAt: number;
}

export interface NewWebhookEndpoint {
  id: string;
  url: string;
  secret: Secret | null;
  format: WebhookFormat;
  eventTypes: readonly EventType[] | null;
  accounts: readonly string[] | null;
  regionIds: readonly string[] | null;
  includeBaseline: boolean;
}

/** The event of a claimed delivery, as the message renderers need it. */
export interface DeliveryEvent {
  id: string;
  type: EventType;
  /** ISO 8601 UTC, milliseconds. */
  occurredAt: string;
  account: string;
  regionId: string;
  imageId: string | null;
  data: Record<string, unknown>;
}

/** A delivery this process holds the lease of: send it, then record the outcome with `attempt`. */
export interface ClaimedDelivery {
  id: number;
  /** The number of this attempt (1 for the first); the fencing token of the outcome update. */
  attempt: number;
  event: DeliveryEvent;
  endpoint: Pick<WebhookEndpoint, 'id' | 'url' | 'secret' | 'format'>;
}

export interface DeliveryRow {
  id: number;
  status: DeliveryStatus;
  attempts: number;
  eventId: string;
  eventType: EventType;
  account: string;
  regionId: string;
  imageId: string | null;
  endpointId: string;
  lastStatusCode: number | null;
  lastError: string | null;
  nextAttemptAt: number | null;
  deliveredAt: number | null;
  createdAt: number;
}

export interface ListDeliveriesQuery {
  /** Only dead deliveries and pending ones whose last attempt failed. */
  failed?: boolean;
  /** Default 100. */
  limit?: number;
}

export interface RedriveResult {
  /** Dead deliveries now pending again, with a fresh schedule. */
  redriven: number[];
  /** Ids that are not dead deliveries (unknown, pending or delivered). */
  notDead: number[];
  /** Dead deliveries of a disabled endpoint (enable it first). */
  endpointDisabled: number[];
}

/** The outcome of one attempt, written with the others of a batch by `recordOutcomes`. */
export type AttemptRecord =
  | { claim: ClaimedDelivery; kind: 'delivered'; statusCode: number }
  /** Try again after `retryInMs`. */
  | { claim: ClaimedDelivery; kind: 'retry'; statusCode: number | null; error: string; retryInMs: number }
  /** The schedule is spent: the delivery is dead. */
  | { claim: ClaimedDelivery; kind: 'dead'; statusCode: number | null; error: string };

/** A row whose outcome was written (its lease still held). */
export interface RecordedOutcome {
  id: number;
  /** Seconds from the commit that wrote the delivery row to the write of this outcome. */
  sinceCommitSeconds: number;
}

/** Pending deliveries of one endpoint, as the queue side needs them (ids only: job data never holds secrets). */
export interface EndpointDue {
  endpointId: string;
  /** How many are pending. */
  count: number;
  /** When the earliest of them can be claimed (due and its lease, if any, run out), epoch ms. */
  dueAt: number;
}

export interface WebhookStore {
  addEndpoint(input: NewWebhookEndpoint): Promise<WebhookEndpoint>;
  listEndpoints(): Promise<WebhookEndpoint[]>;
  getEndpoint(id: string): Promise<WebhookEndpoint | undefined>;
  /** Deletes the endpoint and its deliveries; false when there was none. */
  removeEndpoint(id: string): Promise<boolean>;
  /** Enables (clearing the reason) or disables an endpoint; false when there was none. */
  setEnabled(id: string, enabled: boolean, reason?: string): Promise<boolean>;
  /**
   * Makes the one bootstrap endpoint (`WEBHOOK_URL`) match the configuration: created once,
   * updated when the variables change, never duplicated. Returns its id.
   */
  upsertBootstrap(
    input: Omit<NewWebhookEndpoint, 'accounts' | 'regionIds' | 'includeBaseline' | 'format'>,
  ): Promise<string>;
  /** Endpoints (enabled) that have deliveries due now and not leased. */
  endpointsWithDue(): Promise<string[]>;
  /**
   * When the next pending delivery (of an enabled endpoint; of `endpointId` if given) can be
   * claimed: due and its lease, if any, run out (epoch ms), or null when there is none.
   */
  nextDueAt(endpointId?: string): Promise<number | null>;
  /**
   * Claims up to `limit` due deliveries of one endpoint in one statement (`FOR UPDATE SKIP
   * LOCKED`, then a lease of `leaseMs`): no other process can claim them until the outcome is
   * recorded or the lease ends.
   */
  claimDue(endpointId: string, limit: number, leaseMs: number): Promise<ClaimedDelivery[]>;
  /** Gives claims back untried (each attempt uncounted, its lease ended), in one statement. */
  releaseClaims(claims: readonly ClaimedDelivery[]): Promise<void>;
  /**
   * Writes the outcomes of a batch of attempts in one statement, each only where the row is still
   * at the attempt that was claimed; returns those written (the others lost their lease).
   */
  recordOutcomes(records: readonly AttemptRecord[]): Promise<RecordedOutcome[]>;
  /**
   * `410 Gone`: disables the endpoint and ends every pending delivery of it `dead` (reason:
   * endpoint gone), in one transaction.
   */
  recordGone(claim: ClaimedDelivery, statusCode: number): Promise<void>;
  listDeliveries(query?: ListDeliveriesQuery): Promise<DeliveryRow[]>;
  redrive(ids: readonly number[]): Promise<RedriveResult>;
  /**
   * Per enabled endpoint with pending deliveries, the earliest moment one can be claimed, where
   * that is within `horizonMs` from now: what the sweeper hands to the queue.
   */
  dueEndpoints(horizonMs: number): Promise<EndpointDue[]>;
  /** The endpoints with pending deliveries of one sync run: what the worker kicks after the sync commits. */
  endpointsOfRun(runId: string): Promise<EndpointDue[]>;
}

/** Text for `last_error`: no NUL (PostgreSQL text cannot hold it), short. */
const errorText = (text: string) => {
  const clean = text.replaceAll('\u0000', '\\0');
  return clean.length > 1_000 ? `${clean.slice(0, 1_000)}…` : clean;
};

export const ENDPOINT_GONE = 'endpoint gone (410 Gone)';
/**
 * How the reason of an endpoint disabled by its own 410 begins. The outbox does not queue events
 * for such an endpoint (it said it is gone; enabled months later it would get months of alerts),
 * while one an operator paused gets them, waiting.
 */
export const GONE_REASON_PREFIX = '410 Gone';

type EndpointRow = typeof webhookEndpoints.$inferSelect;

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret === null ? null : new Secret(row.secret),
    format: row.format,
    eventTypes: (row.eventTypes as EventType[] | null) ?? null,
    accounts: row.accounts ?? null,
    regionIds: row.regionIds ?? null,
    includeBaseline: row.includeBaseline,
    enabled: row.enabled,
    disabledReason: row.disabledReason,
    bootstrap: row.bootstrap,
    createdAt: row.createdAt.getTime(),
  };
}

const ms = (column: unknown) => sql`(extract(epoch from ${column}) * 1000)::float8`;
const nullableArray = (values: readonly string[] | null) => (values === null ? null : [...values]);

interface ClaimRow extends Record<string, unknown> {
  id: string | number;
  attempts: number;
  event_id: string;
  type: EventType;
  occurred_at: string;
  account: string;
  region_id: string;
  image_id: string | null;
  data: Record<string, unknown>;
  endpoint_id: string;
  url: string;
  secret: string | null;
  format: WebhookFormat;
}

/**
 * The claimed rows with their event and endpoint, in one statement: `claimed` is the UPDATE that
 * takes the lease on rows locked `FOR UPDATE SKIP LOCKED` by `picked`.
 */
async function claim(
  db: DbOrTx,
  picked: ReturnType<typeof sql>,
  leaseMs: number,
): Promise<ClaimedDelivery[]> {
  const result = await db.execute<ClaimRow>(sql`
    with picked as (${picked}),
    claimed as (
      update ${webhookDeliveries} d
      set attempts = d.attempts + 1, locked_until = now() + ${leaseMs} * interval '1 millisecond'
      from picked where d.id = picked.id
      returning d.id, d.attempts, d.event_id, d.endpoint_id
    )
    select c.id, c.attempts, c.event_id, e.type,
      to_char(e.occurred_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as occurred_at,
      e.account, e.region_id, e.image_id, e.data, c.endpoint_id, w.url, w.secret, w.format
    from claimed c
    join ${imageEvents} e on e.id = c.event_id
    join ${webhookEndpoints} w on w.id = c.endpoint_id
    order by e.occurred_at, e.id`);
  return result.rows.map((row) => ({
    id: Number(row.id),
    attempt: row.attempts,
    event: {
      id: row.event_id,
      type: row.type,
      occurredAt: row.occurred_at,
      account: row.account,
      regionId: row.region_id,
      imageId: row.image_id,
      data: row.data,
    },
    endpoint: {
      id: row.endpoint_id,
      url: row.url,
      secret: row.secret === null ? null : new Secret(row.secret),
      format: row.format,
    },
  }));
}

/** A claimable row: pending, due, its lease (if any) run out, its endpoint enabled. */
const claimable = sql`d.status = 'pending' and d.next_attempt_at <= now()
  and (d.locked_until is null or d.locked_until <= now())
  and exists (select 1 from ${webhookEndpoints} w where w.id = d.endpoint_id and w.enabled)`;

export function createWebhookStore(db: Db): WebhookStore {
  /** Pending deliveries of enabled endpoints matching `where`, per endpoint, with the moment the earliest can be claimed. */
  const dueOf = async (where: ReturnType<typeof sql>, having: ReturnType<typeof sql>) => {
    const due = sql`min(greatest(d.next_attempt_at, coalesce(d.locked_until, d.next_attempt_at)))`;
    const result = await db.execute<{ endpoint_id: string; n: number; due: number }>(sql`
      select d.endpoint_id, count(*)::int as n, ${ms(due)} as due
      from ${webhookDeliveries} d
      join ${webhookEndpoints} w on w.id = d.endpoint_id and w.enabled
      where d.status = 'pending' and ${where}
      group by d.endpoint_id
      having ${having}`);
    return result.rows.map((row) => ({
      endpointId: row.endpoint_id,
      count: Number(row.n),
      dueAt: Number(row.due),
    }));
  };

  return {
    async addEndpoint(input) {
      const [row] = await db
        .insert(webhookEndpoints)
        .values({
          id: input.id,
          url: input.url,
          secret: input.secret?.reveal() ?? null,
          format: input.format,
          eventTypes: nullableArray(input.eventTypes),
          accounts: nullableArray(input.accounts),
          regionIds: nullableArray(input.regionIds),
          includeBaseline: input.includeBaseline,
        })
        .returning();
      if (!row) throw new AppError('db.query', 'inserting the endpoint returned no row');
      return toEndpoint(row);
    },

    async listEndpoints() {
      const rows = await db.select().from(webhookEndpoints).orderBy(webhookEndpoints.createdAt);
      return rows.map(toEndpoint);
    },

    async getEndpoint(id) {
      const [row] = await db.select().from(webhookEndpoints).where(eq(webhookEndpoints.id, id));
      return row ? toEndpoint(row) : undefined;
    },

    async removeEndpoint(id) {
      const removed = await db
        .delete(webhookEndpoints)
        .where(eq(webhookEndpoints.id, id))
        .returning({ id: webhookEndpoints.id });
      return removed.length === 1;
    },

    async setEnabled(id, enabled, reason) {
      const updated = await db
        .update(webhookEndpoints)
        .set({
          enabled,
          disabledReason: enabled ? null : (reason ?? 'disabled by an operator'),
          updatedAt: sql`now()`,
        })
        .where(eq(webhookEndpoints.id, id))
        .returning({ id: webhookEndpoints.id });
      return updated.length === 1;
    },

    async upsertBootstrap(input) {
      const values = {
        url: input.url,
        secret: input.secret?.reveal() ?? null,
        eventTypes: nullableArray(input.eventTypes),
      };
      const [row] = await db
        .insert(webhookEndpoints)
        .values({ id: input.id, format: 'standard', bootstrap: true, ...values })
        .onConflictDoUpdate({
          target: webhookEndpoints.bootstrap,
          targetWhere: sql`${webhookEndpoints.bootstrap}`,
          set: {
            ...values,
            updatedAt: sql`now()`,
            // A new URL is a new destination: a 410 or a pause of the old one does not carry over.
            enabled: sql`${webhookEndpoints.enabled} or ${webhookEndpoints.url} is distinct from excluded.url`,
            disabledReason: sql`case when ${webhookEndpoints.url} is distinct from excluded.url then null
              else ${webhookEndpoints.disabledReason} end`,
          },
          // Rewrite only when the variables changed, so every start-up is not a write.
          setWhere: sql`(${webhookEndpoints.url}, ${webhookEndpoints.secret}, ${webhookEndpoints.eventTypes})
            is distinct from (excluded.url, excluded.secret, excluded.event_types)`,
        })
        .returning({ id: webhookEndpoints.id });
      if (row) return row.id;
      const [existing] = await db
        .select({ id: webhookEndpoints.id })
        .from(webhookEndpoints)
        .where(eq(webhookEndpoints.bootstrap, true));
      if (!existing) throw new AppError('db.query', 'the bootstrap endpoint vanished while being written');
      return existing.id;
    },

    async endpointsWithDue() {
      const result = await db.execute<{ endpoint_id: string }>(sql`
        select distinct d.endpoint_id from ${webhookDeliveries} d where ${claimable}`);
      return result.rows.map((row) => row.endpoint_id);
    },

    async nextDueAt(endpointId) {
      const only = endpointId === undefined ? sql`true` : sql`d.endpoint_id = ${endpointId}::uuid`;
      const result = await db.execute<{ next: number | null }>(sql`
        select ${ms(sql`min(greatest(d.next_attempt_at, coalesce(d.locked_until, d.next_attempt_at)))`)} as next
        from ${webhookDeliveries} d
        join ${webhookEndpoints} w on w.id = d.endpoint_id and w.enabled
        where d.status = 'pending' and ${only}`);
      const next = result.rows[0]?.next;
      return next === null || next === undefined ? null : Number(next);
    },

    claimDue(endpointId, limit, leaseMs) {
      return claim(
        db,
        sql`select d.id from ${webhookDeliveries} d
          where d.endpoint_id = ${endpointId}::uuid and ${claimable}
          order by d.next_attempt_at, d.id limit ${limit}
          for update of d skip locked`,
        leaseMs,
      );
    },

    async releaseClaims(claims) {
      if (claims.length === 0) return;
      await db.execute(sql`
        update ${webhookDeliveries} d
        set attempts = d.attempts - 1, locked_until = null
        from unnest(${sql.param(claims.map((c) => c.id))}::bigint[], ${sql.param(claims.map((c) => c.attempt))}::int[])
          as c(id, attempt)
        where d.id = c.id and d.attempts = c.attempt and d.status = 'pending'`);
    },

    async recordOutcomes(records) {
      if (records.length === 0) return [];
      const column = <T>(pick: (record: AttemptRecord) => T) => sql.param(records.map(pick));
      // One statement for the whole batch: the arrays line up row by row in unnest. The fence
      // (same attempt, still pending) drops outcomes whose lease another attempt took over.
      const result = await db.execute<{ id: string; since: number }>(sql`
        update ${webhookDeliveries} d
        set status = o.status,
          delivered_at = case when o.status = 'delivered' then now() end,
          locked_until = null,
          last_status_code = o.status_code,
          last_error = o.error,
          next_attempt_at = case when o.retry_ms is null then d.next_attempt_at
            else now() + o.retry_ms * interval '1 millisecond' end
        from unnest(
          ${column((r) => r.claim.id)}::bigint[],
          ${column((r) => r.claim.attempt)}::int[],
          ${column((r) => (r.kind === 'retry' ? 'pending' : r.kind))}::text[],
          ${column((r) => r.statusCode)}::int[],
          ${column((r) => (r.kind === 'delivered' ? null : errorText(r.error)))}::text[],
          ${column((r) => (r.kind === 'retry' ? Math.max(0, Math.round(r.retryInMs)) : null))}::bigint[]
        ) as o(id, attempt, status, status_code, error, retry_ms)
        where d.id = o.id and d.attempts = o.attempt and d.status = 'pending'
        returning d.id, extract(epoch from clock_timestamp() - d.created_at)::float8 as since`);
      return result.rows.map((row) => ({ id: Number(row.id), sinceCommitSeconds: Number(row.since) }));
    },

    async recordGone(claimed, statusCode) {
      await db.transaction(async (tx) => {
        await tx
          .update(webhookEndpoints)
          .set({
            enabled: false,
            disabledReason: `${GONE_REASON_PREFIX}: answered to delivery ${claimed.id}`,
            updatedAt: sql`now()`,
          })
          .where(eq(webhookEndpoints.id, claimed.endpoint.id));
        await tx
          .update(webhookDeliveries)
          .set({ status: 'dead', lockedUntil: null, lastStatusCode: statusCode, lastError: ENDPOINT_GONE })
          .where(owned(claimed));
        await tx
          .update(webhookDeliveries)
          .set({ status: 'dead', lockedUntil: null, lastError: ENDPOINT_GONE })
          .where(
            and(
              eq(webhookDeliveries.endpointId, claimed.endpoint.id),
              eq(webhookDeliveries.status, 'pending'),
            ),
          );
      });
    },

    async listDeliveries(query = {}) {
      const failed = query.failed
        ? sql`(d.status = 'dead' or (d.status = 'pending' and d.last_error is not null))`
        : sql`true`;
      const result = await db.execute<Record<string, unknown>>(sql`
        select d.id, d.status, d.attempts, d.event_id, e.type, e.account, e.region_id, e.image_id,
          d.endpoint_id, d.last_status_code, d.last_error,
          case when d.status = 'pending' then ${ms(sql`d.next_attempt_at`)} end as next_attempt_at,
          ${ms(sql`d.delivered_at`)} as delivered_at, ${ms(sql`d.created_at`)} as created_at
        from ${webhookDeliveries} d join ${imageEvents} e on e.id = d.event_id
        where ${failed}
        order by d.id desc limit ${query.limit ?? 100}`);
      const num = (value: unknown) => (value === null || value === undefined ? null : Number(value));
      return result.rows.map((row) => ({
        id: Number(row.id),
        status: row.status as DeliveryStatus,
        attempts: Number(row.attempts),
        eventId: String(row.event_id),
        eventType: row.type as EventType,
        account: String(row.account),
        regionId: String(row.region_id),
        imageId: (row.image_id as string | null) ?? null,
        endpointId: String(row.endpoint_id),
        lastStatusCode: num(row.last_status_code),
        lastError: (row.last_error as string | null) ?? null,
        nextAttemptAt: num(row.next_attempt_at),
        deliveredAt: num(row.delivered_at),
        createdAt: Number(row.created_at),
      }));
    },

    async redrive(ids) {
      const wanted = [...new Set(ids)];
      const redriven = await db.execute<{ id: string }>(sql`
        update ${webhookDeliveries} d
        set status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = null
        from ${webhookEndpoints} w
        where w.id = d.endpoint_id and w.enabled and d.status = 'dead'
          and d.id = any(${sql.param(wanted)}::bigint[])
        returning d.id`);
      const done = new Set(redriven.rows.map((row) => Number(row.id)));
      const rest = wanted.filter((id) => !done.has(id));
      const disabled =
        rest.length === 0
          ? []
          : (
              await db.execute<{ id: string }>(sql`
                select d.id from ${webhookDeliveries} d join ${webhookEndpoints} w on w.id = d.endpoint_id
                where d.status = 'dead' and not w.enabled and d.id = any(${sql.param(rest)}::bigint[])`)
            ).rows.map((row) => Number(row.id));
      return {
        redriven: wanted.filter((id) => done.has(id)),
        endpointDisabled: rest.filter((id) => disabled.includes(id)),
        notDead: rest.filter((id) => !disabled.includes(id)),
      };
    },

    dueEndpoints(horizonMs) {
      return dueOf(
        sql`true`,
        sql`min(greatest(d.next_attempt_at, coalesce(d.locked_until, d.next_attempt_at)))
          <= now() + ${horizonMs} * interval '1 millisecond'`,
      );
    },

    endpointsOfRun(runId) {
      return dueOf(
        sql`d.event_id in (select e.id from ${imageEvents} e where e.sync_run_id = ${runId}::uuid)`,
        sql`true`,
      );
    },
  };
}

/** The row as this claim left it: still pending, still at this attempt (else the lease was lost). */
function owned(claimed: ClaimedDelivery) {
  return and(
    eq(webhookDeliveries.id, claimed.id),
    eq(webhookDeliveries.attempts, claimed.attempt),
    eq(webhookDeliveries.status, 'pending'),
  );
}
