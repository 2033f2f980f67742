/**
 * The domain of a region sync.
 *
 * Glossary
 * - **scope**: one (account, region) pair; the unit of a sync, of its lock and of its baseline.
 * - **listing**: every image one ListCustomImages paging (or one watch poll) returned for a scope.
 * - **complete listing**: every page succeeded, every page reported the same `TotalCount`, and the
 *   number of distinct image ids equals it. Only a complete listing may delete.
 * - **state**: the versioned attributes of an image (the columns of `custom_image_versions`).
 * - **version**: one distinct consecutive state of an image, numbered from 1; SCD2 rows carry
 *   `valid_from`/`valid_to`, the current one has `valid_to = null`.
 * - **event**: a change worth telling someone about, written to `image_events` in the
 *   same transaction as the state it describes (the outbox).
 * - **baseline**: the events of a scope's first complete sync: one `image.created` per image,
 *   flagged `baseline = true`, and nothing else; webhooks skip them unless asked. Incomplete
 *   listings before it do the same for the images they bring, while a change to an image one of
 *   them stored is a real change with its usual, non-baseline events.
 * - **delivery**: one event sent to one webhook endpoint, with its attempts.
 * - **deletion brake**: a listing that would delete more than `SYNC_DELETE_BRAKE` of a scope of at
 *   least 10 images holds its deletions until the next complete listing confirms them.
 *
 * This folder is pure: it imports only `shared`, returns data, and never logs, queries or fetches.
 */
import type { EventType } from '../shared/event-types.ts';

export const IMAGE_STATUSES = {
  '0': 'copying',
  '1': 'available',
  '2': 'unavailable',
  '3': 'create_failed',
  '4': 'creating',
} as const;

export type ImageStatus = keyof typeof IMAGE_STATUSES;
export type ImageStatusLabel = (typeof IMAGE_STATUSES)[ImageStatus];

export const isImageStatus = (value: string): value is ImageStatus => Object.hasOwn(IMAGE_STATUSES, value);

export interface ImageTag {
  Key: string;
  Value: string;
}

/**
 * The versioned attributes of an image, normalised from the API item.
 * Absent strings are `null`; `creationTime` is ISO 8601 UTC; `userId` is decimal text because
 * account ids have 16 digits and may exceed 2^53.
 */
export interface ImageState {
  imageId: string;
  regionId: string;
  name: string | null;
  description: string | null;
  status: ImageStatus;
  inShare: boolean;
  inShareUser: boolean;
  instanceId: string | null;
  instanceName: string | null;
  systemSnapshotId: string | null;
  systemSnapshotName: string | null;
  dataSnapshotId: string | null;
  dataSnapshotName: string | null;
  resourceGroupId: string | null;
  osType: string | null;
  requiredSystemDiskSize: number | null;
  requiredDataDiskSize: number | null;
  sourceImageName: string | null;
  sourceImageVersion: string | null;
  userId: string | null;
  tags: ImageTag[];
  createInstances: string[];
  creationTime: string | null;
}

/** Attribute names of {@link ImageState} other than the key, in column order. */
export type ImageAttribute = Exclude<keyof ImageState, 'imageId'>;

/** One image as a listing returned it: its normalised state and the item exactly as listed. */
export interface ListedImage {
  state: ImageState;
  /** The API item, every field kept, unknown ones included (the `raw` column). */
  raw: Record<string, unknown>;
  /** {@link stateHash} of `state`: what the row stores and the next sync compares. */
  hash: string;
}

/**
 * An item of a listing left out because it failed validation or cannot be stored. With
 * a usable `imageId` it still counts as listed: it is neither written nor deleted.
 */
export interface RejectedItem {
  /** The item's `ImageId` when usable, else null (then the listing cannot be complete). */
  imageId: string | null;
  /** Page number and position on the page (from 0). */
  page: number;
  index: number;
  /** API field name (`RegionId`, `Tags[2].Key`, …) or `ImageId`. */
  field: string;
  reason: string;
}

export interface Scope {
  /** The configured account name (not the cloud account id). */
  account: string;
  regionId: string;
}

export type ListingKind = 'full' | 'watch';

/** What the scope stored when a sync began: live image id → content hash (a snapshot). */
export type KnownHashes = ReadonlyMap<string, string>;

export interface Listing {
  kind: ListingKind;
  images: ListedImage[];
  /**
   * Images read and found equal to the snapshot of {@link KnownHashes}, image id → hash: their hash
   * matched what the scope stored when the sync began, so only the id and hash travel to the
   * commit (memory stays flat). No id is both here and in `images`.
   */
  seen: ReadonlyMap<string, string>;
  /** Items left out (validation or storage limits); the rest of the listing is applied. */
  rejected: RejectedItem[];
  /**
   * See the glossary above; rejected items with a usable id count as listed; always false for a watch poll,
   * which never infers deletions.
   */
  complete: boolean;
  /** Why the listing is not complete (for the run's `error` and logs), when it is not. */
  incompleteReason?: string | undefined;
  /** `TotalCount` the API reported (last page) — 0 for a watch poll. */
  totalCount: number;
  apiCalls: number;
  pages: number;
}

/**
 * An image as the database holds it for the scope: the keys read for every image of the scope at
 * commit, and its full state only where the plan needs it (the hash moved, or it is deleted).
 */
export interface StoredImage {
  imageId: string;
  /** Current version number (≥ 1). */
  version: number;
  /** Epoch ms when it was found deleted, or null while listed. */
  deletedAt: number | null;
  /**
   * Epoch ms of the newest observation the row itself records (its last write or deletion). The
   * scope's latest complete listing observed it too: see {@link RegionState.lastCompleteAt}.
   */
  observedAt: number;
  /** The stored content hash; null on rows written before hashes were stored. */
  hash: string | null;
  /** Decoded on demand ({@link statesNeeded}); absent otherwise. */
  state?: ImageState | undefined;
}

export type RunTrigger = 'schedule' | 'watch' | 'manual';
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'superseded';

/** An event as planned, before it is written to `image_events`. */
export interface PlannedEvent {
  /** UUID v7 from the injected id source. */
  id: string;
  type: EventType;
  imageId: string | null;
  /** Epoch ms. */
  occurredAt: number;
  baseline: boolean;
  /** The `data` column: the common part plus the type's own fields. */
  data: Record<string, unknown>;
}

/** What the database holds for a scope at commit (read inside the scope's lock). */
export interface RegionState {
  stored: StoredImage[];
  /** True until the scope has had a complete full listing: arriving images get baseline events only. */
  baseline: boolean;
  /** Ids whose deletion the scope's latest complete listing held with the brake (else empty). */
  heldDeletions: string[];
  /**
   * Epoch ms when the scope's newest committed complete full listing began (by start, not by
   * commit), or null: that listing observed every image of the scope.
   */
  lastCompleteAt: number | null;
  /** Listed ids that are not stored here but under another region of the account → that region. */
  elsewhere: ReadonlyMap<string, string>;
}

export interface PlanInput {
  scope: Scope;
  listing: Listing;
  region: RegionState;
  /** Share of the scope's live images above which deletions are held, in (0, 1]; 1 disables it. */
  deleteBrake: number;
  /**
   * Epoch ms when the listing began (the run's start, database clock): its observation instant,
   * used for fencing and as `valid_from`/`valid_to`/`occurred_at`/`last_seen_at`/`deleted_at`.
   */
  observedAt: number;
  /** Source of event ids (UUID v7). */
  newId: () => string;
}

/** A row to insert into or update in `custom_images`, with its new current version. */
export interface ImageWrite {
  state: ImageState;
  raw: Record<string, unknown>;
  hash: string;
  /** The version this state becomes (1 for a new image). */
  version: number;
  /** True when the image has no `custom_images` row yet. */
  isNew: boolean;
}

export type PlanStatus = 'succeeded' | 'partial' | 'superseded';

/** Everything one sync writes, computed purely from {@link PlanInput}; empty for an unchanged listing. */
export interface SyncPlan {
  /** New images and images whose state changed (or that were listed again after a deletion). */
  writes: ImageWrite[];
  /**
   * Unchanged images a listing that is not complete (a watch poll, an unstable or partial full
   * listing) returned: their observation (`last_seen_at`) is recorded, so an older listing cannot
   * revert them. A complete listing's observation is its start, recorded on its run.
   */
  touches: string[];
  /** Rows whose stored hash was missing or stale for an unchanged state: only the hash is written. */
  rehashes: { imageId: string; hash: string }[];
  /** Current versions to close (`valid_to = observedAt`): changed and deleted images. */
  closeVersions: { imageId: string; version: number }[];
  /** Images found deleted: `deleted_at = observedAt`, their version closed (in `closeVersions` too). */
  deletions: { imageId: string; version: number }[];
  events: PlannedEvent[];
  /** Deletions held by the brake, when it engaged. */
  held: { count: number; total: number; imageIds: string[] } | null;
  counts: { imagesSeen: number; created: number; updated: number; deleted: number; events: number };
  /** Changes not applied because the row records a newer observation (fencing). */
  fenced: number;
  /**
   * Images kept only as a hash whose row a concurrent sync changed after this one began: what
   * this listing saw of them cannot be written, so the run is partial and not complete.
   */
  unresolved: number;
  status: PlanStatus;
  /** True when this run applied a complete full listing: it ends the baseline, becomes `lastCompleteAt`. */
  complete: boolean;
  /** Why the run is `partial` or `superseded` (the run's `error` column), else null. */
  reason: string | null;
}
