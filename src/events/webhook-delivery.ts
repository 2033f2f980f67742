import { type Dispatcher, request } from 'undici';
import type { ClaimedDelivery, PendingDelivery, WebhookEndpoint, WebhookStore } from '../db/webhook-store.ts';
import type { Logger } from '../observability/logger.ts';
import type { Clock } from '../shared/clock.ts';
import type { IdSource } from '../shared/ids.ts';
import { type DeliveryOutcome, outcomeOfError, outcomeOfResponse } from './delivery-outcome.ts';
import { messageOf, testMessage, type WebhookMessage } from './webhook-message.ts';
import { buildRequest, type EndpointTarget } from './webhook-request.ts';

export interface WebhookDeliveryDeps {
  store: WebhookStore;
  /** The webhook undici agent (no redirects, timeouts), built by the composition root. */
  dispatcher: Dispatcher;
  clock: Clock;
  ids: IdSource;
  /** [0, 1), for the retry jitter. */
  random: () => number;
  logger: Logger;
}

export interface WebhookDeliveryOptions {
  /** `WEBHOOK_RETRY_SCHEDULE`: the delay after each failed attempt; after the last, dead. */
  retryScheduleMs: readonly number[];
  /** `WEBHOOK_TIMEOUT`: the whole of one attempt (connect, headers, body). */
  timeoutMs: number;
  userAgent: string;
  /** Attempts in flight to one endpoint from this process; default 8. */
  perEndpointConcurrency?: number;
}

/** What happened to one claimed delivery. */
export type AttemptResult =
  | { state: 'delivered' }
  | { state: 'retry'; next: PendingDelivery }
  | { state: 'dead' }
  | { state: 'gone' }
  /** The lease ran out before the outcome was written: another attempt owns the row. */
  | { state: 'lost' };

export type DeliverByIdResult =
  | AttemptResult
  /** This process already has its maximum of attempts in flight to the endpoint. */
  | { state: 'busy' }
  | { state: 'not-due'; nextAttemptAt: number }
  /** Delivered, dead, leased by another process, or its endpoint disabled or removed. */
  | { state: 'settled' };

export interface DrainOptions {
  /** Stop claiming after this long; attempts in flight then finish (each within the timeout). */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface DrainReport {
  attempts: number;
  delivered: number;
  /** Failed attempts that will be retried. */
  retrying: number;
  dead: number;
}

export interface TestResult {
  ok: boolean;
  statusCode: number | null;
  /** Why it did not count as delivered. */
  error?: string;
  durationMs: number;
}

export interface WebhookDelivery {
  /** Sends one claimed delivery and records the outcome. */
  attempt(claim: ClaimedDelivery, signal?: AbortSignal): Promise<AttemptResult>;
  /**
   * Claims the delivery if it is due and unleased, then attempts it (the queue processor's work).
   * Given the endpoint, a saturated endpoint is answered `busy` without touching the database.
   */
  deliverById(id: number, endpointId?: string, signal?: AbortSignal): Promise<DeliverByIdResult>;
  /**
   * Delivers whatever is due, endpoint by endpoint in parallel (a slow endpoint holds up only its
   * own lane), including retries that fall due before the deadline; what is left stays pending.
   */
  drain(options: DrainOptions): Promise<DrainReport>;
  /** `webhooks test`: a signed `webhook.test` message straight to the endpoint; nothing is stored. */
  sendTest(endpoint: WebhookEndpoint, signal?: AbortSignal): Promise<TestResult>;
}

/** A delay of the schedule with ±20% jitter, so deliveries that failed together retry apart. */
export function retryDelay(scheduleMs: number, random: () => number): number {
  return Math.round(scheduleMs * (0.8 + 0.4 * random()));
}

export function createWebhookDelivery(
  deps: WebhookDeliveryDeps,
  options: WebhookDeliveryOptions,
): WebhookDelivery {
  const { store, clock, logger } = deps;
  const perEndpoint = options.perEndpointConcurrency ?? 8;
  // Longer than any attempt can take (the timeout bounds it), so a live lease is never taken over.
  const leaseMs = options.timeoutMs + 30_000;
  const active = new Map<string, number>();
  const log = logger.child({ component: 'webhooks' });

  async function send(
    target: EndpointTarget,
    message: WebhookMessage,
    signal?: AbortSignal,
  ): Promise<DeliveryOutcome> {
    const now = clock.now();
    const timeout = AbortSignal.timeout(options.timeoutMs);
    try {
      const outgoing = buildRequest(target, message, now, options.userAgent);
      const response = await request(outgoing.url, {
        dispatcher: deps.dispatcher,
        method: 'POST',
        headers: outgoing.headers,
        body: outgoing.body,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      const text = await response.body.text();
      const retryAfter = response.headers['retry-after'];
      return outcomeOfResponse(
        target.format,
        response.statusCode,
        text,
        Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        clock.now(),
      );
    } catch (error) {
      return outcomeOfError(timeout.aborted ? timeout.reason : error, options.timeoutMs);
    }
  }

  async function record(claim: ClaimedDelivery, outcome: DeliveryOutcome): Promise<AttemptResult> {
    const context = {
      deliveryId: claim.id,
      endpointId: claim.endpoint.id,
      eventId: claim.event.id,
      attempt: claim.attempt,
      statusCode: outcome.statusCode,
    };
    switch (outcome.kind) {
      case 'delivered': {
        const ok = await store.recordDelivered(claim, outcome.statusCode);
        log.debug(context, ok ? 'webhook delivered' : 'webhook delivered after its lease ran out');
        return ok ? { state: 'delivered' } : { state: 'lost' };
      }
      case 'gone':
        await store.recordGone(claim, outcome.statusCode);
        log.warn(context, 'endpoint answered 410 Gone: disabled, its pending deliveries are dead');
        return { state: 'gone' };
      case 'failed': {
        const base = options.retryScheduleMs[claim.attempt - 1];
        if (base === undefined) {
          await store.recordFailure(claim, {
            kind: 'dead',
            statusCode: outcome.statusCode,
            error: outcome.error,
          });
          log.warn({ ...context, error: outcome.error }, 'webhook delivery dead: retry schedule spent');
          return { state: 'dead' };
        }
        const retryInMs = Math.max(retryDelay(base, deps.random), outcome.retryAfterMs ?? 0);
        const next = await store.recordFailure(claim, {
          kind: 'retry',
          statusCode: outcome.statusCode,
          error: outcome.error,
          retryInMs,
        });
        log.info({ ...context, error: outcome.error, retryInMs }, 'webhook attempt failed, will retry');
        return next ? { state: 'retry', next } : { state: 'lost' };
      }
      default: {
        const unknown: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
      }
    }
  }

  async function attempt(claim: ClaimedDelivery, signal?: AbortSignal): Promise<AttemptResult> {
    const endpointId = claim.endpoint.id;
    active.set(endpointId, (active.get(endpointId) ?? 0) + 1);
    try {
      return await record(claim, await send(claim.endpoint, messageOf(claim.event), signal));
    } finally {
      const left = (active.get(endpointId) ?? 1) - 1;
      if (left === 0) active.delete(endpointId);
      else active.set(endpointId, left);
    }
  }

  return {
    attempt,

    async deliverById(id, endpointId, signal) {
      if (endpointId !== undefined && (active.get(endpointId) ?? 0) >= perEndpoint) return { state: 'busy' };
      const claimed = await store.claimById(id, leaseMs);
      if ('state' in claimed) return claimed;
      if ((active.get(claimed.endpoint.id) ?? 0) >= perEndpoint) {
        await store.releaseClaim(claimed);
        return { state: 'busy' };
      }
      return attempt(claimed, signal);
    },

    async drain({ timeoutMs, signal }) {
      const deadline = clock.now() + timeoutMs;
      const report: DrainReport = { attempts: 0, delivered: 0, retrying: 0, dead: 0 };
      const open = () => clock.now() < deadline && !signal?.aborted;
      const count = (result: AttemptResult) => {
        report.attempts += 1;
        if (result.state === 'delivered') report.delivered += 1;
        else if (result.state === 'retry') report.retrying += 1;
        else if (result.state === 'dead' || result.state === 'gone') report.dead += 1;
      };

      // One lane per endpoint: claims up to the endpoint's free slots, sends, claims again.
      const lane = async (endpointId: string) => {
        const inflight = new Set<Promise<void>>();
        for (;;) {
          const room = perEndpoint - (active.get(endpointId) ?? 0);
          const claims = room > 0 && open() ? await store.claimDue(endpointId, room, leaseMs) : [];
          for (const claim of claims) {
            const running: Promise<void> = attempt(claim, signal)
              .then(count)
              .finally(() => inflight.delete(running));
            inflight.add(running);
          }
          if (inflight.size === 0) return;
          if (claims.length === 0 || claims.length >= room) await Promise.race(inflight);
        }
      };

      const lanes = new Map<string, Promise<void>>();
      try {
        while (open()) {
          for (const endpointId of await store.endpointsWithDue()) {
            if (lanes.has(endpointId)) continue;
            lanes.set(
              endpointId,
              lane(endpointId).finally(() => lanes.delete(endpointId)),
            );
          }
          if (lanes.size > 0) {
            // Re-discover now and then: retries of other endpoints fall due meanwhile.
            await Promise.race([
              Promise.race(lanes.values()),
              clock.sleep(200, signal).catch(() => undefined),
            ]);
            continue;
          }
          const next = await store.nextDueAt();
          if (next === null || next > deadline) break;
          const wait = Math.min(Math.max(next - clock.now(), 10), deadline - clock.now(), 1_000);
          if (wait > 0) await clock.sleep(wait, signal).catch(() => undefined);
        }
      } finally {
        await Promise.allSettled([...lanes.values()]);
      }
      return report;
    },

    async sendTest(endpoint, signal) {
      const started = clock.now();
      const outcome = await send(endpoint, testMessage(deps.ids.uuid(), started, endpoint.id), signal);
      const durationMs = clock.now() - started;
      if (outcome.kind === 'delivered') return { ok: true, statusCode: outcome.statusCode, durationMs };
      return {
        ok: false,
        statusCode: outcome.statusCode,
        error: outcome.kind === 'gone' ? '410 Gone (the endpoint says it no longer exists)' : outcome.error,
        durationMs,
      };
    },
  };
}
