import { AppError } from '../shared/app-error.ts';
import { DrizzleQueryError } from './drizzle.ts';

/**
 * The one mapping point from node-postgres / PostgreSQL failures to {@link AppError} codes:
 * - `db.unreachable`: no usable connection (refused, unknown host, timeout, server shutting down,
 *   database missing, authentication failed). Retryable unless only an operator can fix it.
 * - `db.conflict`: serialization failure or deadlock; retryable.
 * - `db.timeout`: statement or lock timeout; retryable.
 * - `db.query`: anything else (a bug or a constraint violation); not retryable.
 * Messages name `host:port/database`, never the password (nor the URL, which may hold one).
 */

interface Rule {
  code: 'db.unreachable' | 'db.conflict' | 'db.timeout';
  retryable: boolean;
  reason: string;
}

/** Socket-level `code`s (Node, also on the AggregateError of happy-eyeballs connects). */
const NETWORK_RULES: Record<string, Rule> = {
  ECONNREFUSED: { code: 'db.unreachable', retryable: true, reason: 'connection refused' },
  ECONNRESET: { code: 'db.unreachable', retryable: true, reason: 'connection reset' },
  EPIPE: { code: 'db.unreachable', retryable: true, reason: 'connection closed' },
  ETIMEDOUT: { code: 'db.unreachable', retryable: true, reason: 'connection timed out' },
  EHOSTUNREACH: { code: 'db.unreachable', retryable: true, reason: 'host unreachable' },
  ENETUNREACH: { code: 'db.unreachable', retryable: true, reason: 'network unreachable' },
  // Unknown host: retryable because a container's DNS name may appear a moment after start.
  ENOTFOUND: { code: 'db.unreachable', retryable: true, reason: 'host not found' },
  EAI_AGAIN: { code: 'db.unreachable', retryable: true, reason: 'host name lookup failed' },
  ENOENT: { code: 'db.unreachable', retryable: true, reason: 'no socket at that path' },
};

/** SQLSTATE codes (https://www.postgresql.org/docs/current/errcodes-appendix.html). */
const SQLSTATE_RULES: Record<string, Rule> = {
  '3D000': {
    code: 'db.unreachable',
    retryable: false,
    reason: 'the database does not exist (run `swas-inventory migrate`)',
  },
  '28P01': { code: 'db.unreachable', retryable: false, reason: 'password authentication failed' },
  '28000': { code: 'db.unreachable', retryable: false, reason: 'authorization rejected' },
  '53300': { code: 'db.unreachable', retryable: true, reason: 'too many connections' },
  '57P01': { code: 'db.unreachable', retryable: true, reason: 'the server is shutting down' },
  '57P02': { code: 'db.unreachable', retryable: true, reason: 'the server crashed' },
  '57P03': { code: 'db.unreachable', retryable: true, reason: 'the server is not accepting connections yet' },
  '40001': { code: 'db.conflict', retryable: true, reason: 'serialization failure' },
  '40P01': { code: 'db.conflict', retryable: true, reason: 'deadlock detected' },
  '55P03': { code: 'db.timeout', retryable: true, reason: 'lock not available' },
  '57014': { code: 'db.timeout', retryable: true, reason: 'statement cancelled (timeout)' },
};

/**
 * node-postgres raises some connection failures without a `code`; these messages are its own
 * (lib/client.js, pg-pool), so matching them here is the only way to classify them.
 */
const DRIVER_MESSAGES: Array<[RegExp, Rule]> = [
  [/Connection terminated/i, { code: 'db.unreachable', retryable: true, reason: 'connection terminated' }],
  [
    /timeout exceeded when trying to connect/i,
    { code: 'db.unreachable', retryable: true, reason: 'connect timed out' },
  ],
  [
    /Client has encountered a connection error/i,
    { code: 'db.unreachable', retryable: true, reason: 'connection error' },
  ],
];

function ruleFor(error: unknown): Rule | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    const rule = NETWORK_RULES[code] ?? SQLSTATE_RULES[code];
    if (rule) return rule;
    // Class 08: connection exception.
    if (/^08[0-9A-Z]{3}$/.test(code))
      return { code: 'db.unreachable', retryable: true, reason: 'connection exception' };
  }
  if (error instanceof AggregateError) {
    for (const inner of error.errors) {
      const rule = ruleFor(inner);
      if (rule) return rule;
    }
  }
  if (error instanceof Error) {
    for (const [pattern, rule] of DRIVER_MESSAGES) if (pattern.test(error.message)) return rule;
  }
  return undefined;
}

/**
 * `host:port/database` of a connection URL, for messages and logs; never the user's password.
 * Unix-socket URLs (`postgres:///db?host=/run/postgresql`) show the socket directory as host.
 */
export function describeDatabaseUrl(databaseUrl: string): string {
  let parsed: URL;
  try {
    parsed = new URL(databaseUrl);
  } catch {
    // `new URL` errors carry the input, which may hold the password: say nothing of it.
    return 'the configured database (unparsable URL)';
  }
  const host = parsed.hostname || parsed.searchParams.get('host') || 'localhost';
  const port = parsed.port || parsed.searchParams.get('port') || '5432';
  const database =
    decodeURIComponent(parsed.pathname.replace(/^\//, '')) || decodeURIComponent(parsed.username);
  return `${host}:${port}/${database}`;
}

/** True for what the driver or the server raised (as opposed to a bug in the caller's callback). */
export function isDatabaseFailure(error: unknown): boolean {
  if (error instanceof AppError) return false;
  if (error instanceof DrizzleQueryError) return true;
  return ruleFor(error) !== undefined || sqlStateOf(error) !== undefined;
}

/**
 * The {@link AppError} for anything a database call threw; an AppError passes through unchanged.
 * `target` is {@link describeDatabaseUrl}'s description of where the call went.
 */
export function toDatabaseError(error: unknown, target: string): AppError {
  if (error instanceof AppError) return error;
  // drizzle wraps driver errors as "Failed query: <sql> params: <values>": the driver's error
  // carries the code and says what went wrong without echoing the data.
  const driverError =
    error instanceof DrizzleQueryError && error.cause instanceof Error ? error.cause : error;
  const rule = ruleFor(driverError);
  const sqlstate = sqlStateOf(driverError);
  if (rule) {
    const message =
      rule.code === 'db.unreachable'
        ? `PostgreSQL at ${target} is unreachable: ${rule.reason}`
        : `PostgreSQL at ${target}: ${rule.reason}`;
    return new AppError(rule.code, message, {
      retryable: rule.retryable,
      cause: error,
      details: { target, sqlstate },
    });
  }
  const text = driverError instanceof Error ? driverError.message : String(driverError);
  return new AppError('db.query', `PostgreSQL at ${target}: ${text}`, {
    cause: error,
    details: { target, sqlstate },
  });
}

/** The SQLSTATE of a PostgreSQL error (`23505`, …), or undefined for other errors. */
export function sqlStateOf(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  // Server errors (pg's DatabaseError) carry a `severity`; socket errors have codes like `EPIPE`.
  const { code, severity } = error as { code?: unknown; severity?: unknown };
  return typeof code === 'string' && typeof severity === 'string' ? code : undefined;
}

/** Runs `work`, a database failure coming out as its coded AppError naming `target`. */
export async function codedDatabaseCall<T>(work: () => Promise<T>, target: string): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw isDatabaseFailure(error) ? toDatabaseError(error, target) : error;
  }
}

/**
 * `store` with every method's database failures turned into coded AppErrors naming `target`
 * (methods return promises): drizzle's own message lists the query's parameters, which may be an
 * endpoint's secret or a robot URL's token, so it must never reach a caller that prints it.
 */
export function withDatabaseErrors<T extends object>(store: T, target: string): T {
  const coded: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(store)) {
    coded[name] =
      typeof value === 'function'
        ? (...args: unknown[]) => codedDatabaseCall(() => value.apply(store, args), target)
        : value;
  }
  return coded as T;
}
