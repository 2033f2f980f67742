import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { PlanJobData } from './queues.ts';

/** A job scheduler the worker wants on the plan queue. */
export interface DesiredScheduler {
  id: string;
  repeat: { every: number } | { pattern: string; tz: string };
  jobName: string;
  data: PlanJobData;
}

export interface ReconcileResult {
  /** False when another process held the reconcile lock (it does the work). */
  ran: boolean;
  upserted: string[];
  removed: string[];
}

/**
 * Which configuration the fleet's schedulers follow: the one of the replica that started last.
 * Replicas with different `SYNC_SCHEDULE` or `SYNC_WATCH_INTERVAL` (a rolling deploy, a canary)
 * would otherwise rewrite each other's schedulers at every probe, each rewrite of an interval
 * scheduler queueing a tick at once. `key` holds the owner's fingerprint of `desired` as a lease
 * that its probes renew: when the owner is gone (a canary stopped, a process killed) the lease
 * lapses and the replicas left take the schedulers back.
 */
export const schedulerFingerprint = (desired: readonly DesiredScheduler[]): string =>
  JSON.stringify(desired.map(({ id, repeat }) => [id, repeat]));

/** Start-up: this configuration becomes the fleet's (the newest replica's wins). */
export async function claimSchedulers(
  redis: Redis,
  key: string,
  fingerprint: string,
  leaseMs: number,
): Promise<void> {
  await redis.set(key, fingerprint, 'PX', leaseMs);
}

const RENEW_OR_CLAIM = `
local current = redis.call('get', KEYS[1])
if current == false or current == ARGV[1] then
  redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return 0`;

/** Probe: whether this configuration is the fleet's, renewing its lease, or claiming one that lapsed. */
export async function ownsSchedulers(
  redis: Redis,
  key: string,
  fingerprint: string,
  leaseMs: number,
): Promise<boolean> {
  return (await redis.eval(RENEW_OR_CLAIM, 1, key, fingerprint, leaseMs)) === 1;
}

/** Stop: gives the lease up if it is this configuration's, so the replicas left take over at once. */
export async function releaseSchedulers(redis: Redis, key: string, fingerprint: string): Promise<void> {
  await redis.eval(
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
    1,
    key,
    fingerprint,
  );
}

/**
 * Makes the plan queue's job schedulers exactly `desired`: upserts the missing or changed ones and
 * removes the rest (schedulers of an older configuration). One process at a time, under a Redis
 * lock: concurrent upserts of one scheduler have produced duplicate or lost jobs in BullMQ, and an
 * unchanged scheduler is never upserted again, since an upsert rewrites its pending job.
 */
export async function reconcileSchedulers(
  queue: Queue,
  redis: Redis,
  lockKey: string,
  desired: readonly DesiredScheduler[],
): Promise<ReconcileResult> {
  const have = await queue.getJobSchedulers();
  const stale = have.filter((existing) => !desired.some((want) => want.id === existing.key));
  const missing = desired.filter((want) => {
    const existing = have.find((s) => s.key === want.id);
    if (!existing) return true;
    return 'every' in want.repeat
      ? Number(existing.every) !== want.repeat.every || existing.pattern != null
      : existing.pattern !== want.repeat.pattern || existing.tz !== want.repeat.tz;
  });
  if (stale.length === 0 && missing.length === 0) return { ran: true, upserted: [], removed: [] };

  const token = randomUUID();
  const locked = await redis.set(lockKey, token, 'PX', 30_000, 'NX');
  if (locked !== 'OK') return { ran: false, upserted: [], removed: [] };
  try {
    for (const scheduler of stale) await queue.removeJobScheduler(scheduler.key);
    for (const want of missing) {
      await queue.upsertJobScheduler(want.id, want.repeat, { name: want.jobName, data: want.data });
    }
    return { ran: true, upserted: missing.map((s) => s.id), removed: stale.map((s) => s.key) };
  } finally {
    // Released only if still ours (it may have expired and been taken by another process).
    await redis.eval(
      "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0",
      1,
      lockKey,
      token,
    );
  }
}
