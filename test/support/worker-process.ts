import { type ChildProcess, spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { BIN, childEnvironment } from './cli.ts';

/** A `swas-inventory worker` child process, as an operator runs it. */
export interface WorkerProcess {
  readonly pid: number;
  /** Everything it wrote to stderr (the JSON log lines) so far. */
  stderr(): string;
  /** Resolves with its exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal: NodeJS.Signals): void;
}

/** Starts the worker with ONLY the given environment (plus PATH/HOME), from an empty directory. */
export function startWorker(env: Record<string, string>): WorkerProcess {
  const child: ChildProcess = spawn(BIN, ['worker'], {
    cwd: tmpdir(),
    env: childEnvironment(env, 'info'),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  return {
    pid: child.pid ?? -1,
    stderr: () => stderr,
    exited,
    kill: (signal) => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
