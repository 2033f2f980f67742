import { isAppError, numberDetail } from '../shared/app-error.ts';
import type { KnownHashes, ListedImage, Listing, RejectedItem } from '../sync/model.ts';

/**
 * Paged listings over a page reader: the full listing with its completeness
 * verdict and bounded re-reads, and the watch listing by image ids. No HTTP here: the client
 * passes a function that reads one page (retries included) and says how many calls it made.
 */

/** Page size of a full listing: the API's maximum. */
export const LISTING_PAGE_SIZE = 100;
/** Ids per call of a watch poll: the `ImageIds` filter takes at most 100. */
export const IMAGE_IDS_PER_CALL = 100;
/** Re-reads of a full listing that changed under paging, after the first read. */
export const DEFAULT_MAX_REREADS = 2;
/**
 * Pages one read may take beyond what the first page's `TotalCount` implies (a count that grows
 * mid-way is followed that far), and an absolute cap: a server that ignores `PageNumber` and
 * reports a huge count ends with an incomplete listing, not weeks of paging at the quota.
 */
export const PAGE_SLACK = { pages: 2, share: 0.1 } as const;
export const MAX_PAGES = 10_000;

export interface CustomImagesPage {
  totalCount: number;
  pageNumber: number;
  pageSize: number;
  /** May be decoded on first read (the client's pages are), after the next request went out. */
  readonly items: ListedImage[];
  /** Items left out (failed validation or cannot be stored), with their page position. */
  readonly rejected: RejectedItem[];
  /**
   * The `ImageId` of every item as listed, in page order, known before the items are decoded;
   * absent, the ids of `items` then `rejected` stand for them.
   */
  itemIds?: readonly unknown[] | undefined;
  requestId?: string | undefined;
}

export interface PageRequest {
  pageNumber: number;
  pageSize: number;
  imageIds?: readonly string[] | undefined;
  /** Called once the request has gone out (its first attempt), if the reader can tell. */
  onSent?: (() => void) | undefined;
  /**
   * Another page is expected after this one: the reader may get ready for it while this one is
   * on its way (ask the rate budget early), so no round trip of its own sits between two pages.
   */
  more?: boolean | undefined;
}

export interface PageRead {
  page: CustomImagesPage;
  /** HTTP attempts this page took (retries included). */
  apiCalls: number;
}

/**
 * Reads one page, retrying as it sees fit. A failure is an AppError whose `details.apiCalls`
 * (when set) counts the attempts it made.
 */
export type PageReader = (request: PageRequest) => Promise<PageRead>;

export interface FullListingOptions {
  /** Re-reads after an incomplete read (default {@link DEFAULT_MAX_REREADS}). */
  maxRereads?: number | undefined;
  /**
   * What the scope stored when the sync began: an item whose hash matches is kept as its id and
   * hash (`Listing.seen`) instead of in full, so an unchanged listing stays small.
   */
  known?: KnownHashes | Promise<KnownHashes> | undefined;
  /** Told about each incomplete read that will be re-read (for logs). */
  onUnstable?: ((info: { read: number; reason: string }) => void) | undefined;
}

interface ReadResult {
  images: Map<string, ListedImage>;
  seen: Map<string, string>;
  rejected: RejectedItem[];
  totalCount: number;
  pages: number;
  apiCalls: number;
  incompleteReason: string | undefined;
}

const ignore = () => undefined;

/** Adds the calls and pages made so far to a page failure, so the run can still record them. */
function withCallsSoFar(error: unknown, callsBefore: number, pagesBefore = 0): unknown {
  if (isAppError(error)) {
    error.details.apiCalls = callsBefore + numberDetail(error, 'apiCalls');
    error.details.pages = pagesBefore + numberDetail(error, 'pages');
  }
  return error;
}

/** The page bound of a read whose first page reported `totalCount`. */
export function pageCap(totalCount: number): number {
  const expected = Math.ceil(totalCount / LISTING_PAGE_SIZE);
  return Math.min(MAX_PAGES, expected + Math.max(PAGE_SLACK.pages, Math.ceil(expected * PAGE_SLACK.share)));
}

const idsOf = (page: CustomImagesPage): readonly unknown[] =>
  page.itemIds ?? [
    ...page.items.map((image) => image.state.imageId),
    ...page.rejected.map((item) => item.imageId),
  ];

const sameIds = (a: readonly unknown[], b: readonly unknown[]): boolean =>
  a.length === b.length && a.every((id, index) => id === b[index]);

/**
 * Pages whose items a read keeps in full while the scope's snapshot is still being read (on a
 * fresh database connection that read can take longer than the first pages): a bound on what
 * waiting for it costs in memory, ~100 items a page.
 */
export const PAGES_BEFORE_SNAPSHOT = 20;

/**
 * Keeps a listed image as its id and hash when the scope's snapshot holds that hash, else in full.
 * An id listed twice (an image moved under paging) keeps its later copy, the fresher one.
 */
function place(
  image: ListedImage,
  known: KnownHashes | undefined,
  images: Map<string, ListedImage>,
  seen: Map<string, string>,
): void {
  const imageId = image.state.imageId;
  const knownHash = known?.get(imageId);
  if (knownHash === image.hash) {
    images.delete(imageId);
    // The snapshot's string, not the listing's equal copy: 100,000 of them add up.
    seen.set(imageId, knownHash);
  } else {
    seen.delete(imageId);
    images.set(imageId, image);
  }
}

/**
 * One pass over pages 1..n, n = ceil(TotalCount / pageSize) of the latest page (so a count that
 * grows mid-way is followed, up to {@link pageCap} of the first page's count), stopping early on
 * an empty page or on a page that repeats the one before (a server ignoring `PageNumber`). Then
 * the completeness verdict, where a rejected item with a usable id counts as listed.
 */
async function readOnce(
  readPage: PageReader,
  callsBefore: number,
  pagesBefore: number,
  pendingKnown: KnownHashes | Promise<KnownHashes> | undefined,
): Promise<ReadResult> {
  const images = new Map<string, ListedImage>();
  const seen = new Map<string, string>();
  const rejected: RejectedItem[] = [];
  const totals: { page: number; totalCount: number }[] = [];
  let apiCalls = 0;
  let pages = 0;
  let cap = MAX_PAGES;
  let previous: readonly unknown[] = [];
  let stopped: string | undefined;
  let next: Promise<PageRead> | undefined;
  const fail = (error: unknown) => withCallsSoFar(error, callsBefore + apiCalls, pagesBefore + pages);
  // The scope's snapshot is read while the first pages are: until it arrives their items are kept
  // in full, for a bounded number of pages, then sorted out at once.
  let known: KnownHashes | undefined = pendingKnown instanceof Promise ? undefined : pendingKnown;
  let snapshotFailure: { cause: unknown } | undefined;
  const arrival =
    pendingKnown instanceof Promise
      ? pendingKnown.then(
          (value) => {
            known = value;
          },
          (cause: unknown) => {
            snapshotFailure = { cause };
          },
        )
      : undefined;
  let keptWithoutSnapshot = false;
  /** Waits for the snapshot if `wait`; a failed one fails the listing; sorts out what it finds kept in full. */
  const catchUp = async (wait: boolean) => {
    if (wait) await arrival;
    if (snapshotFailure !== undefined) {
      // The next page has been asked for by now: its calls count too, once it is back.
      if (next !== undefined) {
        try {
          const read = await next;
          apiCalls += read.apiCalls;
          pages++;
        } catch (error) {
          // The HTTP attempts the failed read says it made.
          apiCalls += numberDetail(error, 'apiCalls');
        }
        next = undefined;
      }
      throw fail(snapshotFailure.cause);
    }
    if (known !== undefined && keptWithoutSnapshot) {
      for (const image of images.values()) place(image, known, images, seen);
      keptWithoutSnapshot = false;
    }
  };
  for (let pageNumber = 1; ; pageNumber++) {
    let read: PageRead;
    try {
      read = await (next ?? readPage({ pageNumber, pageSize: LISTING_PAGE_SIZE }));
    } catch (error) {
      throw fail(error);
    }
    next = undefined;
    apiCalls += read.apiCalls;
    pages++;
    const { page } = read;
    if (pageNumber === 1) cap = pageCap(page.totalCount);
    totals.push({ page: pageNumber, totalCount: page.totalCount });
    const ids = idsOf(page);
    const repeated = pageNumber > 1 && ids.length > 0 && sameIds(ids, previous);
    const last =
      repeated ||
      ids.length === 0 ||
      pageNumber >= Math.ceil(page.totalCount / LISTING_PAGE_SIZE) ||
      pageNumber >= cap;
    // The next page is asked for before this one's items are decoded, so that decoding overlaps
    // the request instead of leaving the connection idle. Exactly the pages a sequential read
    // would ask for: each decision above needs only the envelope and the listed ids.
    if (!last) {
      const sent = Promise.withResolvers<void>();
      const expected = Math.min(cap, Math.ceil(page.totalCount / LISTING_PAGE_SIZE));
      next = readPage({
        pageNumber: pageNumber + 1,
        pageSize: LISTING_PAGE_SIZE,
        onSent: sent.resolve,
        more: pageNumber + 1 < expected,
      });
      next.catch(ignore);
      // This page is decoded while the server prepares the next one, not before it is asked for:
      // the request may still wait for the rate budget's answer (no permit asked for ahead, or a
      // full window), which this process reads only when idle.
      await Promise.race([sent.promise, next.then(ignore, ignore)]);
    }
    if (repeated) {
      stopped = `page ${pageNumber} repeated page ${pageNumber - 1} (the server ignores PageNumber)`;
      break;
    }
    previous = ids;
    await catchUp(pageNumber > PAGES_BEFORE_SNAPSHOT);
    keptWithoutSnapshot ||= known === undefined;
    for (const image of page.items) place(image, known, images, seen);
    rejected.push(...page.rejected);
    if (ids.length === 0) break;
    if (pageNumber >= Math.ceil(page.totalCount / LISTING_PAGE_SIZE)) break;
    if (pageNumber >= cap) {
      stopped = `stopped after ${pageNumber} pages, the most the first page's TotalCount allows`;
      break;
    }
  }
  // A snapshot that fails fails the listing, even one that was never needed.
  await catchUp(true);
  const totalCount = totals.at(-1)?.totalCount ?? 0;
  // place() keeps an id in one of the two maps, never both: only rejected ids need a set.
  const rejectedOnly = new Set<string>();
  for (const { imageId } of rejected) {
    if (imageId !== null && !images.has(imageId) && !seen.has(imageId)) rejectedOnly.add(imageId);
  }
  return {
    images,
    seen,
    rejected,
    totalCount,
    pages,
    apiCalls,
    incompleteReason: stopped ?? verdict(totals, images.size + seen.size + rejectedOnly.size),
  };
}

/** Why a read is not complete, or undefined when it is. */
function verdict(
  totals: readonly { page: number; totalCount: number }[],
  distinct: number,
): string | undefined {
  for (let i = 1; i < totals.length; i++) {
    const before = totals[i - 1];
    const after = totals[i];
    if (before && after && before.totalCount !== after.totalCount) {
      return `TotalCount changed from ${before.totalCount} to ${after.totalCount} between pages ${before.page} and ${after.page}`;
    }
  }
  const totalCount = totals.at(-1)?.totalCount ?? 0;
  if (distinct !== totalCount) return `${distinct} distinct image ids for TotalCount ${totalCount}`;
  return undefined;
}

/**
 * The full listing of a region. Complete iff every page succeeded, every page reported the same
 * `TotalCount` and the distinct `ImageId`s number exactly that. An incomplete read is re-read up to
 * `maxRereads` times; if none is complete, the last read is returned with `complete: false` and
 * the reason. A page that fails (after its retries) fails the whole listing. `apiCalls` and
 * `pages` add up every read, re-reads included.
 */
export async function readFullListing(
  readPage: PageReader,
  options: FullListingOptions = {},
): Promise<Listing> {
  const maxRereads = Math.max(0, options.maxRereads ?? DEFAULT_MAX_REREADS);
  let apiCalls = 0;
  let pages = 0;
  for (let read = 1; ; read++) {
    const result = await readOnce(readPage, apiCalls, pages, options.known);
    apiCalls += result.apiCalls;
    pages += result.pages;
    const lastRead = read > maxRereads;
    if (result.incompleteReason !== undefined && !lastRead) {
      options.onUnstable?.({ read, reason: result.incompleteReason });
      continue;
    }
    return {
      kind: 'full',
      images: [...result.images.values()],
      seen: result.seen,
      rejected: result.rejected,
      complete: result.incompleteReason === undefined,
      incompleteReason:
        result.incompleteReason === undefined
          ? undefined
          : read > 1
            ? `${result.incompleteReason} (still after ${read} reads)`
            : result.incompleteReason,
      totalCount: result.totalCount,
      apiCalls,
      pages,
    };
  }
}

/**
 * A watch poll: the given images, read with the `ImageIds` filter in calls of at most
 * {@link IMAGE_IDS_PER_CALL} ids. Never complete (a watch poll never infers deletions); an id the
 * API does not return is simply absent. Ids are de-duplicated; no ids, no calls.
 */
export async function readWatchListing(readPage: PageReader, imageIds: readonly string[]): Promise<Listing> {
  const unique = [...new Set(imageIds)];
  const images = new Map<string, ListedImage>();
  const rejected: RejectedItem[] = [];
  let apiCalls = 0;
  let pages = 0;
  for (let start = 0; start < unique.length; start += IMAGE_IDS_PER_CALL) {
    const chunk = unique.slice(start, start + IMAGE_IDS_PER_CALL);
    let read: PageRead;
    try {
      read = await readPage({
        pageNumber: 1,
        pageSize: IMAGE_IDS_PER_CALL,
        imageIds: chunk,
        more: start + IMAGE_IDS_PER_CALL < unique.length,
      });
    } catch (error) {
      throw withCallsSoFar(error, apiCalls, pages);
    }
    apiCalls += read.apiCalls;
    pages++;
    for (const image of read.page.items) images.set(image.state.imageId, image);
    rejected.push(...read.page.rejected);
  }
  return {
    kind: 'watch',
    images: [...images.values()],
    seen: new Map(),
    rejected,
    complete: false,
    totalCount: 0,
    apiCalls,
    pages,
  };
}
