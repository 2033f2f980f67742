-- Every sync reads the keys of its region twice (the snapshot while it lists, then under the lock at
-- commit): id, version, deletion, observation time and hash of every image. From the table those
-- reads go through every heap page of the region (~1.4 kB a row, most of it `raw`), and a new
-- connection faults each shared-cache page in on first touch. This index carries the keys: once
-- VACUUM (autovacuum, by default) has marked the pages all-visible, both reads are index-only
-- scans of ~140 bytes an image, a tenth of the pages. It keeps the name and key columns of the
-- index it replaces; drizzle-kit does not model INCLUDE, so this lives in a hand-written migration.
DROP INDEX "custom_images_account_region_idx";--> statement-breakpoint
CREATE INDEX "custom_images_account_region_idx" ON "custom_images" USING btree ("account","region_id") INCLUDE ("image_id","version","deleted_at","last_seen_at","state_hash");
