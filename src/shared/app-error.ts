/**
 * The one error type of the project. Callers branch on `code` (namespaced, e.g. `swas.throttled`),
 * never on message text. `retryable` says whether trying the same thing again may succeed.
 */
export type ErrorNamespace =
  | 'config'
  | 'swas'
  | 'db'
  | 'sync'
  | 'webhook'
  | 'cli'
  | 'simulator'
  | 'redis'
  | 'internal';
export type ErrorCode = `${ErrorNamespace}.${string}`;

export interface AppErrorOptions {
  retryable?: boolean;
  cause?: unknown;
  /** Structured context safe to log (never secrets). */
  details?: Record<string, unknown>;
}

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly retryable: boolean;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details ?? {};
  }
}

export const isAppError = (value: unknown): value is AppError => value instanceof AppError;

/** A numeric detail of an AppError (`apiCalls`, `pages`, …), 0 when absent or not an AppError. */
export function numberDetail(error: unknown, key: string): number {
  const value = isAppError(error) ? error.details[key] : undefined;
  return typeof value === 'number' ? value : 0;
}

/** The message of anything thrown, for places that must turn an unknown into text. */
export function errorMessage(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
