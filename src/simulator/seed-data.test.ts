import { describe, expect, it } from 'vitest';
import { createManualClock } from '../shared/clock.ts';
import { isUsableItem } from '../swas/wire.ts';
import { IMAGE_STATUSES } from '../sync/model.ts';
import { createImageStore } from './image-store.ts';
import { createRandom, deriveSeed } from './random.ts';
import { accountProfile, generateRegionImages } from './seed-data.ts';

const CJK = /[\u4e00-\u9fff]/;

describe('seeded images', () => {
  it('are the same for the same seed and differ for another seed', () => {
    expect(generateRegionImages(7, 'cn-hangzhou', 50)).toEqual(generateRegionImages(7, 'cn-hangzhou', 50));
    const other = generateRegionImages(8, 'cn-hangzhou', 50);
    expect(other.map((image) => image.ImageId)).not.toEqual(
      generateRegionImages(7, 'cn-hangzhou', 50).map((image) => image.ImageId),
    );
  });

  it('of a region do not depend on which other regions exist', () => {
    const clock = createManualClock();
    const alone = createImageStore({ seed: 3, regions: [{ regionId: 'cn-shanghai', images: 20 }], clock });
    const among = createImageStore({
      seed: 3,
      regions: [
        { regionId: 'cn-hangzhou', images: 120 },
        { regionId: 'cn-shanghai', images: 20 },
      ],
      clock,
    });
    expect(among.list('cn-shanghai')).toEqual(alone.list('cn-shanghai'));
  });

  it('look like a real account: statuses, names, disks, tags, shares, ids', () => {
    const images = generateRegionImages(1, 'cn-hangzhou', 120);
    const statuses = images.map((image) => image.Status);
    for (const status of Object.keys(IMAGE_STATUSES)) expect(statuses).toContain(status);
    expect(statuses.filter((status) => status === '1').length).toBeGreaterThan(images.length * 0.6);

    const ids = images.map((image) => image.ImageId);
    expect(new Set(ids).size).toBe(ids.length);
    for (const id of ids) expect(id).toMatch(/^m-bp1[a-z0-9]{17}$/);
    for (const image of images) {
      expect(image.CreationTime).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);
      expect(image.RegionId).toBe('cn-hangzhou');
      // Every seeded item passes the client's own validation of the wire shape.
      expect(isUsableItem(image as unknown as Record<string, unknown>)).toBe(true);
    }

    const names = images.map((image) => image.Name ?? '');
    expect(names.some((name) => CJK.test(name))).toBe(true);
    expect(names.some((name) => /^[\x20-\x7e]+$/.test(name))).toBe(true);

    const withoutDataDisk = images.filter((image) => image.RequiredDataDiskSize === 0);
    expect(withoutDataDisk.length).toBeGreaterThan(0);
    for (const image of withoutDataDisk) expect(image.DataSnapshotId ?? '').toBe('');
    expect(withoutDataDisk.some((image) => image.DataSnapshotId === undefined)).toBe(true);
    expect(withoutDataDisk.some((image) => image.DataSnapshotId === '')).toBe(true);
    expect(
      images.some((image) => (image.RequiredDataDiskSize ?? 0) > 0 && image.DataSnapshotId?.startsWith('s-')),
    ).toBe(true);

    expect(images.some((image) => image.Tags?.length === 0)).toBe(true);
    expect(images.some((image) => (image.Tags?.length ?? 0) > 0)).toBe(true);
    expect(images.some((image) => image.CreateInstances?.length === 0)).toBe(true);
    expect(images.some((image) => (image.CreateInstances?.length ?? 0) > 0)).toBe(true);
    expect(images.some((image) => image.InShare === true)).toBe(true);
    expect(images.some((image) => image.InShareUser === true)).toBe(true);
    for (const image of images.filter((candidate) => candidate.Status === '3')) {
      expect(image.CreateInstances).toEqual([]);
      expect(image.InShare).toBe(false);
    }
  });

  it('belong to one 16-digit account id that JSON numbers carry exactly', () => {
    const { userId } = accountProfile(1);
    expect(String(userId)).toMatch(/^\d{16}$/);
    expect(Number.isSafeInteger(userId)).toBe(true);
    expect(new Set(generateRegionImages(1, 'cn-shanghai', 30).map((image) => image.UserId))).toEqual(
      new Set([userId]),
    );
  });

  it('use region-specific id prefixes', () => {
    expect(generateRegionImages(1, 'cn-shanghai', 3).map((image) => image.ImageId.slice(0, 5))).toEqual([
      'm-uf6',
      'm-uf6',
      'm-uf6',
    ]);
  });
});

describe('random source', () => {
  it('repeats its sequence for a seed and stays in range', () => {
    const a = createRandom(deriveSeed(42, 'x'));
    const b = createRandom(deriveSeed(42, 'x'));
    const draws = Array.from({ length: 1000 }, () => a.next());
    expect(Array.from({ length: 1000 }, () => b.next())).toEqual(draws);
    for (const draw of draws) {
      expect(draw).toBeGreaterThanOrEqual(0);
      expect(draw).toBeLessThan(1);
    }
    expect(deriveSeed(42, 'x')).not.toBe(deriveSeed(42, 'y'));
    expect(deriveSeed(42, 'x')).not.toBe(deriveSeed(43, 'x'));
  });
});
