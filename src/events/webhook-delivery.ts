import type { WebhookFormat } from '../db/schema/index.ts';
import type { AttemptRecord, ClaimedDelivery, WebhookEndpoint, WebhookStore } from '../db/webhook-store.ts';
import { type Dispatcher, originAndPath, readCapped, request } from '../http/undici.ts';
import type { Logger } from '../observability/logger.ts';
import type { Clock } from '../shared/clock.ts';
import type { IdSource } from '../shared/ids.ts';
import { scrubSecrets } from '../shared/mask-url.ts';
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
  metrics?: WebhookDeliveryMetrics;
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

/** How an attempt ended, as counted by the metrics. */
export type AttemptOutcomeLabel = 'delivered' | 'retry' | 'dead' | 'gone';

/** Where delivery reports its attempts (observability/metrics.ts implements it; optional). */
export interface WebhookDeliveryMetrics {
  /** One attempt whose outcome was recorded. */
  attempt(labels: { outcome: AttemptOutcomeLabel; format: WebhookFormat }): void;
  /** A delivery recorded delivered, `seconds` after the commit that wrote its row. */
  delivered(labels: { format: WebhookFormat }, seconds: number): void;
}

/** What one run of an endpoint's deliveries did (see {@link WebhookDelivery.deliverEndpoint}). */
export type EndpointRun =
  /** This process was already delivering to the endpoint: that run was told to look again. */
  | { state: 'joined' }
  /** Nothing more is due; `nextDueAt` (epoch ms) is when the next pending delivery can be claimed. */
  | { state: 'ran'; report: DrainReport; nextDueAt: number | null };

export interface EndpointRunOptions {
  /** Once aborted, no more deliveries are claimed; attempts in flight finish (a worker shutting down). */
  stop?: AbortSignal;
}

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
  /**
   * The queue's work for one endpoint: claims its due deliveries in batches, sends them with at
   * most `perEndpointConcurrency` in flight, writes their outcomes in batches, and goes on while
   * more fall due or arrive; then says when the next pending one can be claimed. If this process
   * is already delivering to the endpoint, tells that run to look again and returns `joined`.
   */
  deliverEndpoint(endpointId: string, options?: EndpointRunOptions): Promise<EndpointRun>;
  /**
   * Delivers whatever is due, endpoint by endpoint in parallel (a slow endpoint holds up only its
   * own lane), including retries that fall due before the deadline; what is left stays pending.
   */
  drain(options: DrainOptions): Promise<DrainReport>;
  /** `webhooks test`: a signed `webhook.test` message straight to the endpoint; nothing is stored. */
  sendTest(endpoint: WebhookEndpoint, signal?: AbortSignal): Promise<TestResult>;
}

/**
 * How much of an endpoint's answer is read: chat platforms answer in a few hundred bytes, and the
 * error shown keeps 200 characters of it.
 */
const ANSWER_BYTES = 64 * 1024;
/** What is dropped from the end of an answer that was cut: more than any secret is long. */
const CUT_MARGIN = 1024;

/** A delay of the schedule with ±20% jitter, so deliveries that failed together retry apart. */
export function retryDelay(scheduleMs: number, random: () => number): number {
  return Math.round(scheduleMs * (0.8 + 0.4 * random()));
}

/** A 410 answer: handled on its own, since it ends every pending delivery of the endpoint. */
type GoneRecord = { claim: ClaimedDelivery; kind: 'gone'; statusCode: number };
/** An attempt's outcome as it is to be written. */
type Judged = AttemptRecord | GoneRecord;

/** "Look again": set by whoever learns that deliveries may have become due, taken by the lane. */
interface Wake {
  poke(): void;
  /** Whether it was poked since the last take; clears it. */
  take(): boolean;
  pending(): boolean;
  /** Resolves at the next poke (at once if one is pending). */
  next(): Promise<void>;
}

function createWake(): Wake {
  let poked = false;
  let resolve: (() => void) | undefined;
  return {
    poke() {
      poked = true;
      resolve?.();
      resolve = undefined;
    },
    take() {
      const was = poked;
      poked = false;
      return was;
    },
    pending: () => poked,
    next: () =>
      poked
        ? Promise.resolve()
        : new Promise<void>((done) => {
            resolve = done;
          }),
  };
}

const emptyReport = (): DrainReport => ({ attempts: 0, delivered: 0, retrying: 0, dead: 0 });

export function createWebhookDelivery(
  deps: WebhookDeliveryDeps,
  options: WebhookDeliveryOptions,
): WebhookDelivery {
  const { store, clock, logger } = deps;
  const perEndpoint = options.perEndpointConcurrency ?? 8;
  // Claim again once half the endpoint's slots are free, so each claim fetches several rows.
  const lowWater = Math.max(1, Math.floor(perEndpoint / 2));
  // A claimed row waits at most one attempt for its slot, then takes at most one attempt (the
  // timeout bounds each): the lease outlasts both, so a live claim is never taken over.
  const leaseMs = 2 * options.timeoutMs + 30_000;
  // An endpoint that answers within this is worth claiming ahead for.
  const fastMs = options.timeoutMs / 4;
  // An endpoint's Retry-After is honoured up to the schedule's longest delay: a hostile or broken
  // value must not park a delivery for years (or overflow the next attempt's time).
  const longestDelayMs = Math.max(0, ...options.retryScheduleMs);
  const active = new Map<string, number>();
  /** The endpoints this process is delivering to for the queue, and how to tell each to look again. */
  const running = new Map<string, Wake>();
  const log = logger.child({ component: 'webhooks' });

  async function send(
    target: EndpointTarget,
    message: WebhookMessage,
    signal?: AbortSignal,
  ): Promise<DeliveryOutcome> {
    // What the endpoint answered may echo the URL it was called at (a robot's token) or worse:
    // scrubbed before it is shortened, so no cut leaves half a secret behind. A failure to get
    // an answer is scrubbed too (an error may quote what it was sent).
    const secret = target.secret?.reveal();
    const scrub = (text: string) => scrubSecrets(text, target.url, secret === undefined ? [] : [secret]);
    const now = clock.now();
    const timeout = AbortSignal.timeout(options.timeoutMs);
    try {
      const outgoing = buildRequest(target, message, now, options.userAgent);
      const response = await request(deps.dispatcher, {
        ...originAndPath(outgoing.url),
        method: 'POST',
        headers: outgoing.headers,
        body: outgoing.body,
        signal: signal ? AbortSignal.any([timeout, signal]) : timeout,
      });
      const { statusCode } = response;
      let text: string;
      try {
        const read = await readCapped(response.body, ANSWER_BYTES);
        // A secret cut in two where the reading stopped would no longer be recognised by the
        // scrub: that end of the answer is dropped.
        text = read.cut ? read.text.slice(0, -CUT_MARGIN) : read.text;
      } catch (error) {
        // The status alone decides a 410 and a standard endpoint's 2xx: a body that stalls or
        // breaks off afterwards must not turn them into retries (an accepted event sent again).
        if (statusCode === 410 || (target.format === 'standard' && statusCode >= 200 && statusCode < 300))
          return outcomeOfResponse(target.format, statusCode, '', undefined, clock.now());
        throw error;
      }
      const retryAfter = response.headers['retry-after'];
      return outcomeOfResponse(
        target.format,
        statusCode,
        text,
        Array.isArray(retryAfter) ? retryAfter[0] : retryAfter,
        clock.now(),
        scrub,
      );
    } catch (error) {
      return outcomeOfError(timeout.aborted ? timeout.reason : error, options.timeoutMs, scrub);
    }
  }

  function judge(claim: ClaimedDelivery, outcome: DeliveryOutcome): Judged {
    switch (outcome.kind) {
      case 'delivered':
      case 'gone':
        return { claim, kind: outcome.kind, statusCode: outcome.statusCode };
      case 'failed': {
        const base = options.retryScheduleMs[claim.attempt - 1];
        const { statusCode, error } = outcome;
        if (base === undefined) return { claim, kind: 'dead', statusCode, error };
        const asked = Math.min(outcome.retryAfterMs ?? 0, longestDelayMs);
        const retryInMs = Math.max(retryDelay(base, deps.random), asked);
        return { claim, kind: 'retry', statusCode, error, retryInMs };
      }
      default: {
        const unknown: never = outcome;
        throw new Error(`unknown outcome ${JSON.stringify(unknown)}`);
      }
    }
  }

  async function attempt(claim: ClaimedDelivery, signal?: AbortSignal): Promise<Judged> {
    const endpointId = claim.endpoint.id;
    active.set(endpointId, (active.get(endpointId) ?? 0) + 1);
    try {
      return judge(claim, await send(claim.endpoint, messageOf(claim.event), signal));
    } finally {
      const left = (active.get(endpointId) ?? 1) - 1;
      if (left === 0) active.delete(endpointId);
      else active.set(endpointId, left);
    }
  }

  /**
   * Writes outcomes behind the lane: each write takes everything that finished meanwhile, so a busy
   * endpoint gets one statement per batch and an idle one a write per attempt, without delay. A
   * 410 first writes what came before it (else those rows would end dead with the endpoint).
   */
  function createWriter(report: DrainReport) {
    let buffered: AttemptRecord[] = [];
    let chain = Promise.resolve();
    let scheduled = false;
    let gone = false;
    let failure: unknown;

    const context = (judged: Judged) => ({
      deliveryId: judged.claim.id,
      endpointId: judged.claim.endpoint.id,
      eventId: judged.claim.event.id,
      attempt: judged.claim.attempt,
      statusCode: judged.statusCode,
    });

    const flush = async () => {
      scheduled = false;
      const batch = buffered;
      buffered = [];
      if (batch.length === 0) return;
      let written: Map<number, number>;
      try {
        written = new Map((await store.recordOutcomes(batch)).map((row) => [row.id, row.sinceCommitSeconds]));
      } catch (error) {
        // The rows keep their lease until it runs out, then are attempted again: nothing is lost.
        failure ??= error;
        return;
      }
      for (const record of batch) {
        report.attempts += 1;
        const format = record.claim.endpoint.format;
        const since = written.get(record.claim.id);
        if (since === undefined) {
          log.debug(context(record), 'webhook attempt ended after its lease ran out: outcome not recorded');
          continue;
        }
        deps.metrics?.attempt({ outcome: record.kind, format });
        switch (record.kind) {
          case 'delivered':
            report.delivered += 1;
            deps.metrics?.delivered({ format }, since);
            log.debug(context(record), 'webhook delivered');
            break;
          case 'retry':
            report.retrying += 1;
            log.info(
              { ...context(record), error: record.error, retryInMs: record.retryInMs },
              'webhook attempt failed, will retry',
            );
            break;
          case 'dead':
            report.dead += 1;
            log.warn(
              { ...context(record), error: record.error },
              'webhook delivery dead: retry schedule spent',
            );
            break;
          default: {
            const unknown: never = record;
            throw new Error(`unknown record ${JSON.stringify(unknown)}`);
          }
        }
      }
    };

    const endGone = async (judged: GoneRecord) => {
      try {
        await store.recordGone(judged.claim, judged.statusCode);
      } catch (error) {
        failure ??= error;
        return;
      }
      report.attempts += 1;
      report.dead += 1;
      deps.metrics?.attempt({ outcome: 'gone', format: judged.claim.endpoint.format });
      log.warn(context(judged), 'endpoint answered 410 Gone: disabled, its pending deliveries are dead');
    };

    return {
      add(judged: Judged) {
        if (judged.kind === 'gone') {
          if (gone) return;
          gone = true;
          chain = chain.then(flush).then(() => endGone(judged));
          return;
        }
        buffered.push(judged);
        if (scheduled) return;
        scheduled = true;
        chain = chain.then(flush);
      },
      /** The endpoint is gone or the database failed: claim nothing more. */
      halted: () => gone || failure !== undefined,
      /** Waits for every write; throws the first that failed. */
      async close() {
        await chain;
        if (failure !== undefined) throw failure;
      },
    };
  }

  /**
   * One endpoint's lane: claims due deliveries, sends each as soon as a slot is free, and ends
   * when nothing is due and nothing is in flight. While the endpoint answers fast it claims up to
   * one more slot's worth ahead, so sends never wait for a claim's round trip; a slow or hanging
   * endpoint gets no more claims than free slots. `wake` tells a running lane that more arrived.
   */
  async function runLane(
    endpointId: string,
    report: DrainReport,
    lane: { stopped: () => boolean; signal?: AbortSignal; wake?: Wake },
  ): Promise<void> {
    const inflight = new Set<Promise<void>>();
    const writer = createWriter(report);
    /** Claimed, waiting for a free slot (only while the endpoint answers fast). */
    const queued: ClaimedDelivery[] = [];
    let fast = false;
    let failure: unknown;
    // The last claim got fewer rows than it asked for: nothing else is due until a poke.
    let exhausted = false;
    const free = () => perEndpoint - (active.get(endpointId) ?? 0);
    const release = async () => {
      const unsent = queued.splice(0);
      if (unsent.length === 0 || writer.halted()) return;
      await store.releaseClaims(unsent).catch(() => undefined);
    };
    try {
      for (;;) {
        if (lane.wake?.take()) exhausted = false;
        const open = !lane.stopped() && !writer.halted() && failure === undefined;
        if (!open) await release();
        while (queued.length > 0 && free() > 0) {
          const claim = queued.shift() as ClaimedDelivery;
          const started = clock.now();
          const sending: Promise<void> = attempt(claim, lane.signal)
            .then((judged) => {
              fast = judged.statusCode !== null && clock.now() - started < fastMs;
              writer.add(judged);
            })
            .finally(() => inflight.delete(sending));
          inflight.add(sending);
        }
        const wanted = free() + (fast ? perEndpoint : 0) - queued.length;
        if (open && !exhausted && wanted > 0 && (inflight.size === 0 || wanted >= lowWater)) {
          try {
            const claims = await store.claimDue(endpointId, wanted, leaseMs);
            exhausted = claims.length < wanted;
            queued.push(...claims);
          } catch (error) {
            failure = error;
          }
          continue;
        }
        if (inflight.size === 0) {
          // Another lane of this process holds the endpoint's slots: leave the rows to it.
          await release();
          break;
        }
        await Promise.race([...inflight, ...(lane.wake ? [lane.wake.next()] : [])]);
      }
    } finally {
      await Promise.allSettled([...inflight]);
      await release();
      await writer.close().catch((error: unknown) => {
        failure ??= error;
      });
    }
    if (failure !== undefined) throw failure;
  }

  return {
    async deliverEndpoint(endpointId, runOptions = {}) {
      const already = running.get(endpointId);
      if (already) {
        already.poke();
        return { state: 'joined' };
      }
      const wake = createWake();
      running.set(endpointId, wake);
      const report = emptyReport();
      const stopped = () => runOptions.stop?.aborted ?? false;
      try {
        // A poke that came while the lane was winding down finds no lane to wake: run again.
        do await runLane(endpointId, report, { stopped, wake });
        while (wake.pending() && !stopped());
      } finally {
        running.delete(endpointId);
      }
      return { state: 'ran', report, nextDueAt: await store.nextDueAt(endpointId) };
    },

    async drain({ timeoutMs, signal }) {
      const deadline = clock.now() + timeoutMs;
      const report = emptyReport();
      const open = () => clock.now() < deadline && !signal?.aborted;
      const stopped = () => !open();
      const lanes = new Map<string, Promise<void>>();
      let failure: unknown;
      try {
        while (open() && failure === undefined) {
          for (const endpointId of await store.endpointsWithDue()) {
            if (lanes.has(endpointId)) continue;
            lanes.set(
              endpointId,
              runLane(endpointId, report, { stopped, ...(signal ? { signal } : {}) })
                .catch((error: unknown) => {
                  failure ??= error;
                })
                .finally(() => lanes.delete(endpointId)),
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
      if (failure !== undefined) throw failure;
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
