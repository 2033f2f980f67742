-- The bound after which a silent running run counts as abandoned was a fixed 60 s in sync_health,
-- while the processes use 4 × SYNC_RUN_HEARTBEAT: each run now records its own process's bound.
ALTER TABLE "sync_runs" ADD COLUMN "abandon_after_ms" integer;
--> statement-breakpoint
CREATE OR REPLACE VIEW "reporting"."sync_health" AS
WITH RECURSIVE scopes (account, region_id) AS (
  -- The distinct scopes by skipping through the (account, region_id, started_at) index: one probe
  -- per scope instead of a scan of every run.
  (SELECT r.account, r.region_id FROM public.sync_runs r ORDER BY r.account, r.region_id LIMIT 1)
  UNION ALL
  SELECT nxt.account, nxt.region_id
    FROM scopes s
   CROSS JOIN LATERAL (
     SELECT r.account, r.region_id FROM public.sync_runs r
      WHERE (r.account, r.region_id) > (s.account, s.region_id)
      ORDER BY r.account, r.region_id LIMIT 1
   ) nxt
)
-- Full syncs only: watch polls re-read a few images and never complete. A run still `running`
-- whose heartbeat (or start) is older than its own process's bound (abandon_after_ms; 60 s for a
-- run recorded before the bound was) was abandoned by a dead process: it counts as failed.
SELECT s.account, s.region_id,
       CASE WHEN fails.n > 0 THEN 'failing'
            WHEN ok.started_at IS NULL THEN 'pending'
            ELSE 'ok' END AS state,
       fails.n AS consecutive_failures,
       last.id AS last_run_id, last.trigger AS last_run_trigger,
       CASE WHEN last.abandoned THEN 'failed' ELSE last.status END AS last_run_status,
       coalesce(last.abandoned, false) AS last_run_abandoned,
       last.started_at AS last_run_started_at, last.finished_at AS last_run_finished_at,
       last.error AS last_run_error,
       ok.started_at AS last_success_started_at,
       done.id AS last_complete_run_id, done.started_at AS last_complete_started_at,
       done.finished_at AS last_complete_finished_at,
       now() - done.started_at AS staleness,
       extract(epoch FROM now() - done.started_at)::double precision AS staleness_seconds
  FROM scopes s
  LEFT JOIN LATERAL (
    SELECT r.id, r.trigger, r.status, r.started_at, r.finished_at, r.error,
           r.status = 'running' AND coalesce(r.heartbeat_at, r.started_at) < now() - make_interval(secs => coalesce(r.abandon_after_ms, 60000) / 1000.0) AS abandoned
      FROM public.sync_runs r
     WHERE r.account = s.account AND r.region_id = s.region_id AND r.trigger <> 'watch'
     ORDER BY r.started_at DESC LIMIT 1
  ) last ON true
  LEFT JOIN LATERAL (
    SELECT r.started_at FROM public.sync_runs r
     WHERE r.account = s.account AND r.region_id = s.region_id AND r.trigger <> 'watch'
       AND r.status IN ('succeeded', 'partial', 'superseded')
     ORDER BY r.started_at DESC LIMIT 1
  ) ok ON true
  LEFT JOIN LATERAL (
    SELECT r.id, r.started_at, r.finished_at FROM public.sync_runs r
     WHERE r.account = s.account AND r.region_id = s.region_id AND r.complete
     ORDER BY r.started_at DESC LIMIT 1
  ) done ON true
  CROSS JOIN LATERAL (
    SELECT count(*)::integer AS n FROM public.sync_runs r
     WHERE r.account = s.account AND r.region_id = s.region_id AND r.trigger <> 'watch'
       AND r.started_at > coalesce(ok.started_at, '-infinity'::timestamptz)
       AND (r.status = 'failed'
            OR (r.status = 'running' AND coalesce(r.heartbeat_at, r.started_at) < now() - make_interval(secs => coalesce(r.abandon_after_ms, 60000) / 1000.0)))
  ) fails;
--> statement-breakpoint
COMMENT ON VIEW "reporting"."sync_health" IS 'Per account and region that has sync runs: the last full sync (watch polls excluded), the last complete one, the consecutive failures since the last run that did not fail, and staleness. A run left running with no heartbeat for longer than its process''s bound (4 heartbeats) was abandoned by a dead process and counts as failed.';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."sync_health"."last_run_abandoned" IS 'True when the newest run is left running with no heartbeat for longer than its process''s bound (its process died).';
--> statement-breakpoint
COMMENT ON COLUMN "public"."sync_runs"."abandon_after_ms" IS 'How long the run''s process lets its heartbeat go silent before the run counts as abandoned (4 × SYNC_RUN_HEARTBEAT); null for runs recorded before it was kept (60 s).';
