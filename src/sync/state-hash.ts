import { hash } from 'node:crypto';
import type { ImageState, ImageTag } from './model.ts';
import { compareText } from './state-changes.ts';

/**
 * The canonical content hash of an image's versioned attributes: equal exactly when
 * {@link sameState} holds. Computed by the listing side and stored with every row write, so a sync
 * decides "changed or not" from the hashes alone and decodes full rows only where they differ.
 *
 * Canonical form: one JSON array of the attributes in `IMAGE_ATTRIBUTES` order (the image id is
 * the key, not hashed); `tags` and `createInstances` sorted, because their order carries no
 * meaning; numbers are the validated integers and times the normalised ISO text, so a listing's
 * spelling (`"40"` vs `40`, key order, unknown fields) cannot make equal states differ.
 */
export function stateHash(state: ImageState): string {
  // Written out rather than looped over IMAGE_ATTRIBUTES: a listing hashes every item, and named
  // reads of one object shape cost a fraction of keyed ones. The test pins the order to the list.
  const values = [
    state.regionId,
    state.name,
    state.description,
    state.status,
    state.inShare,
    state.inShareUser,
    state.instanceId,
    state.instanceName,
    state.systemSnapshotId,
    state.systemSnapshotName,
    state.dataSnapshotId,
    state.dataSnapshotName,
    state.resourceGroupId,
    state.osType,
    state.requiredSystemDiskSize,
    state.requiredDataDiskSize,
    state.sourceImageName,
    state.sourceImageVersion,
    state.userId,
    canonicalTags(state.tags),
    state.createInstances.length < 2 ? state.createInstances : state.createInstances.toSorted(compareText),
    state.creationTime,
  ];
  return hash('sha256', JSON.stringify(values), 'base64url');
}

function canonicalTags(tags: readonly ImageTag[]): [string, string][] {
  const pairs = tags.map((tag): [string, string] => [tag.Key, tag.Value]);
  return pairs.length < 2 ? pairs : pairs.sort((a, b) => compareText(a[0], b[0]) || compareText(a[1], b[1]));
}
