CREATE INDEX "custom_image_versions_image_idx" ON "custom_image_versions" USING btree ("image_id","version");--> statement-breakpoint
CREATE INDEX "custom_images_image_idx" ON "custom_images" USING btree ("image_id");--> statement-breakpoint
CREATE INDEX "image_events_occurred_idx" ON "image_events" USING btree ("occurred_at");