import type { Db } from './client.ts';
import { sql } from './drizzle.ts';

/**
 * The status changes a watch poll found, each with how long it may have gone unseen: from the
 * scope's previous successful run (full or watch), the last time the image was seen in its old
 * status, to this run's observation instant. Labelled by the new status's label.
 */
export async function watchDetections(db: Db, runId: string): Promise<{ status: string; seconds: number }[]> {
  const result = await db.execute<{ status: string; seconds: number }>(sql`
    select coalesce(s.label, e.data->>'to') as status,
           extract(epoch from e.occurred_at - (
             select max(r.started_at) from sync_runs r
              where r.account = e.account and r.region_id = e.region_id
                and r.started_at < e.occurred_at and r.status in ('succeeded', 'partial')
           ))::float8 as seconds
      from image_events e left join image_statuses s on s.code = e.data->>'to'
     where e.sync_run_id = ${runId} and e.type = 'image.status_changed'`);
  return result.rows
    .filter((row) => row.seconds !== null)
    .map((row) => ({ status: row.status, seconds: Number(row.seconds) }));
}
