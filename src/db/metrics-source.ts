import type { MetricsSources } from '../observability/metrics.ts';
import type { Db } from './client.ts';
import { sql } from './drizzle.ts';

/**
 * The database side of the metrics gauges (observability/metrics.ts), read at each scrape so every
 * replica reports the same: current images per account and status label, and the observation
 * instant (`started_at`, PostgreSQL's clock) of each scope's newest complete listing, and the
 * webhook deliveries still pending.
 * `db` is a function so that building the metrics never opens a connection by itself.
 */
export function createMetricsSources(db: () => Db): Required<MetricsSources> {
  return {
    async imageCounts() {
      const result = await db().execute<{ account: string; status: string; count: number }>(sql`
        select c.account, coalesce(s.label, c.status) as status, count(*)::int as count
          from custom_images c left join image_statuses s on s.code = c.status
         where c.deleted_at is null
         group by 1, 2`);
      return result.rows.map((row) => ({ ...row, count: Number(row.count) }));
    },
    async lastCompleteSyncs() {
      // distinct on + the partial index on (account, region_id, started_at desc) where complete.
      const result = await db().execute<{ account: string; region_id: string; started_ms: string }>(sql`
        select distinct on (account, region_id) account, region_id,
               (extract(epoch from started_at) * 1000)::bigint as started_ms
          from sync_runs where complete
         order by account, region_id, started_at desc`);
      return result.rows.map((row) => ({
        account: row.account,
        regionId: row.region_id,
        observedAt: Number(row.started_ms),
      }));
    },
    async pendingDeliveries() {
      // The partial index on pending rows keeps this to the backlog, however long the log is.
      const result = await db().execute<{ format: string; count: number }>(sql`
        select w.format, count(*)::int as count
          from webhook_deliveries d join webhook_endpoints w on w.id = d.endpoint_id and w.enabled
         where d.status = 'pending'
         group by 1`);
      return result.rows.map((row) => ({ format: row.format, count: Number(row.count) }));
    },
  };
}
