import { execFile } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = fileURLToPath(new URL('../../bin/swas-inventory', import.meta.url));

/**
 * The whole environment of a child process of ours: the test runner's own Node first on PATH (so
 * the executable runs on the same version), HOME, UTC and a log level, then `env` over them.
 */
export function childEnvironment(env: Record<string, string>, logLevel = 'warn'): Record<string, string> {
  return {
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
    HOME: process.env.HOME ?? '',
    TZ: 'UTC',
    LOG_LEVEL: logLevel,
    ...env,
  };
}

export interface CliResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `./bin/swas-inventory` as a user would, in a child process with ONLY the given environment
 * (plus PATH/HOME), from an empty working directory so no developer `.env` leaks in.
 */
export function runCli(
  args: readonly string[],
  env: Record<string, string> = {},
  options: { timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(
      BIN,
      args,
      {
        cwd: tmpdir(),
        env: childEnvironment(env),
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 32 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== 'number') {
          reject(Object.assign(error, { stdout, stderr }));
          return;
        }
        resolve({ exitCode: typeof error?.code === 'number' ? error.code : 0, stdout, stderr });
      },
    );
  });
}
