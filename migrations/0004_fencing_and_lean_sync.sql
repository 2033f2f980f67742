ALTER TABLE "sync_runs" DROP CONSTRAINT "sync_runs_status_check";--> statement-breakpoint
DROP INDEX "sync_runs_complete_idx";--> statement-breakpoint
ALTER TABLE "custom_images" ALTER COLUMN "state_hash" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "custom_images" ALTER COLUMN "state_hash" DROP EXPRESSION;--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "held_image_ids" text[];--> statement-breakpoint
ALTER TABLE "sync_runs" ADD COLUMN "heartbeat_at" timestamp (3) with time zone;--> statement-breakpoint
CREATE INDEX "sync_runs_complete_started_idx" ON "sync_runs" USING btree ("account","region_id","started_at" DESC NULLS LAST) WHERE "sync_runs"."complete";--> statement-breakpoint
CREATE INDEX "sync_runs_running_idx" ON "sync_runs" USING btree ("heartbeat_at") WHERE "sync_runs"."status" = 'running';--> statement-breakpoint
ALTER TABLE "sync_runs" ADD CONSTRAINT "sync_runs_status_check" CHECK ("sync_runs"."status" in ('running', 'succeeded', 'partial', 'failed', 'superseded'));--> statement-breakpoint
-- The hash is now the listing side's canonical content hash (src/sync/state-hash.ts), not an md5
-- kept by PostgreSQL: old values mean nothing to it. A null hash is compared in full once and rewritten.
UPDATE "custom_images" SET "state_hash" = NULL;--> statement-breakpoint
-- Held deletions moved from the public event payload to the run that held them.
UPDATE "sync_runs" r SET "held_image_ids" = ARRAY(
  SELECT jsonb_array_elements_text(e.data -> 'imageIds') FROM "image_events" e
  WHERE e.sync_run_id = r.id AND e.type = 'sync.deletions_held' LIMIT 1
) WHERE r.complete AND EXISTS (
  SELECT 1 FROM "image_events" e WHERE e.sync_run_id = r.id AND e.type = 'sync.deletions_held'
);
