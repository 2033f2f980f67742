import type { Logger } from '../observability/logger.ts';
import { AppError, errorMessage } from '../shared/app-error.ts';
import type { Clock } from '../shared/clock.ts';

export type Dependency = 'redis' | 'postgres';

const LABELS: Record<Dependency, string> = { redis: 'Redis', postgres: 'PostgreSQL' };

/**
 * Turns the stream of connection failures during an outage (every reconnect attempt, every job,
 * every queue call fails) into one error line when it starts and one info line when it ends.
 */
export interface OutageLog {
  /** A failure reaching `dependency`: logged at error level only if it was up until now. */
  failed(dependency: Dependency, error: unknown): void;
  /** `dependency` answered: logs the end of the outage, if there was one, and says whether there was. */
  recovered(dependency: Dependency): boolean;
  isDown(dependency: Dependency): boolean;
}

export function createOutageLog(
  logger: Logger,
  clock: Clock,
  targets: Readonly<Record<Dependency, string>>,
): OutageLog {
  const since = new Map<Dependency, number>();
  return {
    failed(dependency, error) {
      const reason = error instanceof AppError ? `${error.code}: ${error.message}` : errorMessage(error);
      if (since.has(dependency)) {
        logger.debug({ dependency, reason }, `${LABELS[dependency]} still unreachable`);
        return;
      }
      since.set(dependency, clock.now());
      logger.error(
        { dependency, target: targets[dependency], reason },
        `${LABELS[dependency]} at ${targets[dependency]} is unreachable (${reason}); retrying until it answers`,
      );
    },
    recovered(dependency) {
      const start = since.get(dependency);
      if (start === undefined) return false;
      since.delete(dependency);
      const seconds = Math.round((clock.now() - start) / 100) / 10;
      logger.info(
        { dependency, target: targets[dependency], outageSeconds: seconds },
        `${LABELS[dependency]} at ${targets[dependency]} answers again (after ${seconds}s)`,
      );
      return true;
    },
    isDown: (dependency) => since.has(dependency),
  };
}

/** True for the errors ioredis and BullMQ raise while Redis cannot be reached. */
export function isRedisConnectionError(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === 'string' &&
    /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EPIPE|EHOSTUNREACH|ENETUNREACH)$/.test(code)
  ) {
    return true;
  }
  return /connection is closed|connect ETIMEDOUT|Stream isn't writeable|ECONNREFUSED|max retries per request/i.test(
    errorMessage(error),
  );
}
