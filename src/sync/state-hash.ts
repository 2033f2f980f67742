import { hash } from 'node:crypto';
import { IMAGE_ATTRIBUTES } from './event-payloads.ts';
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
  const values: unknown[] = [];
  for (const attribute of IMAGE_ATTRIBUTES) {
    switch (attribute) {
      case 'tags':
        values.push(canonicalTags(state.tags));
        break;
      case 'createInstances':
        values.push(
          state.createInstances.length < 2
            ? state.createInstances
            : state.createInstances.toSorted(compareText),
        );
        break;
      default:
        values.push(state[attribute]);
    }
  }
  return hash('sha256', JSON.stringify(values), 'base64url');
}

function canonicalTags(tags: readonly ImageTag[]): [string, string][] {
  const pairs = tags.map((tag): [string, string] => [tag.Key, tag.Value]);
  return pairs.length < 2 ? pairs : pairs.sort((a, b) => compareText(a[0], b[0]) || compareText(a[1], b[1]));
}
