import { isAppError } from '../shared/app-error.ts';
import type { ListedImage, Listing } from '../sync/model.ts';

/**
 * Paged listings over a page reader (SPEC §5.2, §5.5): the full listing with its completeness
 * verdict and bounded re-reads, and the watch listing by image ids. No HTTP here: the client
 * passes a function that reads one page (retries included) and says how many calls it made.
 */

/** Page size of a full listing: the API's maximum (swas-api.md §2.1). */
export const LISTING_PAGE_SIZE = 100;
/** Ids per call of a watch poll: the `ImageIds` filter takes at most 100 (swas-api.md §2.1). */
export const IMAGE_IDS_PER_CALL = 100;
/** Re-reads of a full listing that changed under paging, after the first read. */
export const DEFAULT_MAX_REREADS = 2;

export interface CustomImagesPage {
  totalCount: number;
  pageNumber: number;
  pageSize: number;
  items: ListedImage[];
  requestId?: string | undefined;
}

export interface PageRequest {
  pageNumber: number;
  pageSize: number;
  imageIds?: readonly string[] | undefined;
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
  /** Told about each incomplete read that will be re-read (for logs). */
  onUnstable?: ((info: { read: number; reason: string }) => void) | undefined;
}

interface ReadResult {
  images: Map<string, ListedImage>;
  totalCount: number;
  pages: number;
  apiCalls: number;
  incompleteReason: string | undefined;
}

/** Adds the calls made so far to a page failure, so the run can still record `api_calls`. */
function withCallsSoFar(error: unknown, callsBefore: number): unknown {
  if (isAppError(error)) {
    const own = typeof error.details.apiCalls === 'number' ? error.details.apiCalls : 0;
    error.details.apiCalls = callsBefore + own;
  }
  return error;
}

/**
 * One pass over pages 1..n, n = ceil(TotalCount / pageSize) of the latest page (so a count that
 * grows mid-way is followed), stopping early on an empty page. Then the verdict of SPEC §5.2.
 */
async function readOnce(readPage: PageReader, callsBefore: number): Promise<ReadResult> {
  const images = new Map<string, ListedImage>();
  const totals: { page: number; totalCount: number }[] = [];
  let apiCalls = 0;
  let pages = 0;
  for (let pageNumber = 1; ; pageNumber++) {
    let read: PageRead;
    try {
      read = await readPage({ pageNumber, pageSize: LISTING_PAGE_SIZE });
    } catch (error) {
      throw withCallsSoFar(error, callsBefore + apiCalls);
    }
    apiCalls += read.apiCalls;
    pages++;
    totals.push({ page: pageNumber, totalCount: read.page.totalCount });
    // Duplicates across pages (an image moved under paging): the later one is the fresher.
    for (const image of read.page.items) images.set(image.state.imageId, image);
    if (read.page.items.length === 0) break;
    if (pageNumber >= Math.ceil(read.page.totalCount / LISTING_PAGE_SIZE)) break;
  }
  const totalCount = totals.at(-1)?.totalCount ?? 0;
  return { images, totalCount, pages, apiCalls, incompleteReason: verdict(totals, images.size) };
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
    const result = await readOnce(readPage, apiCalls);
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
 * A watch poll (SPEC §5.5): the given images, read with the `ImageIds` filter in calls of at most
 * {@link IMAGE_IDS_PER_CALL} ids. Never complete (a watch poll never infers deletions); an id the
 * API does not return is simply absent. Ids are de-duplicated; no ids, no calls.
 */
export async function readWatchListing(readPage: PageReader, imageIds: readonly string[]): Promise<Listing> {
  const unique = [...new Set(imageIds)];
  const images = new Map<string, ListedImage>();
  let apiCalls = 0;
  let pages = 0;
  for (let start = 0; start < unique.length; start += IMAGE_IDS_PER_CALL) {
    const chunk = unique.slice(start, start + IMAGE_IDS_PER_CALL);
    let read: PageRead;
    try {
      read = await readPage({ pageNumber: 1, pageSize: IMAGE_IDS_PER_CALL, imageIds: chunk });
    } catch (error) {
      throw withCallsSoFar(error, apiCalls);
    }
    apiCalls += read.apiCalls;
    pages++;
    for (const image of read.page.items) images.set(image.state.imageId, image);
  }
  return { kind: 'watch', images: [...images.values()], complete: false, totalCount: 0, apiCalls, pages };
}
