import { AppError } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';
import { createRandom, deriveSeed, type Random } from './random.ts';
import { type AcceptLanguage, regionLocalName } from './region-catalog.ts';
import { accountProfile, generateImage, generateRegionImages } from './seed-data.ts';
import { type ImagePatch, inListingOrder, patchImage, type SimulatorImage } from './simulator-image.ts';

export interface RegionSeed {
  regionId: string;
  /** `LocalName` in every language; default: the catalog's name, or the id for an unknown region. */
  localName?: string;
  /** How many seeded images the region starts with. */
  images: number;
}

export interface ImageStoreOptions {
  seed: number;
  regions: readonly RegionSeed[];
  /** Creation time of images added without one. */
  clock: Clock;
}

export interface RegionSummary {
  regionId: string;
  localName: string;
  imageCount: number;
}

/**
 * The simulated account's images per region. Every account the simulator knows sees the same
 * images. Stored images are replaced, never mutated, so a page being served is never changed
 * under it; readers must still not mutate what they get.
 */
export interface ImageStore {
  /** Known regions in the order they were configured or first written. */
  regions(language?: AcceptLanguage): RegionSummary[];
  /** A region's images in listing order (newest first, then by id); empty for an unknown region. */
  list(regionId: string): readonly SimulatorImage[];
  get(regionId: string, imageId: string): SimulatorImage | undefined;
  /** Adds a generated image completed by `partial`; created now unless `partial` says otherwise. */
  add(regionId: string, partial?: ImagePatch): SimulatorImage;
  update(regionId: string, imageId: string, patch: ImagePatch): SimulatorImage;
  remove(regionId: string, imageId: string): boolean;
  /**
   * Replaces a region's images: `count` seeded ones, or one generated image completed by each
   * partial, listed in the given order unless they set `CreationTime`.
   */
  setRegion(
    regionId: string,
    content: number | readonly ImagePatch[],
    options?: { localName?: string },
  ): readonly SimulatorImage[];
}

interface RegionState {
  localName: string | undefined;
  images: Map<string, SimulatorImage>;
  sorted: SimulatorImage[] | undefined;
  /**
   * Images were updated since `sorted` was built without moving in it (same `CreationTime`): the
   * next listing takes each one's current version from `images` instead of sorting again.
   */
  updatedInPlace: boolean;
  /** Draws for images added after seeding, so a fixed sequence of admin calls is reproducible. */
  random: Random;
  usedIds: Set<string>;
}

export function createImageStore(options: ImageStoreOptions): ImageStore {
  const account = accountProfile(options.seed);
  const regions = new Map<string, RegionState>();

  const newRegion = (regionId: string, localName: string | undefined): RegionState => ({
    localName,
    images: new Map(),
    sorted: undefined,
    updatedInPlace: false,
    random: createRandom(deriveSeed(options.seed, `added:${regionId}`)),
    usedIds: new Set(),
  });

  const regionFor = (regionId: string): RegionState => {
    let region = regions.get(regionId);
    if (region === undefined) {
      region = newRegion(regionId, undefined);
      regions.set(regionId, region);
    }
    return region;
  };

  const put = (region: RegionState, image: SimulatorImage) => {
    region.images.set(image.ImageId, image);
    region.usedIds.add(image.ImageId);
    region.sorted = undefined;
  };

  const build = (regionId: string, region: RegionState, partial: ImagePatch, creationTimeMs: number) => {
    if (partial.RegionId !== undefined && partial.RegionId !== regionId) {
      throw new AppError(
        'simulator.invalid_image',
        `RegionId ${String(partial.RegionId)} is not ${regionId}`,
      );
    }
    const base = generateImage(region.random, {
      regionId,
      account,
      usedIds: region.usedIds,
      creationTimeMs,
      status: typeof partial.Status === 'string' ? partial.Status : '1',
    });
    const image = patchImage(base, partial);
    if (image.ImageId !== base.ImageId && region.images.has(image.ImageId)) {
      throw new AppError('simulator.conflict', `image ${image.ImageId} already exists in ${regionId}`);
    }
    return image;
  };

  const existing = (regionId: string, imageId: string): [RegionState, SimulatorImage] => {
    const region = regions.get(regionId);
    const image = region?.images.get(imageId);
    if (region === undefined || image === undefined) {
      throw new AppError('simulator.not_found', `no image ${imageId} in region ${regionId}`);
    }
    return [region, image];
  };

  const store: ImageStore = {
    regions: (language = 'zh-CN') =>
      [...regions].map(([regionId, region]) => ({
        regionId,
        localName: regionLocalName(regionId, language, region.localName),
        imageCount: region.images.size,
      })),
    list: (regionId) => {
      const region = regions.get(regionId);
      if (region === undefined) return [];
      if (region.sorted === undefined) region.sorted = inListingOrder(region.images.values());
      else if (region.updatedInPlace) {
        // A new array, never the old one changed: a listing being served keeps what it was given.
        const { images } = region;
        region.sorted = region.sorted.map((image) => images.get(image.ImageId) ?? image);
      }
      region.updatedInPlace = false;
      return region.sorted;
    },
    get: (regionId, imageId) => regions.get(regionId)?.images.get(imageId),
    add: (regionId, partial = {}) => {
      const region = regionFor(regionId);
      const image = build(regionId, region, partial, options.clock.now());
      put(region, image);
      return image;
    },
    update: (regionId, imageId, patch) => {
      const [region, image] = existing(regionId, imageId);
      if (patch.ImageId !== undefined && patch.ImageId !== imageId) {
        throw new AppError('simulator.invalid_image', 'ImageId cannot be changed');
      }
      if (patch.RegionId !== undefined && patch.RegionId !== regionId) {
        throw new AppError('simulator.invalid_image', 'RegionId cannot be changed');
      }
      const updated = patchImage(image, patch);
      if (updated.CreationTime === image.CreationTime) {
        region.images.set(imageId, updated);
        region.updatedInPlace = true;
      } else put(region, updated);
      return updated;
    },
    remove: (regionId, imageId) => {
      const region = regions.get(regionId);
      if (region === undefined || !region.images.delete(imageId)) return false;
      region.sorted = undefined;
      return true;
    },
    setRegion: (regionId, content, setOptions = {}) => {
      const previous = regions.get(regionId);
      const region = newRegion(regionId, setOptions.localName ?? previous?.localName);
      if (typeof content === 'number') {
        if (!Number.isInteger(content) || content < 0) {
          throw new AppError(
            'simulator.invalid_image',
            `image count must be a non-negative integer, not ${content}`,
          );
        }
        for (const image of generateRegionImages(options.seed, regionId, content)) put(region, image);
      } else {
        const now = options.clock.now();
        content.forEach((partial, i) => {
          const image = build(regionId, region, partial, now - i * 1000);
          if (region.images.has(image.ImageId)) {
            throw new AppError('simulator.conflict', `image ${image.ImageId} given twice for ${regionId}`);
          }
          put(region, image);
        });
      }
      regions.set(regionId, region);
      return store.list(regionId);
    },
  };

  for (const seedRegion of options.regions) {
    store.setRegion(seedRegion.regionId, seedRegion.images, { localName: seedRegion.localName });
  }
  return store;
}
