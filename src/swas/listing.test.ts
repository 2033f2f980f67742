import { describe, expect, it } from 'vitest';
import { waitFor } from '../../test/support/wait-for.ts';
import { AppError } from '../shared/app-error.ts';
import type { KnownHashes, ListedImage, RejectedItem } from '../sync/model.ts';
import {
  MAX_PAGES,
  PAGES_BEFORE_SNAPSHOT,
  type PageReader,
  type PageRequest,
  pageCap,
  readFullListing,
  readWatchListing,
} from './listing.ts';
import { toListedImage } from './wire.ts';

const image = (id: string): ListedImage => toListedImage({ ImageId: id, Status: '1' }, 'cn-hangzhou');
const ids = (count: number, from = 0) => Array.from({ length: count }, (_, i) => `m-${from + i}`);

/**
 * A reader over a sequence of region states: `states(read, page)` gives the ids and TotalCount the
 * server holds when that page of that read is served. Records every request.
 */
function reader(state: (read: number, request: PageRequest) => { ids: string[]; totalCount?: number }) {
  const requests: PageRequest[] = [];
  let read = 0;
  const readPage: PageReader = async (request) => {
    if (request.pageNumber === 1) read++;
    requests.push(request);
    const current = state(read, request);
    const start = (request.pageNumber - 1) * request.pageSize;
    return {
      page: {
        totalCount: current.totalCount ?? current.ids.length,
        pageNumber: request.pageNumber,
        pageSize: request.pageSize,
        items: current.ids.slice(start, start + request.pageSize).map(image),
        rejected: [],
      },
      apiCalls: 1,
    };
  };
  return { readPage, requests };
}

describe('readFullListing', () => {
  it('reads 250 images in 3 pages of 100 and calls the listing complete', async () => {
    const { readPage, requests } = reader(() => ({ ids: ids(250) }));
    const listing = await readFullListing(readPage);
    expect(requests.map((r) => [r.pageNumber, r.pageSize])).toEqual([
      [1, 100],
      [2, 100],
      [3, 100],
    ]);
    expect(listing).toMatchObject({ kind: 'full', complete: true, totalCount: 250, apiCalls: 3, pages: 3 });
    expect(listing.incompleteReason).toBeUndefined();
    expect(listing.images.map((i) => i.state.imageId)).toEqual(ids(250));
  });

  it('says which requests another page is expected after, from the TotalCount seen so far', async () => {
    // Page 1 comes first and alone tells how many follow; page 3 reports a count of 2 pages.
    const { readPage, requests } = reader((_read, request) => ({
      ids: ids(400),
      totalCount: request.pageNumber >= 3 ? 200 : 400,
    }));
    await readFullListing(readPage, { maxRereads: 0 });
    expect(requests.map((r) => [r.pageNumber, r.more ?? false])).toEqual([
      [1, false],
      [2, true],
      [3, true],
    ]);
  });

  it('reads an empty region in one call, complete', async () => {
    const { readPage } = reader(() => ({ ids: [] }));
    expect(await readFullListing(readPage)).toMatchObject({
      complete: true,
      totalCount: 0,
      apiCalls: 1,
      pages: 1,
      images: [],
    });
  });

  it('re-reads a listing whose TotalCount changed between pages and accepts a stable re-read', async () => {
    // Read 1: m-0 is deleted after page 1 was served; read 2 sees 249 throughout.
    const { readPage, requests } = reader((read, request) =>
      read === 1 && request.pageNumber === 1 ? { ids: ids(250) } : { ids: ids(249, 1) },
    );
    const unstable: string[] = [];
    const listing = await readFullListing(readPage, { onUnstable: ({ reason }) => unstable.push(reason) });
    expect(unstable).toEqual(['TotalCount changed from 250 to 249 between pages 1 and 2']);
    expect(listing).toMatchObject({ complete: true, totalCount: 249, apiCalls: 6, pages: 6 });
    expect(listing.images).toHaveLength(249);
    expect(requests).toHaveLength(6);
  });

  it('gives up after the bounded re-reads with complete: false and the reason of the last read', async () => {
    const { readPage } = reader((_read, request) =>
      request.pageNumber === 1 ? { ids: ids(250) } : { ids: ids(249, 1) },
    );
    const listing = await readFullListing(readPage);
    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toBe(
      'TotalCount changed from 250 to 249 between pages 1 and 2 (still after 3 reads)',
    );
    expect(listing).toMatchObject({ apiCalls: 9, pages: 9, totalCount: 249 });
  });

  it('counts distinct ids: an image shifted onto the next page is seen twice, another is missed', async () => {
    // TotalCount stays 250, but page 2 repeats the last image of page 1 (another was added before it and one removed after).
    const { readPage } = reader((_read, request) => ({
      ids: request.pageNumber === 1 ? ids(250) : ['m-new', ...ids(248), 'm-249'].slice(0, 250),
      totalCount: 250,
    }));
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toBe('249 distinct image ids for TotalCount 250');
    expect(listing.apiCalls).toBe(3);
  });

  it('keeps the last copy of an id seen on two pages', async () => {
    let served = 0;
    const readPage: PageReader = async (request) => {
      served++;
      const items =
        request.pageNumber === 1
          ? [...ids(99).map(image), toListedImage({ ImageId: 'm-dup', Status: '4' }, 'cn-hangzhou')]
          : [toListedImage({ ImageId: 'm-dup', Status: '1' }, 'cn-hangzhou'), image('m-last')];
      return {
        page: { totalCount: 102, pageNumber: request.pageNumber, pageSize: 100, items, rejected: [] },
        apiCalls: 1,
      };
    };
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing.images.find((i) => i.state.imageId === 'm-dup')?.state.status).toBe('1');
    expect(listing.incompleteReason).toBe('101 distinct image ids for TotalCount 102');
    expect(served).toBe(2);
  });

  it('stops early on an empty page', async () => {
    const { readPage, requests } = reader((_read, request) => ({
      ids: request.pageNumber === 1 ? ids(250) : [],
      totalCount: 250,
    }));
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(requests.map((r) => r.pageNumber)).toEqual([1, 2]);
    expect(listing.incompleteReason).toBe('100 distinct image ids for TotalCount 250');
  });

  it('fails the whole listing when a page fails, adding the calls made so far', async () => {
    const readPage: PageReader = async (request) => {
      if (request.pageNumber === 2) {
        throw new AppError(
          'swas.unavailable',
          'ListCustomImages cn-hangzhou page 2: InternalError (HTTP 500)',
          {
            retryable: true,
            details: { page: 2, apiCalls: 6 },
          },
        );
      }
      return {
        page: { totalCount: 250, pageNumber: 1, pageSize: 100, items: ids(100).map(image), rejected: [] },
        apiCalls: 2,
      };
    };
    await expect(readFullListing(readPage)).rejects.toMatchObject({
      code: 'swas.unavailable',
      message: expect.stringContaining('page 2'),
      details: { page: 2, apiCalls: 8, pages: 1 },
    });
  });
});

const rejectedAt = (imageId: string | null, page: number, index: number): RejectedItem => ({
  imageId,
  page,
  index,
  field: 'RegionId',
  reason: 'listed in cn-hangzhou but says cn-beijing',
});

/** A reader serving `pages` (1-based: pages[0] is page 1) with the given TotalCount; past the end, empty pages. */
function pagesReader(totalCount: number, pages: { items: string[]; rejected?: RejectedItem[] }[]) {
  const requests: PageRequest[] = [];
  const readPage: PageReader = async (request) => {
    requests.push(request);
    const served = pages[request.pageNumber - 1] ?? { items: [] };
    return {
      page: {
        totalCount,
        pageNumber: request.pageNumber,
        pageSize: request.pageSize,
        items: served.items.map(image),
        rejected: served.rejected ?? [],
      },
      apiCalls: 1,
    };
  };
  return { readPage, requests };
}

describe('readFullListing: bounded paging', () => {
  it('allows the pages the first TotalCount implies plus a slack of max(2, 10%), at most MAX_PAGES', () => {
    expect(pageCap(0)).toBe(2);
    expect(pageCap(1)).toBe(3);
    expect(pageCap(250)).toBe(5);
    expect(pageCap(20_000)).toBe(220);
    expect(pageCap(100_000)).toBe(1_100);
    expect(pageCap(Number.MAX_SAFE_INTEGER)).toBe(MAX_PAGES);
  });

  it('stops when a page repeats the previous one (a server ignoring PageNumber), incomplete and bounded', async () => {
    const readPage: PageReader = async (request) => ({
      page: {
        totalCount: 3_500_000,
        pageNumber: 1,
        pageSize: request.pageSize,
        items: ids(100).map(image),
        rejected: [],
      },
      apiCalls: 1,
    });
    const unstable: string[] = [];
    const listing = await readFullListing(readPage, { onUnstable: ({ reason }) => unstable.push(reason) });
    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toBe(
      'page 2 repeated page 1 (the server ignores PageNumber) (still after 3 reads)',
    );
    expect(unstable).toEqual([
      'page 2 repeated page 1 (the server ignores PageNumber)',
      'page 2 repeated page 1 (the server ignores PageNumber)',
    ]);
    expect(listing).toMatchObject({ apiCalls: 6, pages: 6 });
    expect(listing.images.map((i) => i.state.imageId)).toEqual(ids(100));
  });

  it('stops at the cap when the count grows without end, naming why', async () => {
    let next = 0;
    const readPage: PageReader = async (request) => {
      next += 100;
      return {
        page: {
          // 250 on page 1 (5 pages allowed), then ever more, each page with fresh ids.
          totalCount: request.pageNumber === 1 ? 250 : 1_000_000,
          pageNumber: request.pageNumber,
          pageSize: request.pageSize,
          items: ids(100, next).map(image),
          rejected: [],
        },
        apiCalls: 1,
      };
    };
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing).toMatchObject({ complete: false, pages: 5, apiCalls: 5 });
    expect(listing.incompleteReason).toBe(
      "stopped after 5 pages, the most the first page's TotalCount allows",
    );
  });

  it('never reads more than MAX_PAGES pages, whatever TotalCount says', async () => {
    let calls = 0;
    const readPage: PageReader = async (request) => {
      calls++;
      return {
        page: {
          totalCount: 1e12,
          pageNumber: request.pageNumber,
          pageSize: request.pageSize,
          items: [image(`m-${request.pageNumber}`)],
          rejected: [],
        },
        apiCalls: 1,
      };
    };
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(calls).toBe(MAX_PAGES);
    expect(listing).toMatchObject({ complete: false, pages: MAX_PAGES });
  });
});

describe('readFullListing: rejected items', () => {
  it('collects the rejected items of every page and counts those with a usable id as listed', async () => {
    const { readPage } = pagesReader(202, [
      { items: ids(99), rejected: [rejectedAt('m-bad-1', 1, 7)] },
      { items: ids(100, 99), rejected: [rejectedAt('m-bad-2', 2, 0)] },
      { items: ['m-last'] },
    ]);
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing.complete).toBe(true);
    expect(listing.incompleteReason).toBeUndefined();
    expect(listing.images).toHaveLength(200);
    expect(listing.rejected).toEqual([rejectedAt('m-bad-1', 1, 7), rejectedAt('m-bad-2', 2, 0)]);
  });

  it('cannot call a listing complete when an item has no usable id', async () => {
    const { readPage } = pagesReader(3, [{ items: ['m-1', 'm-2'], rejected: [rejectedAt(null, 1, 2)] }]);
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing.complete).toBe(false);
    expect(listing.incompleteReason).toBe('2 distinct image ids for TotalCount 3');
    expect(listing.rejected).toEqual([rejectedAt(null, 1, 2)]);
  });

  it('does not take an id both listed and rejected twice', async () => {
    const { readPage } = pagesReader(3, [{ items: ['m-1', 'm-2'], rejected: [rejectedAt('m-1', 1, 2)] }]);
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(listing.incompleteReason).toBe('2 distinct image ids for TotalCount 3');
  });

  it('reads on past a page whose items were all rejected', async () => {
    const { readPage, requests } = pagesReader(101, [
      { items: [], rejected: ids(100).map((id, index) => rejectedAt(id, 1, index)) },
      { items: ['m-100'] },
    ]);
    const listing = await readFullListing(readPage, { maxRereads: 0 });
    expect(requests.map((r) => r.pageNumber)).toEqual([1, 2]);
    expect(listing.complete).toBe(true);
    expect(listing.rejected).toHaveLength(100);
  });

  it('returns the rejected items of the last read only', async () => {
    let read = 0;
    const readPage: PageReader = async (request) => {
      if (request.pageNumber === 1) read++;
      return {
        page: {
          totalCount: read === 1 ? 3 : 2,
          pageNumber: 1,
          pageSize: 100,
          items: [image('m-1')],
          rejected: [rejectedAt(`m-bad-${read}`, 1, 1)],
        },
        apiCalls: 1,
      };
    };
    const listing = await readFullListing(readPage);
    expect(listing.complete).toBe(true);
    expect(listing.rejected).toEqual([rejectedAt('m-bad-2', 1, 1)]);
  });
});

describe('readFullListing: images the scope already holds', () => {
  it('returns an item whose hash the scope holds as its id and hash only, still counted as listed', async () => {
    const known = new Map([
      ['m-0', image('m-0').hash],
      ['m-1', 'a hash of another state'],
    ]);
    const { readPage } = pagesReader(3, [{ items: ['m-0', 'm-1', 'm-2'] }]);
    const listing = await readFullListing(readPage, { known, maxRereads: 0 });
    expect(listing.seen).toEqual(new Map([['m-0', image('m-0').hash]]));
    expect(listing.images.map((i) => i.state.imageId)).toEqual(['m-1', 'm-2']);
    expect(listing.complete).toBe(true);
  });

  it('keeps the later copy of an id seen on two pages, whichever form it takes', async () => {
    const changed = toListedImage({ ImageId: 'm-0', Status: '4' }, 'cn-hangzhou');
    const known = new Map([['m-0', image('m-0').hash]]);
    const readPage: PageReader = async (request) => ({
      page: {
        totalCount: 101,
        pageNumber: request.pageNumber,
        pageSize: 100,
        items: request.pageNumber === 1 ? [image('m-0'), ...ids(99, 1).map(image)] : [changed],
        rejected: [],
      },
      apiCalls: 1,
    });
    const listing = await readFullListing(readPage, { known, maxRereads: 0 });
    expect(listing.seen).toEqual(new Map());
    expect(listing.images.find((i) => i.state.imageId === 'm-0')?.state.status).toBe('4');
  });
});

describe('readFullListing: a snapshot that arrives while the listing pages', () => {
  /** A snapshot promise the test resolves or rejects when it chooses. */
  function deferredSnapshot() {
    let resolve!: (known: KnownHashes) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<KnownHashes>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  }

  it('keeps paging while the snapshot is read, then keeps the unchanged items as ids and hashes', async () => {
    const all = ids(500);
    const snapshot = deferredSnapshot();
    const { readPage, requests } = reader(() => ({ ids: all }));
    let requestedBeforeSnapshot = 0;
    const tracked: PageReader = async (request) => {
      const read = await readPage(request);
      // The snapshot arrives once page 3 was served: pages 1-3 did not wait for it.
      if (request.pageNumber === 3) {
        requestedBeforeSnapshot = requests.length;
        snapshot.resolve(new Map(all.slice(0, 400).map((id) => [id, image(id).hash])));
      }
      return read;
    };
    const listing = await readFullListing(tracked, { known: snapshot.promise, maxRereads: 0 });
    expect(requestedBeforeSnapshot).toBeGreaterThanOrEqual(3);
    expect([...listing.seen.keys()].sort()).toEqual(all.slice(0, 400).sort());
    expect(listing.images.map((i) => i.state.imageId).sort()).toEqual(all.slice(400).sort());
    expect(listing.complete).toBe(true);
  });

  it(`waits for the snapshot once ${PAGES_BEFORE_SNAPSHOT} pages are held in full`, async () => {
    const all = ids((PAGES_BEFORE_SNAPSHOT + 10) * 100);
    const snapshot = deferredSnapshot();
    const { readPage, requests } = reader(() => ({ ids: all }));
    const listing = readFullListing(readPage, { known: snapshot.promise, maxRereads: 0 });
    // The listing runs as far as it goes without the snapshot (the reader answers at once): the
    // bound's pages, plus the one asked for before its items are sorted out; and no further.
    await waitFor(
      'the listing to hold its bound of pages',
      () => requests.length >= PAGES_BEFORE_SNAPSHOT + 2,
    );
    // Given 50 ms more (hundreds of turns of an idle loop), it asks for nothing more.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(requests).toHaveLength(PAGES_BEFORE_SNAPSHOT + 2);
    snapshot.resolve(new Map(all.map((id) => [id, image(id).hash])));
    const done = await listing;
    expect(requests).toHaveLength(PAGES_BEFORE_SNAPSHOT + 10);
    expect(done.images).toEqual([]);
    expect(done.seen.size).toBe(all.length);
  });

  it('fails the listing with the calls made when the snapshot fails after the last page', async () => {
    const snapshot = deferredSnapshot();
    const { readPage } = reader(() => ({ ids: ids(250) }));
    const failing: PageReader = async (request) => {
      const read = await readPage(request);
      if (request.pageNumber === 3) {
        snapshot.reject(new AppError('db.unavailable', 'the database went away', { retryable: true }));
      }
      return read;
    };
    const error = await readFullListing(failing, { known: snapshot.promise, maxRereads: 0 }).then(
      () => undefined,
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).code).toBe('db.unavailable');
    expect((error as AppError).details).toMatchObject({ apiCalls: 3, pages: 3 });
  });
});

describe('readFullListing: failures', () => {
  it('carries the calls and pages of earlier reads and pages in the failure', async () => {
    let read = 0;
    const readPage: PageReader = async (request) => {
      if (request.pageNumber === 1) read++;
      if (read === 2 && request.pageNumber === 3) {
        throw new AppError(
          'swas.unavailable',
          'ListCustomImages cn-hangzhou page 3: InternalError (HTTP 500)',
          {
            retryable: true,
            details: { page: 3, apiCalls: 6 },
          },
        );
      }
      // Read 1 is unstable (the count moves), so a second read follows.
      const totalCount = read === 1 && request.pageNumber > 1 ? 249 : 250;
      return {
        page: {
          totalCount,
          pageNumber: request.pageNumber,
          pageSize: 100,
          items: ids(100, request.pageNumber * 100).map(image),
          rejected: [],
        },
        apiCalls: 2,
      };
    };
    await expect(readFullListing(readPage)).rejects.toMatchObject({
      code: 'swas.unavailable',
      // Read 1: 3 pages of 2 calls; read 2: 2 pages of 2 calls, then 6 attempts at page 3.
      details: { page: 3, apiCalls: 6 + 4 + 6, pages: 3 + 2 },
    });
  });

  it('passes on a failure that is not an AppError untouched', async () => {
    const boom = new TypeError('socket hang up');
    const readPage: PageReader = async () => {
      throw boom;
    };
    await expect(readFullListing(readPage)).rejects.toBe(boom);
  });
});

describe('readWatchListing', () => {
  it('asks for at most 100 ids a call, de-duplicated, and is never complete', async () => {
    const wanted = [...ids(250), 'm-0', 'm-1'];
    const requests: PageRequest[] = [];
    const readPage: PageReader = async (request) => {
      requests.push(request);
      return {
        page: {
          totalCount: request.imageIds?.length ?? 0,
          pageNumber: 1,
          pageSize: 100,
          items: (request.imageIds ?? []).map(image),
          rejected: [],
        },
        apiCalls: 1,
      };
    };
    const listing = await readWatchListing(readPage, wanted);
    // `more`: another call follows, so the reader may ask for its permit early.
    expect(requests.map((r) => [r.pageNumber, r.pageSize, r.imageIds?.length, r.more])).toEqual([
      [1, 100, 100, true],
      [1, 100, 100, true],
      [1, 100, 50, false],
    ]);
    expect(listing).toMatchObject({ kind: 'watch', complete: false, totalCount: 0, apiCalls: 3, pages: 3 });
    expect(listing.images).toHaveLength(250);
  });

  it('makes no call for no ids', async () => {
    const readPage: PageReader = async () => {
      throw new Error('no call expected');
    };
    expect(await readWatchListing(readPage, [])).toMatchObject({
      images: [],
      apiCalls: 0,
      pages: 0,
      complete: false,
    });
  });

  it('collects rejected items of every call and counts the failure with the calls and pages so far', async () => {
    let call = 0;
    const readPage: PageReader = async (request) => {
      call++;
      if (call === 3) {
        throw new AppError('swas.throttled', 'ListCustomImages cn-hangzhou page 1: Throttling', {
          retryable: true,
          details: { apiCalls: 4 },
        });
      }
      const chunk = request.imageIds ?? [];
      return {
        page: {
          totalCount: chunk.length,
          pageNumber: 1,
          pageSize: 100,
          items: chunk.slice(1).map(image),
          rejected: [rejectedAt(chunk[0] ?? null, 1, 0)],
        },
        apiCalls: 1,
      };
    };
    const listing = await readWatchListing(readPage, ids(200));
    expect(listing).toMatchObject({ kind: 'watch', complete: false, apiCalls: 2, pages: 2 });
    expect(listing.images).toHaveLength(198);
    expect(listing.rejected.map((item) => item.imageId)).toEqual(['m-0', 'm-100']);
    await expect(readWatchListing(readPage, ids(150))).rejects.toMatchObject({
      code: 'swas.throttled',
      details: { apiCalls: 4, pages: 0 },
    });
  });
});

describe('readFullListing: the server works on the next page while this one is decoded', () => {
  /** Pages of 250 images whose requests go out a turn of the event loop late (the rate budget's answer). */
  const pagedReader = (events: string[], tellsWhenSent: boolean): PageReader => {
    const all = ids(250);
    return async (request) => {
      await new Promise((resolve) => setImmediate(resolve));
      events.push(`sent ${request.pageNumber}`);
      if (tellsWhenSent) request.onSent?.();
      await new Promise((resolve) => setImmediate(resolve));
      const start = (request.pageNumber - 1) * request.pageSize;
      const pageIds = all.slice(start, start + request.pageSize);
      return {
        page: {
          totalCount: all.length,
          pageNumber: request.pageNumber,
          pageSize: request.pageSize,
          itemIds: pageIds,
          get items() {
            events.push(`decoded ${request.pageNumber}`);
            return pageIds.map(image);
          },
          rejected: [],
        },
        apiCalls: 1,
      };
    };
  };

  it('decodes a page only once the next page has been sent', async () => {
    const events: string[] = [];
    const listing = await readFullListing(pagedReader(events, true), { maxRereads: 0 });
    expect(listing.complete).toBe(true);
    expect(events).toEqual(['sent 1', 'sent 2', 'decoded 1', 'sent 3', 'decoded 2', 'decoded 3']);
  });

  it('waits for the next page itself when the reader cannot tell when it was sent', async () => {
    const events: string[] = [];
    const listing = await readFullListing(pagedReader(events, false), { maxRereads: 0 });
    expect(listing.complete).toBe(true);
    expect(events).toEqual(['sent 1', 'sent 2', 'decoded 1', 'sent 3', 'decoded 2', 'decoded 3']);
  });
});
