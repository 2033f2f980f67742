import { describe, expect, it } from 'vitest';
import { createManualClock } from '../shared/clock.ts';
import { createImageStore } from './image-store.ts';

const REGION = 'cn-hangzhou';
const storeOf = (images: number) =>
  createImageStore({ seed: 3, regions: [{ regionId: REGION, images }], clock: createManualClock() });
const ids = (images: readonly { ImageId: string }[]) => images.map((image) => image.ImageId);

describe('image store listing order', () => {
  it('lists newest first, then by id, with equal times ordered by id', () => {
    const store = storeOf(0);
    for (const [id, time] of [
      ['m-b', '2025-01-01T00:00:00Z'],
      ['m-a', '2025-01-01T00:00:00Z'],
      ['m-c', '2025-03-01T00:00:00Z'],
      ['m-d', '2024-12-31T23:59:59+08:00'],
    ] as const) {
      store.add(REGION, { ImageId: id, CreationTime: time });
    }
    expect(ids(store.list(REGION))).toEqual(['m-c', 'm-a', 'm-b', 'm-d']);
  });

  it('keeps an updated image in its place, and leaves a listing already handed out as it was', () => {
    const store = storeOf(50);
    const before = store.list(REGION);
    const order = ids(before);
    const target = before[20];
    if (!target) throw new Error('seeded region too small');
    store.update(REGION, target.ImageId, { Name: 'renamed', Status: '2' });
    const after = store.list(REGION);
    expect(ids(after)).toEqual(order);
    expect(after[20]).toMatchObject({ ImageId: target.ImageId, Name: 'renamed', Status: '2' });
    expect(before[20]).toBe(target);
    expect(store.get(REGION, target.ImageId)?.Name).toBe('renamed');
  });

  it('moves an image whose creation time changed, and lists added and removed images', () => {
    const store = storeOf(30);
    const first = store.list(REGION);
    const last = first.at(-1);
    const removed = first[5];
    if (!last || !removed) throw new Error('seeded region too small');
    store.update(REGION, last.ImageId, { Name: 'now newest', CreationTime: '2099-01-01T00:00:00Z' });
    store.update(REGION, first[1]?.ImageId ?? '', { Name: 'same place' });
    expect(store.remove(REGION, removed.ImageId)).toBe(true);
    const added = store.add(REGION, { CreationTime: '1999-01-01T00:00:00Z' });
    const listed = store.list(REGION);
    expect(listed[0]).toMatchObject({ ImageId: last.ImageId, Name: 'now newest' });
    expect(listed.find((image) => image.ImageId === first[1]?.ImageId)?.Name).toBe('same place');
    expect(ids(listed)).not.toContain(removed.ImageId);
    expect(listed.at(-1)?.ImageId).toBe(added.ImageId);
    expect(listed).toHaveLength(30);
  });
});
