import type { ImageState, ImageStatus, ListedImage, Listing } from '../src/sync/model.ts';
import { stateHash } from '../src/sync/state-hash.ts';

/** What one changed listing holds beyond the previous one. */
export interface ChangeRound {
  listing: Listing;
  modified: number;
  added: number;
  removed: number;
}

/**
 * Derives the next listing from `previous` the way a busy region moves between two syncs:
 * `modified` images change (a third each: status, name, ECS share), `added` new images appear
 * (status creating) and `removed` disappear. Changes accumulate from round to round, so every
 * round differs from the state the previous one left, and only by these images. Deterministic.
 */
export function nextChangedListing(
  previous: Listing,
  round: number,
  counts: { modified: number; added: number; removed: number },
): ChangeRound {
  const images = [...previous.images];
  const n = images.length;
  const touched = new Set<number>();
  // 97 is prime to any region size used here, so the picks of one round are distinct.
  for (let j = 0; j < counts.modified; j++) {
    const index = (round * 1009 + j * 97) % n;
    touched.add(index);
    const image = images[index] as ListedImage;
    images[index] = modify(image, j % 3, round, j);
  }
  const removedIds = new Set<string>();
  for (let index = (round * 31) % n; removedIds.size < counts.removed; index = (index + 89) % n) {
    if (!touched.has(index)) removedIds.add((images[index] as ListedImage).state.imageId);
  }
  const kept = images.filter((image) => !removedIds.has(image.state.imageId));
  for (let j = 0; j < counts.added; j++) {
    const template = kept[(round * 13 + j) % kept.length] as ListedImage;
    const imageId = `m-bench${round.toString(36)}${j.toString(36).padStart(4, '0')}`;
    kept.unshift(
      patch(
        template,
        { imageId, status: '4', name: `bench-new-${round}-${j}` },
        {
          ImageId: imageId,
          Status: '4',
          Name: `bench-new-${round}-${j}`,
        },
      ),
    );
  }
  return {
    listing: { ...previous, images: kept, totalCount: kept.length },
    modified: counts.modified,
    added: counts.added,
    removed: removedIds.size,
  };
}

function modify(image: ListedImage, kind: number, round: number, j: number): ListedImage {
  const { state } = image;
  switch (kind) {
    case 0: {
      // Mostly available <-> unavailable, now and then a creation failure.
      const status: ImageStatus =
        j % 10 === 0 && state.status !== '3' ? '3' : state.status === '1' ? '2' : '1';
      return patch(image, { status }, { Status: status });
    }
    case 1: {
      const name = `${(state.name ?? 'image').replace(/~r\d+$/, '')}~r${round}`;
      return patch(image, { name }, { Name: name });
    }
    default:
      return patch(image, { inShare: !state.inShare }, { InShare: !state.inShare });
  }
}

function patch(image: ListedImage, state: Partial<ImageState>, raw: Record<string, unknown>): ListedImage {
  const next = { ...image.state, ...state };
  return { state: next, raw: { ...image.raw, ...raw }, hash: stateHash(next) };
}
