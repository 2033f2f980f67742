import { randomBytes, randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { Db } from '../../src/db/client.ts';
import { insertDeliveriesForRun } from '../../src/db/webhook-outbox.ts';
import type { Simulator, SimulatorImage } from '../../src/simulator/index.ts';

/**
 * The seven changes of the sync-engine scenario (seed 7, cn-hangzhou): one status 1→3, one share,
 * one rename, one deletion, one new image, one status 1→2, one unshare → the 8 events of the change scenario.
 */
export function applySevenChanges(simulator: Simulator, regionId = 'cn-hangzhou'): { added: SimulatorImage } {
  const images = simulator.admin.listImages(regionId);
  const plain = images.filter((i) => i.Status === '1' && !i.InShare && !i.InShareUser);
  const [toFail, toShare, toRename, toDelete, toUnavailable] = plain;
  const sharedToAccount = images.find((i) => i.InShareUser === true && i.Status === '1');
  if (!toFail || !toShare || !toRename || !toDelete || !toUnavailable || !sharedToAccount) {
    throw new Error('the seed lacks the images the scenario needs');
  }
  simulator.admin.updateImage(regionId, toFail.ImageId, { Status: '3' });
  simulator.admin.updateImage(regionId, toShare.ImageId, { InShare: true });
  simulator.admin.updateImage(regionId, toRename.ImageId, { Name: '生产环境-网站镜像-新' });
  simulator.admin.deleteImage(regionId, toDelete.ImageId);
  const added = simulator.admin.addImage(regionId, {
    Name: '新建镜像',
    Status: '1',
    InShare: false,
    InShareUser: false,
  });
  simulator.admin.updateImage(regionId, toUnavailable.ImageId, { Status: '2' });
  simulator.admin.updateImage(regionId, sharedToAccount.ImageId, { InShareUser: false });
  return { added };
}

/** A UUID v7-shaped id (time-ordered enough for tests). */
const v7 = () => {
  const hex = `${Date.now().toString(16).padStart(12, '0')}${randomBytes(10).toString('hex')}`;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-7${hex.slice(13, 16)}-8${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
};

/**
 * A finished sync run with `count` `image.failed` events, fanned out to the endpoints as the sync
 * does it (insertDeliveriesForRun in one transaction). Returns the event ids.
 */
export async function seedEvents(
  sql: pg.Client,
  db: Db,
  count: number,
  scope: { account?: string; regionId?: string; baseline?: boolean } = {},
): Promise<string[]> {
  const account = scope.account ?? 'default';
  const regionId = scope.regionId ?? 'cn-hangzhou';
  const runId = randomUUID();
  const ids = Array.from({ length: count }, () => v7());
  await sql.query(
    `insert into sync_runs (id, account, region_id, trigger, status, started_at, finished_at)
     values ($1, $2, $3, 'manual', 'succeeded', now(), now())`,
    [runId, account, regionId],
  );
  for (const [index, id] of ids.entries()) {
    const imageId = `m-test${index}`;
    await sql.query(
      `insert into image_events (id, type, account, region_id, image_id, occurred_at, sync_run_id, baseline, data)
       values ($1, 'image.failed', $2, $3, $4, now(), $5, $6, $7)`,
      [
        id,
        account,
        regionId,
        imageId,
        runId,
        scope.baseline ?? false,
        JSON.stringify({
          account,
          regionId,
          imageId,
          version: 2,
          from: '4',
          image: { ImageId: imageId, Name: `镜像 ${index}` },
        }),
      ],
    );
  }
  await db.transaction((tx) => insertDeliveriesForRun(tx, runId));
  return ids;
}
