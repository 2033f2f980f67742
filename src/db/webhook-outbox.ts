import type { DbOrTx } from './client.ts';
import { sql } from './drizzle.ts';
import { imageEvents, webhookDeliveries, webhookEndpoints } from './schema/index.ts';
import { GONE_REASON_PREFIX } from './webhook-store.ts';

/**
 * The outbox fan-out: one `webhook_deliveries` row per event of the sync run × endpoint whose
 * filters match (type, account, region; baseline events only where the endpoint opts in), in ONE
 * statement. An endpoint an operator disabled gets its rows too: they wait, pending, until it is
 * enabled, so a pause loses no alert. One disabled by its own 410 gets none (see GONE_REASON_PREFIX). Called in the sync's transaction right after its events are inserted, so
 * deliveries exist exactly when their events do. Returns the number of deliveries written.
 */
export async function insertDeliveriesForRun(tx: DbOrTx, runId: string): Promise<number> {
  const result = await tx.execute(sql`
    insert into ${webhookDeliveries} (event_id, endpoint_id, status, attempts, next_attempt_at)
    select e.id, w.id, 'pending', 0, now()
    from ${imageEvents} e
    join ${webhookEndpoints} w on (w.enabled or w.disabled_reason is null
        or left(w.disabled_reason, ${GONE_REASON_PREFIX.length}) <> ${GONE_REASON_PREFIX})
      and (w.event_types is null or e.type = any(w.event_types))
      and (w.accounts is null or e.account = any(w.accounts))
      and (w.region_ids is null or e.region_id = any(w.region_ids))
      and (not e.baseline or w.include_baseline)
    where e.sync_run_id = ${runId}::uuid
    on conflict (event_id, endpoint_id) do nothing`);
  return result.rowCount ?? 0;
}
