-- A scope's write generation: bumped by every commit that writes the scope's image rows, so that a
-- sync can check, under the scope's lock, that the keys it read before listing are still current
-- instead of reading the whole region again.
CREATE TABLE "sync_scopes" (
	"account" text NOT NULL,
	"region_id" text NOT NULL,
	"generation" bigint NOT NULL,
	CONSTRAINT "sync_scopes_pkey" PRIMARY KEY("account","region_id")
);
