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
