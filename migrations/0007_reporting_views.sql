-- Schema `reporting`: the SQL interface of SPEC §6 that users, dashboards and the `report` command
-- read. A public interface: later migrations may add columns, never rename or drop them.
-- Window functions partition by (region_id, account, image_id), so that a filter on any of those
-- reaches the scan of the history (a filter on a column outside the partition cannot), in the
-- order of custom_image_versions_region_idx, so that the whole history is read without a sort.
-- The region's history in the order the windows read it, with the columns they need (and the name,
-- which the reports show): a one-region
-- question is an index-only scan (once vacuum has marked the pages all-visible, as autovacuum does)
-- instead of a visit to every heap page that holds one of the region's versions. Hand-written:
-- drizzle cannot express INCLUDE.
CREATE INDEX "custom_image_versions_region_idx" ON "custom_image_versions" USING btree ("region_id", "account", "image_id", "version")
  INCLUDE ("status", "in_share", "in_share_user", "valid_from", "valid_to", "name");
--> statement-breakpoint
CREATE SCHEMA IF NOT EXISTS "reporting";
--> statement-breakpoint
COMMENT ON SCHEMA "reporting" IS 'Reporting views and functions over the image history (SPEC §6); columns may be added, never renamed.';
--> statement-breakpoint
CREATE VIEW "reporting"."current_images" AS
SELECT c.account, c.image_id, c.region_id, c.name, c.description, c.status, st.label AS status_label,
       c.in_share, c.in_share_user, c.instance_id, c.instance_name, c.system_snapshot_id,
       c.system_snapshot_name, c.data_snapshot_id, c.data_snapshot_name, c.resource_group_id, c.os_type,
       c.required_system_disk_size, c.required_data_disk_size, c.source_image_name,
       c.source_image_version, c.user_id, c.tags, c.create_instances, c.creation_time, c.version,
       c.first_seen_at,
       -- A no-op sync writes no image row, so a live row was last seen by the scope's latest complete
       -- listing; an id whose deletion that listing held was absent from it, so the complete listing
       -- before it is the last one that saw it. greatest() ignores nulls.
       CASE
         WHEN c.deleted_at IS NOT NULL OR latest.started_at IS NULL THEN c.last_seen_at
         WHEN c.image_id = ANY (latest.held_image_ids) THEN greatest(c.last_seen_at, (
           SELECT max(p.started_at) FROM public.sync_runs p
            WHERE p.account = c.account AND p.region_id = c.region_id AND p.complete
              AND p.started_at < latest.started_at))
         ELSE greatest(c.last_seen_at, latest.started_at)
       END AS last_seen_at,
       c.deleted_at, c.raw, c.last_seen_at AS last_seen_stored_at
  FROM public.custom_images c
  JOIN public.image_statuses st ON st.code = c.status
  LEFT JOIN LATERAL (
    SELECT r.started_at, r.held_image_ids FROM public.sync_runs r
     WHERE r.account = c.account AND r.region_id = c.region_id AND r.complete
     ORDER BY r.started_at DESC LIMIT 1
  ) latest ON true;
--> statement-breakpoint
CREATE VIEW "reporting"."image_versions" AS
SELECT v.account, v.image_id, v.version, v.region_id, v.name, v.description, v.status,
       st.label AS status_label, v.in_share, v.in_share_user, v.instance_id, v.instance_name,
       v.system_snapshot_id, v.system_snapshot_name, v.data_snapshot_id, v.data_snapshot_name,
       v.resource_group_id, v.os_type, v.required_system_disk_size, v.required_data_disk_size,
       v.source_image_name, v.source_image_version, v.user_id, v.tags, v.create_instances,
       v.creation_time, v.valid_from, v.valid_to, v.sync_run_id
  FROM public.custom_image_versions v
  JOIN public.image_statuses st ON st.code = v.status;
--> statement-breakpoint
-- Inlined into the calling query (LANGUAGE sql, STABLE, not STRICT), so filters on the result reach
-- the scan. Half-open validity: a version valid_from t is the state at t; valid_to is excluded.
CREATE FUNCTION "reporting"."images_as_of"(ts timestamptz) RETURNS SETOF "reporting"."image_versions"
LANGUAGE sql STABLE AS $$
  SELECT * FROM reporting.image_versions v
   WHERE v.valid_from <= ts AND (v.valid_to IS NULL OR v.valid_to > ts)
$$;
--> statement-breakpoint
CREATE VIEW "reporting"."image_status_periods" AS
WITH edges AS (
  -- A period starts at a status change or after a gap (the image was deleted and listed again) and
  -- ends before the next change or gap. Its first and last versions are its edges.
  SELECT v.region_id, v.account, v.image_id, v.version, v.status, v.valid_from, v.valid_to,
         lag(v.status) OVER w IS DISTINCT FROM v.status
           OR lag(v.valid_to) OVER w IS DISTINCT FROM v.valid_from AS starts,
         lead(v.status) OVER w IS DISTINCT FROM v.status
           OR lead(v.valid_from) OVER w IS DISTINCT FROM v.valid_to AS ends,
         CASE WHEN lead(v.valid_from) OVER w = v.valid_to THEN lead(v.status) OVER w END AS next_status
    FROM public.custom_image_versions v
  WINDOW w AS (PARTITION BY v.region_id, v.account, v.image_id ORDER BY v.version)
), periods AS (
  -- Only edges remain, so a start that is not also an end is followed by its end. No GROUP BY:
  -- every step streams in the index's order, without a sort.
  SELECT e.region_id, e.account, e.image_id, e.status, e.starts,
         (count(*) FILTER (WHERE e.starts) OVER w)::integer AS period,
         e.version AS first_version,
         CASE WHEN e.ends THEN e.version ELSE lead(e.version) OVER w END AS last_version,
         e.valid_from AS entered_at,
         CASE WHEN e.ends THEN e.valid_to ELSE lead(e.valid_to) OVER w END AS left_at,
         CASE WHEN e.ends THEN e.next_status ELSE lead(e.next_status) OVER w END AS next_status
    FROM edges e
   WHERE e.starts OR e.ends
  WINDOW w AS (PARTITION BY e.region_id, e.account, e.image_id ORDER BY e.version)
)
SELECT p.account, p.region_id, p.image_id, p.period, p.status, st.label AS status_label,
       p.entered_at, p.left_at,
       coalesce(p.left_at, now()) - p.entered_at AS duration,
       extract(epoch FROM coalesce(p.left_at, now()) - p.entered_at)::double precision AS duration_seconds,
       p.left_at IS NULL AS is_current,
       CASE WHEN p.left_at IS NULL THEN NULL WHEN p.next_status IS NULL THEN 'deleted' ELSE 'status_changed' END AS ended_by,
       p.next_status, nst.label AS next_status_label, p.first_version, p.last_version
  FROM periods p
  JOIN public.image_statuses st ON st.code = p.status
  LEFT JOIN public.image_statuses nst ON nst.code = p.next_status
 WHERE p.starts;
--> statement-breakpoint
CREATE VIEW "reporting"."image_failures" AS
SELECT p.account, p.region_id, p.image_id, c.name, p.status, p.status_label, p.entered_at, p.left_at,
       p.duration, p.duration_seconds, p.is_current, p.ended_by, p.next_status, p.next_status_label,
       c.status AS current_status, cst.label AS current_status_label, c.deleted_at, p.period
  FROM reporting.image_status_periods p
  JOIN public.custom_images c ON c.account = p.account AND c.image_id = p.image_id
  JOIN public.image_statuses cst ON cst.code = c.status
 WHERE p.status IN ('2', '3');
--> statement-breakpoint
CREATE VIEW "reporting"."image_share_history" AS
-- Islands of a true share flag, found like status periods (edges, then each start with its end),
-- once per flag: two ordered scans of the history instead of a sort of both flags together.
WITH periods AS (
  SELECT e.region_id, e.account, e.image_id, 'ecs'::text AS target, e.starts, e.version AS first_version, e.name,
         e.valid_from AS shared_at,
         CASE WHEN e.ends THEN e.valid_to ELSE lead(e.valid_to) OVER w END AS ended_at,
         CASE WHEN e.ends THEN e.contiguous ELSE lead(e.contiguous) OVER w END AS unshared
    FROM (
      SELECT v.region_id, v.account, v.image_id, v.version, v.name, v.valid_from, v.valid_to,
             v.in_share AND (lag(v.in_share) OVER w IS NOT TRUE OR lag(v.valid_to) OVER w IS DISTINCT FROM v.valid_from) AS starts,
             v.in_share AND (lead(v.in_share) OVER w IS NOT TRUE OR lead(v.valid_from) OVER w IS DISTINCT FROM v.valid_to) AS ends,
             lead(v.valid_from) OVER w = v.valid_to AS contiguous
        FROM public.custom_image_versions v
      WINDOW w AS (PARTITION BY v.region_id, v.account, v.image_id ORDER BY v.version)
    ) e
   WHERE e.starts OR e.ends
  WINDOW w AS (PARTITION BY e.region_id, e.account, e.image_id ORDER BY e.version)
  UNION ALL
  SELECT e.region_id, e.account, e.image_id, 'account'::text AS target, e.starts, e.version AS first_version, e.name,
         e.valid_from AS shared_at,
         CASE WHEN e.ends THEN e.valid_to ELSE lead(e.valid_to) OVER w END AS ended_at,
         CASE WHEN e.ends THEN e.contiguous ELSE lead(e.contiguous) OVER w END AS unshared
    FROM (
      SELECT v.region_id, v.account, v.image_id, v.version, v.name, v.valid_from, v.valid_to,
             v.in_share_user AND (lag(v.in_share_user) OVER w IS NOT TRUE OR lag(v.valid_to) OVER w IS DISTINCT FROM v.valid_from) AS starts,
             v.in_share_user AND (lead(v.in_share_user) OVER w IS NOT TRUE OR lead(v.valid_from) OVER w IS DISTINCT FROM v.valid_to) AS ends,
             lead(v.valid_from) OVER w = v.valid_to AS contiguous
        FROM public.custom_image_versions v
      WINDOW w AS (PARTITION BY v.region_id, v.account, v.image_id ORDER BY v.version)
    ) e
   WHERE e.starts OR e.ends
  WINDOW w AS (PARTITION BY e.region_id, e.account, e.image_id ORDER BY e.version)
)
SELECT p.account, p.region_id, p.image_id,
       p.name,
       p.target, p.shared_at, p.ended_at AS unshared_at,
       coalesce(p.ended_at, now()) - p.shared_at AS duration,
       extract(epoch FROM coalesce(p.ended_at, now()) - p.shared_at)::double precision AS duration_seconds,
       p.ended_at IS NULL AS is_current,
       CASE WHEN p.ended_at IS NULL THEN NULL WHEN p.unshared THEN 'unshared' ELSE 'deleted' END AS ended_by,
       p.first_version
  FROM periods p
 WHERE p.starts;
--> statement-breakpoint
CREATE VIEW "reporting"."inventory_by_region" AS
SELECT c.account, c.region_id, c.status, st.label AS status_label, count(*)::integer AS images,
       (count(*) FILTER (WHERE c.in_share OR c.in_share_user))::integer AS shared_images
  FROM public.custom_images c
  JOIN public.image_statuses st ON st.code = c.status
 WHERE c.deleted_at IS NULL
 GROUP BY c.account, c.region_id, c.status, st.label;
--> statement-breakpoint
CREATE VIEW "reporting"."sync_health" AS
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
-- whose heartbeat (or start) is older than 60 s was abandoned by a dead process: it counts as failed.
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
           r.status = 'running' AND coalesce(r.heartbeat_at, r.started_at) < now() - interval '60 seconds' AS abandoned
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
            OR (r.status = 'running' AND coalesce(r.heartbeat_at, r.started_at) < now() - interval '60 seconds'))
  ) fails;
--> statement-breakpoint
COMMENT ON VIEW "reporting"."current_images" IS 'Every image ever seen (one row per account and image id, deleted ones included) with its true last_seen_at: a no-op sync writes no image row, so a listed image was last seen by its region''s latest complete listing (or, when that listing held its deletion, by the complete listing before it).';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."image_versions" IS 'The SCD2 history (custom_image_versions) with status labels: one row per distinct state of an image, valid from valid_from until valid_to (exclusive; null for the current state).';
--> statement-breakpoint
COMMENT ON FUNCTION "reporting"."images_as_of"(timestamptz) IS 'The inventory at a past moment: the version of every image that was listed (not deleted) at ts, columns as reporting.image_versions. Inlined into the caller, so filters on account, region_id or image_id use the indexes.';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."image_status_periods" IS 'One row per image and status period: consecutive versions in one status form one period; a deletion ends it (a re-listed image starts a new one). The current period is open (left_at null, duration up to now()).';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."image_failures" IS 'Every entry of an image into create_failed (''3'') or unavailable (''2''): when, how long it lasted (up to now() while it lasts), what came next, and the image''s current status.';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."image_share_history" IS 'One row per period an image was shared, per target: ''ecs'' (InShare) or ''account'' (InShareUser, to other accounts); open while it lasts.';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."inventory_by_region" IS 'Counts of listed (not deleted) images per account, region and status.';
--> statement-breakpoint
COMMENT ON VIEW "reporting"."sync_health" IS 'Per account and region that has sync runs: the last full sync (watch polls excluded), the last complete one, the consecutive failures since the last run that did not fail, and staleness. A run left running with no heartbeat for 60 s was abandoned by a dead process and counts as failed.';
--> statement-breakpoint
DO $$
DECLARE
  shared_columns text[][] := ARRAY[
    ['account', 'The configured account name.'],
    ['image_id', 'The SWAS image id (ImageId), unique within an account.'],
    ['region_id', 'The region of the image (RegionId).'],
    ['name', 'Image name (Name).'],
    ['description', 'Description.'],
    ['status', 'Status code as SWAS reports it: ''0'' copying, ''1'' available, ''2'' unavailable, ''3'' create_failed, ''4'' creating.'],
    ['status_label', 'Label of status (image_statuses.label).'],
    ['in_share', 'Shared to ECS (InShare).'],
    ['in_share_user', 'Shared to other accounts (InShareUser).'],
    ['instance_id', 'The instance the image was created from.'],
    ['instance_name', 'Name of that instance.'],
    ['system_snapshot_id', 'System disk snapshot the image was created from.'],
    ['system_snapshot_name', 'Name of that snapshot.'],
    ['data_snapshot_id', 'Data disk snapshot, when the image has a data disk.'],
    ['data_snapshot_name', 'Name of that snapshot.'],
    ['resource_group_id', 'Resource group.'],
    ['os_type', 'Operating system type (OsType).'],
    ['required_system_disk_size', 'Minimum system disk size, GiB.'],
    ['required_data_disk_size', 'Minimum data disk size, GiB.'],
    ['source_image_name', 'Name of the public image the instance ran.'],
    ['source_image_version', 'Version of that public image.'],
    ['user_id', 'Owner account id (decimal text: 16 digits exceed 2^53).'],
    ['tags', 'Tags as listed: a jsonb array of {Key, Value}.'],
    ['create_instances', 'Instances created from the image: a jsonb array of ids.'],
    ['creation_time', 'When SWAS created the image (CreationTime).']
  ];
  view_name text;
  pair text[];
BEGIN
  FOREACH view_name IN ARRAY ARRAY['current_images', 'image_versions'] LOOP
    FOREACH pair SLICE 1 IN ARRAY shared_columns LOOP
      EXECUTE format('COMMENT ON COLUMN reporting.%I.%I IS %L', view_name, pair[1], pair[2]);
    END LOOP;
  END LOOP;
END $$;
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."current_images"."version" IS 'Number of the image''s current (or, once deleted, last) version in custom_image_versions.';
COMMENT ON COLUMN "reporting"."current_images"."first_seen_at" IS 'When a listing first returned the image.';
COMMENT ON COLUMN "reporting"."current_images"."last_seen_at" IS 'When a listing last returned the image: for a listed image the later of the stored time and its region''s latest complete listing that saw it; for a deleted image the stored time.';
COMMENT ON COLUMN "reporting"."current_images"."deleted_at" IS 'When a complete listing found the image gone; null while it is listed.';
COMMENT ON COLUMN "reporting"."current_images"."raw" IS 'The item as last listed, API field names, unknown fields included.';
COMMENT ON COLUMN "reporting"."current_images"."last_seen_stored_at" IS 'custom_images.last_seen_at as stored: written only when the row is written, so older than last_seen_at after no-op syncs.';
COMMENT ON COLUMN "reporting"."image_versions"."version" IS 'Version number, from 1, one per distinct consecutive state.';
COMMENT ON COLUMN "reporting"."image_versions"."valid_from" IS 'Start of the listing that first saw this state.';
COMMENT ON COLUMN "reporting"."image_versions"."valid_to" IS 'When the next state (or the deletion) was observed, exclusive; null for the current state.';
COMMENT ON COLUMN "reporting"."image_versions"."sync_run_id" IS 'The sync run (sync_runs.id) that recorded this version.';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."image_status_periods"."account" IS 'The configured account name.';
COMMENT ON COLUMN "reporting"."image_status_periods"."region_id" IS 'The region of the image.';
COMMENT ON COLUMN "reporting"."image_status_periods"."image_id" IS 'The SWAS image id.';
COMMENT ON COLUMN "reporting"."image_status_periods"."period" IS 'Number of the period within the image''s history, from 1.';
COMMENT ON COLUMN "reporting"."image_status_periods"."status" IS 'Status code of the period (''0''..''4'').';
COMMENT ON COLUMN "reporting"."image_status_periods"."status_label" IS 'Label of status.';
COMMENT ON COLUMN "reporting"."image_status_periods"."entered_at" IS 'When the image was first observed in this status (valid_from of the period''s first version).';
COMMENT ON COLUMN "reporting"."image_status_periods"."left_at" IS 'When another status or the deletion was observed; null while the period lasts.';
COMMENT ON COLUMN "reporting"."image_status_periods"."duration" IS 'left_at - entered_at; up to now() while the period lasts.';
COMMENT ON COLUMN "reporting"."image_status_periods"."duration_seconds" IS 'duration in seconds.';
COMMENT ON COLUMN "reporting"."image_status_periods"."is_current" IS 'True for the period the image is in now (a deleted image has none).';
COMMENT ON COLUMN "reporting"."image_status_periods"."ended_by" IS '''status_changed'', ''deleted'', or null while the period lasts.';
COMMENT ON COLUMN "reporting"."image_status_periods"."next_status" IS 'Status code the image moved to; null while the period lasts or when it ended by deletion.';
COMMENT ON COLUMN "reporting"."image_status_periods"."next_status_label" IS 'Label of next_status.';
COMMENT ON COLUMN "reporting"."image_status_periods"."first_version" IS 'First version of the image in this period.';
COMMENT ON COLUMN "reporting"."image_status_periods"."last_version" IS 'Last version of the image in this period (other attributes may change within a period).';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."image_failures"."account" IS 'The configured account name.';
COMMENT ON COLUMN "reporting"."image_failures"."region_id" IS 'The region of the image.';
COMMENT ON COLUMN "reporting"."image_failures"."image_id" IS 'The SWAS image id.';
COMMENT ON COLUMN "reporting"."image_failures"."name" IS 'The image''s current (or last) name.';
COMMENT ON COLUMN "reporting"."image_failures"."status" IS 'The failure: ''3'' create_failed or ''2'' unavailable.';
COMMENT ON COLUMN "reporting"."image_failures"."status_label" IS 'Label of status.';
COMMENT ON COLUMN "reporting"."image_failures"."entered_at" IS 'When the failure was first observed.';
COMMENT ON COLUMN "reporting"."image_failures"."left_at" IS 'When another status or the deletion was observed; null while the failure lasts.';
COMMENT ON COLUMN "reporting"."image_failures"."duration" IS 'How long the failure lasted; up to now() while it lasts.';
COMMENT ON COLUMN "reporting"."image_failures"."duration_seconds" IS 'duration in seconds.';
COMMENT ON COLUMN "reporting"."image_failures"."is_current" IS 'True while the image is still in this failure.';
COMMENT ON COLUMN "reporting"."image_failures"."ended_by" IS '''status_changed'', ''deleted'', or null while the failure lasts.';
COMMENT ON COLUMN "reporting"."image_failures"."next_status" IS 'Status code the image moved to (e.g. ''1'' when it recovered); null while it lasts or after a deletion.';
COMMENT ON COLUMN "reporting"."image_failures"."next_status_label" IS 'Label of next_status.';
COMMENT ON COLUMN "reporting"."image_failures"."current_status" IS 'The image''s status now (last listed status when deleted).';
COMMENT ON COLUMN "reporting"."image_failures"."current_status_label" IS 'Label of current_status.';
COMMENT ON COLUMN "reporting"."image_failures"."deleted_at" IS 'When the image was found deleted; null while it is listed.';
COMMENT ON COLUMN "reporting"."image_failures"."period" IS 'The status period of the image (reporting.image_status_periods.period).';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."image_share_history"."account" IS 'The configured account name.';
COMMENT ON COLUMN "reporting"."image_share_history"."region_id" IS 'The region of the image.';
COMMENT ON COLUMN "reporting"."image_share_history"."image_id" IS 'The SWAS image id.';
COMMENT ON COLUMN "reporting"."image_share_history"."name" IS 'The image''s name when the share began.';
COMMENT ON COLUMN "reporting"."image_share_history"."target" IS '''ecs'' (InShare: shared to ECS) or ''account'' (InShareUser: shared to other accounts).';
COMMENT ON COLUMN "reporting"."image_share_history"."shared_at" IS 'When the share was first observed.';
COMMENT ON COLUMN "reporting"."image_share_history"."unshared_at" IS 'When the unsharing or the deletion was observed; null while shared.';
COMMENT ON COLUMN "reporting"."image_share_history"."duration" IS 'How long it was shared; up to now() while it is.';
COMMENT ON COLUMN "reporting"."image_share_history"."duration_seconds" IS 'duration in seconds.';
COMMENT ON COLUMN "reporting"."image_share_history"."is_current" IS 'True while the image is shared to this target.';
COMMENT ON COLUMN "reporting"."image_share_history"."ended_by" IS '''unshared'', ''deleted'', or null while shared.';
COMMENT ON COLUMN "reporting"."image_share_history"."first_version" IS 'The version that first showed the share.';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."inventory_by_region"."account" IS 'The configured account name.';
COMMENT ON COLUMN "reporting"."inventory_by_region"."region_id" IS 'The region.';
COMMENT ON COLUMN "reporting"."inventory_by_region"."status" IS 'Status code (''0''..''4'').';
COMMENT ON COLUMN "reporting"."inventory_by_region"."status_label" IS 'Label of status.';
COMMENT ON COLUMN "reporting"."inventory_by_region"."images" IS 'Listed images in this status.';
COMMENT ON COLUMN "reporting"."inventory_by_region"."shared_images" IS 'Of those, images shared to ECS or to other accounts.';
--> statement-breakpoint
COMMENT ON COLUMN "reporting"."sync_health"."account" IS 'The configured account name.';
COMMENT ON COLUMN "reporting"."sync_health"."region_id" IS 'The region.';
COMMENT ON COLUMN "reporting"."sync_health"."state" IS '''failing'' (consecutive_failures > 0), ''ok'' (the last finished full sync did not fail), or ''pending'' (no full sync finished yet).';
COMMENT ON COLUMN "reporting"."sync_health"."consecutive_failures" IS 'Full syncs that failed (abandoned ones included) since the last one that succeeded, was partial or was superseded.';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_id" IS 'The newest full sync run (sync_runs.id).';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_trigger" IS 'Its trigger: ''schedule'' or ''manual''.';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_status" IS 'Its status; ''failed'' for a run abandoned while running.';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_abandoned" IS 'True when the newest run is left running with no heartbeat for 60 s (its process died).';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_started_at" IS 'When the newest run started (its observation instant).';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_finished_at" IS 'When it finished; null while running.';
COMMENT ON COLUMN "reporting"."sync_health"."last_run_error" IS 'Its error, when partial or failed.';
COMMENT ON COLUMN "reporting"."sync_health"."last_success_started_at" IS 'When the newest full sync that did not fail started.';
COMMENT ON COLUMN "reporting"."sync_health"."last_complete_run_id" IS 'The newest run that applied a complete listing.';
COMMENT ON COLUMN "reporting"."sync_health"."last_complete_started_at" IS 'When it started: the inventory of the region is known as of this instant.';
COMMENT ON COLUMN "reporting"."sync_health"."last_complete_finished_at" IS 'When it finished.';
COMMENT ON COLUMN "reporting"."sync_health"."staleness" IS 'now() - last_complete_started_at; null when no listing was ever complete.';
COMMENT ON COLUMN "reporting"."sync_health"."staleness_seconds" IS 'staleness in seconds.';
