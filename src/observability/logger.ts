import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { type DestinationStream, type Logger, pino } from 'pino';
import type { LogLevel } from '../config/load-config.ts';

// Loaded on use: pretty output is for terminals only; JSON lines need none of its modules.
const load = createRequire(import.meta.url);

export type { Logger } from 'pino';

/**
 * Paths pino censors. Wildcards match one level only, so every known shape
 * is listed; secrets are also wrapped in `Secret`, which serialises as `[redacted]` wherever it is.
 */
export const REDACT_PATHS = [
  'accessKeySecret',
  'securityToken',
  'secret',
  'password',
  'authorization',
  '*.accessKeySecret',
  '*.securityToken',
  '*.secret',
  '*.password',
  '*.authorization',
  '*.*.accessKeySecret',
  '*.*.securityToken',
  '*.*.secret',
  'headers.authorization',
  'headers["x-acs-security-token"]',
  'headers["webhook-signature"]',
  '*.headers.authorization',
  '*.headers["x-acs-security-token"]',
  '*.headers["webhook-signature"]',
  'credentials',
  '*.credentials',
];

export interface LoggerOptions {
  level: LogLevel;
  /** Where JSON lines go; stderr by default so command output on stdout stays clean. */
  destination?: DestinationStream | Writable;
  /** Human-readable lines; defaults to true when the destination is a TTY. */
  pretty?: boolean;
}

/** The one root logger of a process; components take children of it. */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? process.stderr;
  const isTty = 'isTTY' in destination && destination.isTTY === true;
  const stream =
    (options.pretty ?? isTty)
      ? (load('pino-pretty') as typeof import('pino-pretty'))({
          destination: destination as Writable,
          colorize: isTty,
          sync: true,
          translateTime: 'SYS:HH:MM:ss.l',
        })
      : (destination as DestinationStream);
  return pino(
    {
      level: options.level,
      base: { pid: process.pid },
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}

/** A logger that drops everything (for tests and library callers that pass none). */
export const silentLogger: Logger = pino({ level: 'silent' });
