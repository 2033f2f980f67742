import type { CallLog, CallRecord } from './call-log.ts';
import type { ActiveFault, Fault, FaultRegistry } from './faults.ts';
import type { ImageStore, RegionSummary } from './image-store.ts';
import type { Quota } from './quota.ts';
import type { AcceptLanguage } from './region-catalog.ts';
import type { ImagePatch, SimulatorImage } from './simulator-image.ts';

/**
 * Changes the simulated account and watches the simulator, in-process. The HTTP admin API
 * (admin-http.ts) offers the same operations. Everything returned is a copy; errors are
 * `AppError`s: `simulator.not_found`, `simulator.conflict`, `simulator.invalid_image`,
 * `simulator.invalid_fault`.
 */
export interface SimulatorAdmin {
  /** Known regions with their image counts, in ListRegions order. */
  listRegions(language?: AcceptLanguage): RegionSummary[];
  /** A region's images in listing order (newest first); empty for an unknown region. */
  listImages(regionId: string): SimulatorImage[];
  getImage(regionId: string, imageId: string): SimulatorImage | undefined;
  /**
   * Adds an image to a region (created if unknown): a generated, realistic image, `Status` "1" and
   * `CreationTime` now unless `partial` says otherwise, with `partial`'s fields (null removes one).
   */
  addImage(regionId: string, partial?: ImagePatch): SimulatorImage;
  /** Changes fields of an image (null removes one); `ImageId` and `RegionId` cannot change. */
  updateImage(regionId: string, imageId: string, patch: ImagePatch): SimulatorImage;
  /** False when there was no such image. */
  deleteImage(regionId: string, imageId: string): boolean;
  /**
   * Replaces a region's images: `count` seeded images (the same ones for the same seed), or one
   * image per partial, listed in the given order unless they set `CreationTime`.
   */
  setRegion(
    regionId: string,
    content: number | readonly ImagePatch[],
    options?: { localName?: string },
  ): SimulatorImage[];
  /** Adds a fault (see faults.ts) and returns its id. */
  injectFault(fault: Fault): string;
  listFaults(): ActiveFault[];
  removeFault(id: string): boolean;
  clearFaults(): void;
  /** Answers the `hold` fault `id` is holding now. */
  heldCalls(id: string): number;
  /** Releases every answer the `hold` fault `id` holds (and will hold); false for an unknown id. */
  releaseFault(id: string): boolean;
  /** The API calls handled so far, oldest first. */
  calls(): CallRecord[];
  resetCalls(): void;
  /** Forgets every counted call, so every key gets its full quota again. */
  resetQuota(): void;
}

export interface SimulatorAdminDeps {
  store: ImageStore;
  faults: FaultRegistry;
  calls: CallLog;
  quota: Quota | null;
}

export function createSimulatorAdmin(deps: SimulatorAdminDeps): SimulatorAdmin {
  const copy = <T>(value: T): T => structuredClone(value);
  return {
    listRegions: (language) => deps.store.regions(language),
    listImages: (regionId) => copy([...deps.store.list(regionId)]),
    getImage: (regionId, imageId) => {
      const image = deps.store.get(regionId, imageId);
      return image === undefined ? undefined : copy(image);
    },
    addImage: (regionId, partial) => copy(deps.store.add(regionId, partial)),
    updateImage: (regionId, imageId, patch) => copy(deps.store.update(regionId, imageId, patch)),
    deleteImage: (regionId, imageId) => deps.store.remove(regionId, imageId),
    setRegion: (regionId, content, options) => copy([...deps.store.setRegion(regionId, content, options)]),
    injectFault: (fault) => deps.faults.inject(fault),
    listFaults: () => deps.faults.list(),
    removeFault: (id) => deps.faults.remove(id),
    clearFaults: () => deps.faults.clear(),
    heldCalls: (id) => deps.faults.holding(id),
    releaseFault: (id) => deps.faults.release(id),
    calls: () => deps.calls.list(),
    resetCalls: () => deps.calls.reset(),
    resetQuota: () => deps.quota?.reset(),
  };
}
