import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Simulator, startSimulator } from '../../src/simulator/index.ts';
import { createSyncHarness, rows, type SyncHarness } from '../support/sync-harness.ts';
import { createTestDatabase } from '../support/test-database.ts';

const FIELDS = [
  'ImageId',
  'RegionId',
  'Name',
  'Description',
  'Status',
  'InShare',
  'InShareUser',
  'InstanceId',
  'RequiredSystemDiskSize',
  'RequiredDataDiskSize',
  'UserId',
  'Tags',
  'CreateInstances',
  'CreationTime',
  'Unknown\u0000Key',
] as const;

/** Values of every shape a hostile or broken API could put in a field. */
const hostileValue = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '\u0000',
    'a\u0000b',
    '\ud800',
    'x\udc00y',
    '\u001b[31mred',
    'x'.repeat(100_000),
    '',
    '0',
    '-1',
  ),
  fc.integer(),
  fc.double(),
  fc.constantFrom(2 ** 31, 2 ** 53 + 1, -0, 1e300),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.constant(null)), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer()), {
    maxKeys: 3,
  }),
);

const patch = fc.record({
  index: fc.integer({ min: 0, max: 7 }),
  fields: fc.dictionary(fc.constantFrom(...FIELDS), hostileValue, { minKeys: 1, maxKeys: 3 }),
});

// "No single item can block a region": whatever the items of a page hold, a run ends
// succeeded or partial with every untouched item stored, and the next clean listing heals it.
describe('sync of hostile items (fuzz)', () => {
  let simulator: Simulator;
  let harness: SyncHarness;

  beforeAll(async () => {
    simulator = await startSimulator({ port: 0, seed: 31, quota: null, regions: [] });
    harness = await createSyncHarness(await createTestDatabase(), simulator);
  });
  afterAll(async () => {
    await harness?.close();
    await simulator?.close();
  });

  it('never fails, crashes or blocks a region on bad item fields', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(patch, { minLength: 1, maxLength: 3 }), async (patches) => {
        const region = `cn-fuzz${round++}`;
        const images = simulator.admin.setRegion(region, 8);
        for (const { index, fields } of patches) {
          simulator.admin.injectFault({ kind: 'patch-item', regionId: region, index, fields, times: 3 });
        }
        const result = await harness.syncRegion(region);
        simulator.admin.clearFaults();

        expect(['succeeded', 'partial']).toContain(result.status);
        const stored = await rows<{ image_id: string; name: string | null; status: string }>(
          harness.sql,
          'select image_id, name, status from custom_images where region_id = $1',
          [region],
        );
        const byId = new Map(stored.map((row) => [row.image_id, row]));
        const touched = new Set(patches.map((p) => p.index));
        images.forEach((image, index) => {
          if (touched.has(index)) return;
          expect(byId.get(image.ImageId)).toEqual({
            image_id: image.ImageId,
            name: image.Name ?? null,
            status: image.Status,
          });
        });

        const clean = await harness.syncRegion(region);
        expect(clean.status).toBe('succeeded');
        const healed = await rows<{ image_id: string }>(
          harness.sql,
          'select image_id from custom_images where region_id = $1 and deleted_at is null order by image_id',
          [region],
        );
        expect(healed.map((row) => row.image_id)).toEqual(images.map((image) => image.ImageId).sort());
      }),
      { numRuns: 20 },
    );
  });
});
