import { describe, expect, it } from 'vitest';
import { createManualClock } from '../shared/clock.ts';
import { createMetrics } from './metrics.ts';

const START = Date.UTC(2026, 0, 1);

describe('createMetrics', () => {
  it('exposes every series with its labels, plus the default process metrics, in its own registry', async () => {
    const metrics = createMetrics({
      clock: createManualClock(START),
      sources: {
        imageCounts: async () => [{ account: 'prod', status: 'available', count: 12 }],
        lastCompleteSyncs: async () => [
          { account: 'prod', regionId: 'cn-hangzhou', observedAt: START - 90_000 },
        ],
      },
    });
    metrics.swas.apiCall({ account: 'prod', action: 'ListCustomImages', outcome: 'throttled' });
    metrics.swas.throttled({ account: 'prod', action: 'ListCustomImages' });
    metrics.swas.budgetWait({ account: 'prod', action: 'ListCustomImages' }, 0.5);
    metrics.syncRun({ account: 'prod', trigger: 'schedule', status: 'succeeded' }, 3.2);
    metrics.eventsRecorded({ type: 'image.failed', baseline: false }, 2);
    metrics.eventsRecorded({ type: 'image.created', baseline: true }, 0);
    metrics.watchDetection({ status: 'create_failed' }, 42);

    const { contentType, body } = await metrics.exposition();

    expect(contentType).toContain('text/plain');
    for (const line of [
      'swas_inventory_api_calls_total{account="prod",action="ListCustomImages",outcome="throttled"} 1',
      'swas_inventory_api_throttles_total{account="prod",action="ListCustomImages"} 1',
      'swas_inventory_rate_budget_wait_seconds_count{account="prod",action="ListCustomImages"} 1',
      'swas_inventory_sync_runs_total{account="prod",trigger="schedule",status="succeeded"} 1',
      'swas_inventory_sync_duration_seconds_count{trigger="schedule",status="succeeded"} 1',
      'swas_inventory_events_total{type="image.failed",baseline="false"} 2',
      'swas_inventory_watch_detection_latency_seconds_bucket{le="45",status="create_failed"} 1',
      'swas_inventory_images{account="prod",status="available"} 12',
      'swas_inventory_last_complete_sync_age_seconds{account="prod",region="cn-hangzhou"} 90',
    ]) {
      expect(body).toContain(line);
    }
    expect(body).not.toContain('image.created');
    expect(body).toContain('process_cpu_user_seconds_total');
    expect(body).toContain('nodejs_eventloop_lag_seconds');
  });

  it('leaves a gauge empty for a scrape when its source fails, and keeps serving the rest', async () => {
    const metrics = createMetrics({
      clock: createManualClock(START),
      defaultMetrics: false,
      sources: { imageCounts: () => Promise.reject(new Error('database down')) },
    });
    metrics.swas.apiCall({ account: 'prod', action: 'ListRegions', outcome: 'ok' });
    const { body } = await metrics.exposition();
    expect(body).toContain('# TYPE swas_inventory_images gauge');
    expect(body).not.toMatch(/^swas_inventory_images\{/m);
    expect(body).toContain(
      'swas_inventory_api_calls_total{account="prod",action="ListRegions",outcome="ok"} 1',
    );
  });
});
