import { type ChildProcess, spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runCli } from '../support/cli.ts';
import { waitFor } from '../support/wait-for.ts';

// bin/swas-inventory under a Node older than the project needs: it runs itself again under the
// Node that .ci/node.sh puts first on PATH (here the test runner's, already new enough).
const OLDER_NODE = `--import=${fileURLToPath(new URL('../support/older-node.mjs', import.meta.url))}`;

describe('the executable under an older Node', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    // The whole group: should the signal not reach the re-run command, it must not outlive the test.
    if (child?.pid !== undefined && child.exitCode === null) process.kill(-child.pid, 'SIGKILL');
  });

  it('re-runs the command under a newer Node and keeps its output and exit code', async () => {
    const help = await runCli(['sync', '--help'], { NODE_OPTIONS: OLDER_NODE });
    expect(help.exitCode, help.stderr).toBe(0);
    expect(help.stdout).toContain('--once');
    const usage = await runCli(['sync'], { NODE_OPTIONS: OLDER_NODE });
    expect(usage.exitCode).toBe(2);
    expect(usage.stderr).toContain("required option '--once' not specified");
  });

  it('passes SIGTERM on to the command it re-ran, and exits as it does', async () => {
    child = spawn(BIN, ['simulate', '--port', '0'], {
      env: {
        PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}`,
        HOME: process.env.HOME ?? '',
        LOG_LEVEL: 'warn',
        NODE_OPTIONS: OLDER_NODE,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    child.stdout?.on('data', (chunk) => {
      stdout += String(chunk);
    });
    const url = await waitFor('the simulator URL', () => /listening on (http:\/\/\S+)/.exec(stdout)?.[1], {
      timeoutMs: 20_000,
    });
    expect((await fetch(`${url}/_admin/regions`)).status).toBe(200);
    const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child?.once('exit', (code, signal) => resolve([code, signal])),
    );
    child.kill('SIGTERM');
    // The simulator stops gracefully on SIGTERM (exit 0): had the signal killed only the launcher,
    // the launcher would have died of it instead.
    expect(await exited).toEqual([0, null]);
    // ...and nothing is left listening.
    await waitFor('the simulator to stop', async () => {
      try {
        await fetch(`${url}/_admin/regions`);
        return undefined;
      } catch {
        return true;
      }
    });
  });
});
