import { IMAGE_ATTRIBUTES } from './event-payloads.ts';
import type { ImageAttribute, ImageState, ImageTag } from './model.ts';

/**
 * When two states of one image count as the same version. Scalars compare with `===`. `tags` and
 * `createInstances` compare as multisets: the API gives no meaning to their order, and a listing
 * that merely reorders them must not open a version (the stored order then stays as first seen).
 */

/**
 * True when no versioned attribute differs (the image id is not compared). The no-op sync of a
 * large region runs this once per image, so it is written out field by field: a loop over the
 * attribute names costs about three times as much (keyed loads). `state-changes.test.ts` mutates
 * every attribute of `IMAGE_ATTRIBUTES`, so an attribute added to the model and not here fails it.
 */
export function sameState(a: ImageState, b: ImageState): boolean {
  return (
    a.status === b.status &&
    a.name === b.name &&
    a.description === b.description &&
    a.inShare === b.inShare &&
    a.inShareUser === b.inShareUser &&
    a.regionId === b.regionId &&
    a.instanceId === b.instanceId &&
    a.instanceName === b.instanceName &&
    a.systemSnapshotId === b.systemSnapshotId &&
    a.systemSnapshotName === b.systemSnapshotName &&
    a.dataSnapshotId === b.dataSnapshotId &&
    a.dataSnapshotName === b.dataSnapshotName &&
    a.resourceGroupId === b.resourceGroupId &&
    a.osType === b.osType &&
    a.requiredSystemDiskSize === b.requiredSystemDiskSize &&
    a.requiredDataDiskSize === b.requiredDataDiskSize &&
    a.sourceImageName === b.sourceImageName &&
    a.sourceImageVersion === b.sourceImageVersion &&
    a.userId === b.userId &&
    a.creationTime === b.creationTime &&
    sameTags(a.tags, b.tags) &&
    sameStrings(a.createInstances, b.createInstances)
  );
}

/** The attributes whose values differ, in column order. */
export function changedAttributes(a: ImageState, b: ImageState): ImageAttribute[] {
  return IMAGE_ATTRIBUTES.filter((attribute) => !sameAttribute(attribute, a, b));
}

function sameAttribute(attribute: ImageAttribute, a: ImageState, b: ImageState): boolean {
  switch (attribute) {
    case 'tags':
      return sameTags(a.tags, b.tags);
    case 'createInstances':
      return sameStrings(a.createInstances, b.createInstances);
    default:
      return a[attribute] === b[attribute];
  }
}

export function sameTags(a: readonly ImageTag[], b: readonly ImageTag[]): boolean {
  if (a.length !== b.length) return false;
  if (tagsEqualInOrder(a, b)) return true;
  return tagsEqualInOrder(a.toSorted(compareTags), b.toSorted(compareTags));
}

export function sameStrings(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  if (stringsEqualInOrder(a, b)) return true;
  return stringsEqualInOrder(a.toSorted(compareText), b.toSorted(compareText));
}

function tagsEqualInOrder(a: readonly ImageTag[], b: readonly ImageTag[]): boolean {
  for (let index = 0; index < a.length; index++) {
    const left = a[index] as ImageTag;
    const right = b[index] as ImageTag;
    if (left.Key !== right.Key || left.Value !== right.Value) return false;
  }
  return true;
}

function stringsEqualInOrder(a: readonly string[], b: readonly string[]): boolean {
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

/** Code-unit order, independent of the locale (unlike `localeCompare`). */
export const compareText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

const compareTags = (a: ImageTag, b: ImageTag): number =>
  compareText(a.Key, b.Key) || compareText(a.Value, b.Value);
