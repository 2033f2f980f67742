import { describe, expect, it } from 'vitest';
import { AppError } from '../shared/app-error.ts';
import type { ListedImage } from '../sync/model.ts';
import { type PageReader, type PageRequest, readFullListing, readWatchListing } from './listing.ts';
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
      return { page: { totalCount: 102, pageNumber: request.pageNumber, pageSize: 100, items }, apiCalls: 1 };
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
        page: { totalCount: 250, pageNumber: 1, pageSize: 100, items: ids(100).map(image) },
        apiCalls: 2,
      };
    };
    await expect(readFullListing(readPage)).rejects.toMatchObject({
      code: 'swas.unavailable',
      message: expect.stringContaining('page 2'),
      details: { page: 2, apiCalls: 8 },
    });
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
        },
        apiCalls: 1,
      };
    };
    const listing = await readWatchListing(readPage, wanted);
    expect(requests.map((r) => [r.pageNumber, r.pageSize, r.imageIds?.length])).toEqual([
      [1, 100, 100],
      [1, 100, 100],
      [1, 100, 50],
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
});
