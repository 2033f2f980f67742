import { CommanderError } from 'commander';
import { AppError, errorMessage } from '../shared/app-error.ts';

/** Exit codes of every command: 0 success, 1 the work failed, 2 usage or configuration error. */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code and the one message to print for anything a command threw. */
export function describeFailure(error: unknown, debug: boolean): { exitCode: ExitCode; message: string } {
  if (error instanceof CommanderError) {
    // commander already printed its usage message.
    // Help asked for (`--help`, `help <command>`) and the version exit 0, as commander means them.
    return { exitCode: error.exitCode === 0 ? EXIT.ok : EXIT.usage, message: '' };
  }
  if (error instanceof AppError) {
    const usage = error.code.startsWith('config.') || error.code.startsWith('cli.');
    const text = `error [${error.code}]: ${error.message}`;
    return { exitCode: usage ? EXIT.usage : EXIT.failed, message: debug ? withCauses(error) : text };
  }
  if (isFailedQuery(error)) {
    // A store that did not code its failure: the driver's message, never the query's parameters.
    const driver = error.cause instanceof Error ? error.cause.message : 'the query failed';
    return { exitCode: EXIT.failed, message: `error [db.query]: ${driver}` };
  }
  return {
    exitCode: EXIT.failed,
    message:
      debug && error instanceof Error ? (error.stack ?? error.message) : `error: ${errorMessage(error)}`,
  };
}

function withCauses(error: AppError): string {
  const lines = [`error [${error.code}]: ${error.stack ?? error.message}`];
  let cause: unknown = error.cause;
  while (cause instanceof Error) {
    lines.push(
      isFailedQuery(cause)
        ? `caused by: failed query: ${cause.query}`
        : `caused by: ${cause.stack ?? cause.message}`,
    );
    cause = cause.cause;
  }
  return lines.join('\n');
}

/**
 * drizzle's query error, told by its shape (its class would load drizzle for every command): its
 * message and stack list the parameters, which may be an endpoint's secret or a robot's token.
 */
function isFailedQuery(error: unknown): error is Error & { query: string } {
  return (
    error instanceof Error && typeof (error as { query?: unknown }).query === 'string' && 'params' in error
  );
}
