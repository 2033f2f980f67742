CREATE TABLE "custom_image_versions" (
	"account" text NOT NULL,
	"image_id" text NOT NULL,
	"version" integer NOT NULL,
	"region_id" text NOT NULL,
	"name" text,
	"description" text,
	"status" text NOT NULL,
	"in_share" boolean DEFAULT false NOT NULL,
	"in_share_user" boolean DEFAULT false NOT NULL,
	"instance_id" text,
	"instance_name" text,
	"system_snapshot_id" text,
	"system_snapshot_name" text,
	"data_snapshot_id" text,
	"data_snapshot_name" text,
	"resource_group_id" text,
	"os_type" text,
	"required_system_disk_size" integer,
	"required_data_disk_size" integer,
	"source_image_name" text,
	"source_image_version" text,
	"user_id" text,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"create_instances" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"creation_time" timestamp (3) with time zone,
	"valid_from" timestamp (3) with time zone NOT NULL,
	"valid_to" timestamp (3) with time zone,
	"sync_run_id" uuid NOT NULL,
	CONSTRAINT "custom_image_versions_pkey" PRIMARY KEY("account","image_id","version"),
	CONSTRAINT "custom_image_versions_status_check" CHECK ("custom_image_versions"."status" in ('0', '1', '2', '3', '4')),
	CONSTRAINT "custom_image_versions_version_check" CHECK ("custom_image_versions"."version" >= 1),
	CONSTRAINT "custom_image_versions_valid_check" CHECK ("custom_image_versions"."valid_to" is null or "custom_image_versions"."valid_to" >= "custom_image_versions"."valid_from")
);
--> statement-breakpoint
CREATE TABLE "custom_images" (
	"account" text NOT NULL,
	"image_id" text NOT NULL,
	"region_id" text NOT NULL,
	"name" text,
	"description" text,
	"status" text NOT NULL,
	"in_share" boolean DEFAULT false NOT NULL,
	"in_share_user" boolean DEFAULT false NOT NULL,
	"instance_id" text,
	"instance_name" text,
	"system_snapshot_id" text,
	"system_snapshot_name" text,
	"data_snapshot_id" text,
	"data_snapshot_name" text,
	"resource_group_id" text,
	"os_type" text,
	"required_system_disk_size" integer,
	"required_data_disk_size" integer,
	"source_image_name" text,
	"source_image_version" text,
	"user_id" text,
	"tags" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"create_instances" jsonb DEFAULT '[]'::jsonb NOT NULL,
	"creation_time" timestamp (3) with time zone,
	"version" integer NOT NULL,
	"first_seen_at" timestamp (3) with time zone NOT NULL,
	"last_seen_at" timestamp (3) with time zone NOT NULL,
	"deleted_at" timestamp (3) with time zone,
	"raw" jsonb NOT NULL,
	CONSTRAINT "custom_images_pkey" PRIMARY KEY("account","image_id"),
	CONSTRAINT "custom_images_status_check" CHECK ("custom_images"."status" in ('0', '1', '2', '3', '4')),
	CONSTRAINT "custom_images_version_check" CHECK ("custom_images"."version" >= 1)
);
--> statement-breakpoint
CREATE TABLE "image_events" (
	"id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"image_id" text,
	"occurred_at" timestamp (3) with time zone NOT NULL,
	"sync_run_id" uuid NOT NULL,
	"baseline" boolean DEFAULT false NOT NULL,
	"data" jsonb NOT NULL,
	CONSTRAINT "image_events_type_check" CHECK ("image_events"."type" in ('image.created', 'image.updated', 'image.status_changed', 'image.failed', 'image.shared', 'image.unshared', 'image.deleted', 'sync.deletions_held'))
);
--> statement-breakpoint
CREATE TABLE "image_statuses" (
	"code" text PRIMARY KEY NOT NULL,
	"label" text NOT NULL,
	CONSTRAINT "image_statuses_label_key" UNIQUE("label"),
	CONSTRAINT "image_statuses_code_check" CHECK ("image_statuses"."code" in ('0', '1', '2', '3', '4'))
);
--> statement-breakpoint
CREATE TABLE "sync_runs" (
	"id" uuid PRIMARY KEY NOT NULL,
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"trigger" text NOT NULL,
	"status" text NOT NULL,
	"started_at" timestamp (3) with time zone NOT NULL,
	"finished_at" timestamp (3) with time zone,
	"api_calls" integer DEFAULT 0 NOT NULL,
	"pages" integer DEFAULT 0 NOT NULL,
	"images_seen" integer DEFAULT 0 NOT NULL,
	"created" integer DEFAULT 0 NOT NULL,
	"updated" integer DEFAULT 0 NOT NULL,
	"deleted" integer DEFAULT 0 NOT NULL,
	"events" integer DEFAULT 0 NOT NULL,
	"error" text,
	"complete" boolean DEFAULT false NOT NULL,
	CONSTRAINT "sync_runs_trigger_check" CHECK ("sync_runs"."trigger" in ('schedule', 'watch', 'manual')),
	CONSTRAINT "sync_runs_status_check" CHECK ("sync_runs"."status" in ('running', 'succeeded', 'partial', 'failed')),
	CONSTRAINT "sync_runs_finished_check" CHECK (("sync_runs"."status" = 'running') = ("sync_runs"."finished_at" is null)),
	CONSTRAINT "sync_runs_complete_check" CHECK (not "sync_runs"."complete" or "sync_runs"."status" in ('succeeded', 'partial'))
);
--> statement-breakpoint
ALTER TABLE "custom_image_versions" ADD CONSTRAINT "custom_image_versions_image_fkey" FOREIGN KEY ("account","image_id") REFERENCES "public"."custom_images"("account","image_id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "custom_image_versions" ADD CONSTRAINT "custom_image_versions_status_fkey" FOREIGN KEY ("status") REFERENCES "public"."image_statuses"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "custom_image_versions" ADD CONSTRAINT "custom_image_versions_sync_run_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "public"."sync_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "custom_images" ADD CONSTRAINT "custom_images_status_fkey" FOREIGN KEY ("status") REFERENCES "public"."image_statuses"("code") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "image_events" ADD CONSTRAINT "image_events_sync_run_fkey" FOREIGN KEY ("sync_run_id") REFERENCES "public"."sync_runs"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "custom_image_versions_current_idx" ON "custom_image_versions" USING btree ("account","image_id") WHERE "custom_image_versions"."valid_to" is null;--> statement-breakpoint
CREATE INDEX "custom_image_versions_sync_run_idx" ON "custom_image_versions" USING btree ("sync_run_id");--> statement-breakpoint
CREATE INDEX "custom_images_account_region_idx" ON "custom_images" USING btree ("account","region_id");--> statement-breakpoint
CREATE INDEX "image_events_account_region_occurred_idx" ON "image_events" USING btree ("account","region_id","occurred_at");--> statement-breakpoint
CREATE INDEX "image_events_image_idx" ON "image_events" USING btree ("image_id");--> statement-breakpoint
CREATE INDEX "image_events_type_occurred_idx" ON "image_events" USING btree ("type","occurred_at");--> statement-breakpoint
CREATE INDEX "sync_runs_account_region_started_idx" ON "sync_runs" USING btree ("account","region_id","started_at" DESC NULLS LAST);--> statement-breakpoint
CREATE INDEX "sync_runs_complete_idx" ON "sync_runs" USING btree ("account","region_id","finished_at" DESC NULLS LAST) WHERE "sync_runs"."complete";