-- Migration 0002 left half of every custom_images page free, for a sync that rewrote last_seen_at
-- of every listed image. Syncs no longer do (an unchanged image is not written at all), so the
-- free half only doubled the pages every read of a region goes through: a sync's key reads, the
-- reports, the cache. 90 keeps room for the HOT update of the occasional changed image. New pages
-- follow it at once; existing ones as rows are rewritten (or by VACUUM FULL, if wanted).
-- drizzle-kit does not model storage parameters, so this lives in a hand-written migration.
ALTER TABLE "custom_images" SET (fillfactor = 90);
