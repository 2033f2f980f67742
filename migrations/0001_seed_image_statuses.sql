-- The labels of SPEC §6 `image_statuses` (codes as SWAS reports them). Idempotent, so that a
-- re-run of this migration (e.g. after its row in the migrations table was lost) is harmless.
INSERT INTO "image_statuses" ("code", "label") VALUES
	('0', 'copying'),
	('1', 'available'),
	('2', 'unavailable'),
	('3', 'create_failed'),
	('4', 'creating')
ON CONFLICT ("code") DO UPDATE SET "label" = EXCLUDED."label";
