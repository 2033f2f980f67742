import { Counter, collectDefaultMetrics, exponentialBuckets, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../shared/clock.ts';

/**
 * The process's Prometheus metrics (README "Metrics" lists every series). One registry per
 * process, never prom-client's global one, so tests and several apps in one process stay apart.
 * Labels are bounded sets: configured accounts, regions and actions, codes; never ids.
 * Gauges of shared state (images, staleness) are read from their source at each scrape, so every
 * replica reports the same values whatever it synced itself.
 */

export const METRIC_PREFIX = 'swas_inventory_';

export type SyncTrigger = 'schedule' | 'watch' | 'manual';
export type SyncRunStatus = 'succeeded' | 'partial' | 'failed' | 'superseded';

export interface MetricsSources {
  /** Current (not deleted) images per account and status label (`available`, `create_failed`, …). */
  imageCounts?: () => Promise<readonly { account: string; status: string; count: number }[]>;
  /** When the newest complete listing of each (account, region) observed it (its start), epoch ms. */
  lastCompleteSyncs?: () => Promise<readonly { account: string; regionId: string; observedAt: number }[]>;
  /** Pending webhook deliveries of enabled endpoints, per endpoint format. */
  pendingDeliveries?: () => Promise<readonly { format: string; count: number }[]>;
}

export interface MetricsDeps {
  clock: Clock;
  /** Read at every scrape; a source that fails leaves its gauge empty for that scrape. */
  sources?: MetricsSources;
  /** Also collect prom-client's process and Node.js metrics (unprefixed, as dashboards expect). Default true. */
  defaultMetrics?: boolean;
}

type AccountAction = { account: string; action: string };

export interface Metrics {
  readonly registry: Registry;
  /** The SWAS client's metrics port (swas/client.ts `SwasClientMetrics`). */
  readonly swas: {
    apiCall(labels: AccountAction & { outcome: string }): void;
    throttled(labels: AccountAction): void;
    budgetWait(labels: AccountAction, seconds: number): void;
  };
  /** A region sync (full or watch) ended. */
  syncRun(
    labels: { account: string; trigger: SyncTrigger; status: SyncRunStatus },
    durationSeconds: number,
  ): void;
  /** Events recorded by a sync, per type. */
  eventsRecorded(labels: { type: string; baseline: boolean }, count: number): void;
  /**
   * A watch poll saw a status change: `seconds` since the image was last seen in its old status
   * (an upper bound of how long the change went unseen).
   */
  watchDetection(labels: { status: string }, seconds: number): void;
  /** The webhook delivery engine's port (events/webhook-delivery.ts `WebhookDeliveryMetrics`). */
  readonly webhooks: {
    attempt(labels: { outcome: string; format: string }): void;
    delivered(labels: { format: string }, seconds: number): void;
  };
  /** The text exposition format, for `/metrics`. */
  exposition(): Promise<{ contentType: string; body: string }>;
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  if (deps.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const registers = [registry];
  const name = (suffix: string) => `${METRIC_PREFIX}${suffix}`;

  const syncRuns = new Counter({
    name: name('sync_runs_total'),
    help: 'Region syncs ended, by account, trigger (schedule, watch, manual) and status (succeeded, partial, failed, superseded).',
    labelNames: ['account', 'trigger', 'status'] as const,
    registers,
  });
  const syncDuration = new Histogram({
    name: name('sync_duration_seconds'),
    help: 'Duration of region syncs, listing and database write, by trigger and status.',
    labelNames: ['trigger', 'status'] as const,
    buckets: exponentialBuckets(0.25, 2, 14), // 0.25 s … ~34 min
    registers,
  });
  const apiCalls = new Counter({
    name: name('api_calls_total'),
    help: 'SWAS API HTTP attempts, retries included, by account, action and outcome (ok or the error: throttled, timeout, unavailable, …).',
    labelNames: ['account', 'action', 'outcome'] as const,
    registers,
  });
  const throttles = new Counter({
    name: name('api_throttles_total'),
    help: 'SWAS API answers Throttling*, by account and action.',
    labelNames: ['account', 'action'] as const,
    registers,
  });
  const budgetWait = new Histogram({
    name: name('rate_budget_wait_seconds'),
    help: 'Time an API attempt waited for the shared rate budget (quota or throttle hold), by account and action.',
    labelNames: ['account', 'action'] as const,
    buckets: exponentialBuckets(0.005, 2.5, 12), // 5 ms … ~2 min
    registers,
  });
  const events = new Counter({
    name: name('events_total'),
    help: 'Change events recorded, by type and whether they belong to a baseline.',
    labelNames: ['type', 'baseline'] as const,
    registers,
  });
  const watchDetection = new Histogram({
    name: name('watch_detection_latency_seconds'),
    help: 'Status changes found by watch polls: time since the image was last seen in its old status, by new status.',
    labelNames: ['status'] as const,
    buckets: [5, 10, 20, 30, 45, 60, 75, 90, 120, 180, 300, 600, 1800],
    registers,
  });
  const deliveryAttempts = new Counter({
    name: name('webhook_attempts_total'),
    help: 'Webhook delivery attempts whose outcome was recorded, by outcome (delivered, retry, dead, gone) and endpoint format.',
    labelNames: ['outcome', 'format'] as const,
    registers,
  });
  const deliveryLatency = new Histogram({
    name: name('webhook_delivery_latency_seconds'),
    help: 'From the commit that wrote a delivery (with its event) to its delivered outcome, retries included, by endpoint format.',
    labelNames: ['format'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800, 7200, 36000],
    registers,
  });
  const pendingDeliveries = deps.sources?.pendingDeliveries;
  new Gauge({
    name: name('webhook_deliveries_pending'),
    help: 'Pending webhook deliveries (due or waiting for a retry) of enabled endpoints, by endpoint format.',
    labelNames: ['format'] as const,
    registers,
    async collect() {
      this.reset();
      if (!pendingDeliveries) return;
      const rows = await pendingDeliveries().catch(() => []);
      for (const row of rows) this.set({ format: row.format }, row.count);
    },
  });
  const imageCounts = deps.sources?.imageCounts;
  new Gauge({
    name: name('images'),
    help: 'Current (not deleted) images, by account and status (copying, available, unavailable, create_failed, creating).',
    labelNames: ['account', 'status'] as const,
    registers,
    async collect() {
      this.reset();
      if (!imageCounts) return;
      const rows = await imageCounts().catch(() => []);
      for (const row of rows) this.set({ account: row.account, status: row.status }, row.count);
    },
  });
  const lastCompleteSyncs = deps.sources?.lastCompleteSyncs;
  new Gauge({
    name: name('last_complete_sync_age_seconds'),
    help: 'Seconds since the last complete full sync of each account and region.',
    labelNames: ['account', 'region'] as const,
    registers,
    async collect() {
      this.reset();
      if (!lastCompleteSyncs) return;
      const rows = await lastCompleteSyncs().catch(() => []);
      const now = deps.clock.now();
      for (const row of rows) {
        this.set({ account: row.account, region: row.regionId }, Math.max(0, (now - row.observedAt) / 1_000));
      }
    },
  });

  return {
    registry,
    swas: {
      apiCall: (labels) => apiCalls.inc(labels),
      throttled: (labels) => throttles.inc(labels),
      budgetWait: (labels, seconds) => budgetWait.observe(labels, seconds),
    },
    syncRun: (labels, durationSeconds) => {
      syncRuns.inc(labels);
      syncDuration.observe({ trigger: labels.trigger, status: labels.status }, durationSeconds);
    },
    eventsRecorded: (labels, count) => {
      if (count > 0) events.inc({ type: labels.type, baseline: String(labels.baseline) }, count);
    },
    watchDetection: (labels, seconds) => watchDetection.observe(labels, seconds),
    webhooks: {
      attempt: (labels) => deliveryAttempts.inc(labels),
      delivered: (labels, seconds) => deliveryLatency.observe(labels, Math.max(0, seconds)),
    },
    exposition: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
  };
}
