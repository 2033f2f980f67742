-- Every sync moves last_seen_at of every listed, unchanged image: one UPDATE of the whole region.
-- last_seen_at is in no index, so each such update can be HOT (no index writes, pruned within
-- the page) provided the page has room for the new tuple versions. A row is ~1-2 kB (`raw` is
-- inline: PostgreSQL toasts only rows over ~2 kB), so leave half of each page free: a full-region
-- bump then finds room for every row's new version after pruning the previous sync's.
-- drizzle-kit does not model storage parameters, so this lives in a hand-written migration.
ALTER TABLE "custom_images" SET (fillfactor = 50);
