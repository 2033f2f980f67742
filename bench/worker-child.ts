import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { BIN, childEnvironment } from '../test/support/cli.ts';

/** A `worker` process of a benchmark, with the end of what it logged kept for when it dies. */
export interface BenchWorker {
  child: ChildProcessByStdio<null, null, Readable>;
  /** Resolves when the process has exited. */
  exited: Promise<void>;
  /** The last 20,000 characters of its stderr (JSON log lines). */
  stderr(): string;
}

/**
 * Starts `swas-inventory worker` with ONLY `env` on top of PATH (this Node first), HOME, TZ=UTC
 * and LOG_LEVEL=warn, so that a benchmark's workers run as an operator's would.
 */
export function startBenchWorker(env: Record<string, string>): BenchWorker {
  let stderr = '';
  const child = spawn(BIN, ['worker'], {
    env: childEnvironment(env),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-20_000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { child, exited, stderr: () => stderr };
}
